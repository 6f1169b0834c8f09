//! The in-process cost of one decision: `Decisions::can_send_sms` on raw input (normalise,
//! look up, decide), and the whole `/v1/can-send-sms` handler through the router (no
//! network). Lake: `PHONE_CONSENT_BENCH_LAKE`, or one built here from a generated feed of
//! 2,000 accounts.
//!
//! `cargo build --workspace --all-targets`, then run the newest
//! `$CARGO_TARGET_DIR/debug/deps/decision-*` executable with `--bench` (`cargo bench` builds
//! another profile of datafusion: about 25 minutes on 2 cores).

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, header};
use criterion::{Criterion, criterion_group, criterion_main};
use phone_consent_serve::{ApiKeys, AppState, Config, ServedGold, router, today};
use tower::ServiceExt;

const KEY: &str = "bench-key-0123456789abcdef";

fn lake(runtime: &tokio::runtime::Runtime) -> PathBuf {
    if let Some(lake) = std::env::var_os("PHONE_CONSENT_BENCH_LAKE") {
        return lake.into();
    }
    let root = std::env::temp_dir().join(format!("phone-consent-bench-{}", std::process::id()));
    let (feed, lake) = (root.join("feed"), root.join("lake"));
    let options = phone_consent_feed::generate::GenerateOptions {
        accounts: 2_000,
        seed: 1,
    };
    phone_consent_feed::generate::generate(&feed, &options).expect("a generated feed");
    let run = phone_consent_lake::RunOptions {
        data_dir: feed,
        lake: lake.clone(),
        threads: 2,
        replace: vec![],
        rebuild: false,
        quality: Default::default(),
    };
    runtime
        .block_on(phone_consent_lake::run(&run, &phone_consent_lake::Quiet))
        .expect("a lake");
    lake
}

fn decision(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let lake = lake(&runtime);
    let gold = Arc::new(ServedGold::new(&lake));
    runtime.block_on(gold.refresh()).expect("gold loads");
    let decisions = gold.current().expect("a gold version");
    let key = decisions.keys().next().expect("a key").clone();
    let (account, phone) = (key.account.to_string(), key.phone.to_string());
    let day = today();
    c.bench_function(
        "Decisions::can_send_sms (normalise, look up, decide)",
        |b| b.iter(|| decisions.can_send_sms(&account, &phone, None, day)),
    );

    let keys = ApiKeys::from_list(KEY, "bench").unwrap();
    let app = router(AppState::new(Config::new(&lake, Some(keys)), gold.clone()));
    let uri = format!(
        "/v1/can-send-sms?account={account}&phone={}",
        phone.replace('+', "%2B")
    );
    c.bench_function(
        "GET /v1/can-send-sms through the router (no network)",
        |b| {
            b.to_async(&runtime).iter(|| {
                let request = Request::get(&uri)
                    .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
                    .body(Body::empty())
                    .unwrap();
                let app = app.clone();
                async move {
                    let response = app.oneshot(request).await.unwrap();
                    assert!(response.status().is_success());
                    axum::body::to_bytes(response.into_body(), usize::MAX)
                        .await
                        .unwrap()
                }
            })
        },
    );
}

criterion_group!(benches, decision);
criterion_main!(benches);
