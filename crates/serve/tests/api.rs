//! The API in process (tower `oneshot`): every route, every reason code against the
//! conformance scenarios' gold tables, auth, malformed and oversized input, limits, and the
//! hot swap of gold under concurrent requests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use phone_consent_serve::{ApiKeys, AppState, Config, ServedGold, router};
use serde_json::Value;
use tower::ServiceExt;

const KEY: &str = "test-key-0123456789abcdef";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/fixtures/scenarios")
}

/// A scratch folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "phone-consent-serve-{}-{n}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the pipeline on `feed` into `lake`.
async fn run(feed: &Path, lake: &Path) {
    let options = phone_consent_lake::RunOptions {
        data_dir: feed.to_owned(),
        lake: lake.to_owned(),
        threads: 2,
        replace: vec![],
        rebuild: false,
        quality: Default::default(),
    };
    phone_consent_lake::run(&options, &phone_consent_lake::Quiet)
        .await
        .unwrap();
}

/// A server over `lake`, its gold loaded.
async fn server(lake: &Path, config: impl FnOnce(&mut Config)) -> (Router, Arc<ServedGold>) {
    let keys = ApiKeys::from_list(KEY, "test").unwrap();
    let mut c = Config::new(lake, Some(keys));
    config(&mut c);
    let gold = Arc::new(ServedGold::new(lake));
    gold.refresh().await.unwrap();
    (router(AppState::new(c, gold.clone())), gold)
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .body(Body::empty())
        .unwrap()
}

fn post(uri: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap()
}

async fn get_json(app: &Router, uri: &str) -> (StatusCode, Value) {
    let (status, _, body) = send(app, get(uri)).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// A row of a gold table (`expected.csv`) and the decision SEMANTICS §7 gives it, derived
/// here from gold's columns alone.
struct GoldRow {
    account: String,
    phone: String,
    reason: &'static str,
}

fn gold_rows(csv: &Path) -> Vec<GoldRow> {
    let text = std::fs::read_to_string(csv).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let reason = match (f[2], f[3], f[5]) {
                (_, _, "true") => "deleted",
                (source, _, _) if source != "CLIENT" => "not_client_sourced",
                (_, "false", _) => "consent_withdrawn",
                (_, "true", _) => "allowed_explicit_consent",
                _ => "allowed_implicit_consent",
            };
            GoldRow {
                account: f[0].to_owned(),
                phone: f[1].to_owned(),
                reason,
            }
        })
        .collect()
}

fn encode(s: &str) -> String {
    s.replace('+', "%2B")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_answers_its_gold_table_single_and_batch() {
    let mut reasons_seen = std::collections::BTreeSet::new();
    let mut scenarios: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected.csv").is_file())
        .collect();
    scenarios.sort();
    assert_eq!(scenarios.len(), 19);
    for scenario in scenarios {
        let name = scenario.file_name().unwrap().to_str().unwrap().to_owned();
        let scratch = Scratch::new(&name);
        run(&scenario, &scratch.0).await;
        let (app, gold) = server(&scratch.0, |_| {}).await;
        let version = gold.current().unwrap().publication.gold_version;
        let rows = gold_rows(&scenario.join("expected.csv"));
        let mut csv = String::from("account,phone\n");
        for row in &rows {
            let uri = format!(
                "/v1/can-send-sms?account={}&phone={}",
                row.account,
                encode(&row.phone)
            );
            let (status, v) = get_json(&app, &uri).await;
            assert_eq!(status, StatusCode::OK, "{name} {uri}: {v}");
            assert_eq!(v["reason"], row.reason, "{name} {uri}: {v}");
            assert_eq!(
                v["allowed"],
                row.reason.starts_with("allowed"),
                "{name}: {v}"
            );
            assert_eq!(v["account"], row.account.as_str());
            assert_eq!(v["phone"], row.phone.as_str());
            assert_eq!(v["gold_version"], version);
            assert!(
                v["decided_by"]["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with(".gz")),
                "{name}: {v}"
            );
            // The same answer and evidence as `check`, which folds the key's audit trail.
            let check = phone_consent_lake::check(
                &scratch.0,
                &row.account,
                &row.phone,
                None,
                None,
                phone_consent_serve::today(),
            )
            .await
            .unwrap();
            let evidence = check.decision.decided_by.as_ref().unwrap();
            assert_eq!(v["reason"], check.decision.reason.code(), "{name}: {v}");
            assert_eq!(v["decided_by"]["kind"], evidence.kind.name(), "{name}: {v}");
            assert_eq!(
                v["decided_by"]["date"],
                evidence.date.to_string(),
                "{name}: {v}"
            );
            assert_eq!(v["decided_by"]["file"], &*evidence.file, "{name}: {v}");
            assert_eq!(
                v["decided_by"]["line"].as_u64(),
                evidence.line,
                "{name}: {v}"
            );
            reasons_seen.insert(row.reason);
            csv.push_str(&format!("{},{}\n", row.account, row.phone));
        }
        csv.push_str("12x,2125550101\n99999999,2125550199\n");
        let (status, headers, body) =
            send(&app, post("/v1/can-send-sms/batch", "text/csv", csv)).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), rows.len() + 3, "{name}: {body}");
        for (row, line) in rows.iter().zip(&lines[1..]) {
            let expected = format!(
                "{},{},{},{},",
                row.account,
                row.phone,
                row.reason.starts_with("allowed"),
                row.reason
            );
            assert!(line.starts_with(&expected), "{name}: {line} vs {expected}");
        }
        assert!(
            lines[rows.len() + 1].starts_with(",,false,invalid_input,"),
            "{body}"
        );
        assert!(lines[rows.len() + 2].starts_with("99999999,+12125550199,false,unknown_phone,"));
    }
    for reason in [
        "deleted",
        "not_client_sourced",
        "consent_withdrawn",
        "allowed_explicit_consent",
        "allowed_implicit_consent",
    ] {
        assert!(reasons_seen.contains(reason), "no scenario gives {reason}");
    }
}

async fn scenario_server(name: &str, config: impl FnOnce(&mut Config)) -> (Scratch, Router) {
    let scratch = Scratch::new(name);
    run(&fixtures().join(name), &scratch.0).await;
    let (app, _) = server(&scratch.0, config).await;
    (scratch, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_invalid_stale_and_as_of_answers() {
    let (_lake, app) = scenario_server("09-withdrawal-after-last-snapshot", |_| {}).await;
    let (status, v) = get_json(&app, "/v1/can-send-sms?account=1&phone=2125550100").await;
    assert_eq!(
        (status, &v["reason"]),
        (StatusCode::OK, &"unknown_phone".into()),
        "{v}"
    );
    assert_eq!(v["decided_by"], Value::Null);

    let (status, v) = get_json(&app, "/v1/can-send-sms?account=12x&phone=2125550100").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_input", "{v}");
    let (status, v) = get_json(&app, "/v1/can-send-sms?account=1&phone=555").await;
    assert_eq!(
        (status, &v["error"]),
        (StatusCode::BAD_REQUEST, &"invalid_input".into())
    );

    // As of each date the scenario's gold table gives, over HTTP.
    let scenario = fixtures().join("09-withdrawal-after-last-snapshot");
    let mut dated = 0;
    for entry in std::fs::read_dir(&scenario).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(date) = file
            .strip_prefix("expected-as-of-")
            .and_then(|d| d.strip_suffix(".csv"))
        else {
            continue;
        };
        for row in gold_rows(&path) {
            let uri = format!(
                "/v1/can-send-sms?account={}&phone={}&as_of={date}",
                row.account,
                encode(&row.phone)
            );
            let (status, v) = get_json(&app, &uri).await;
            assert_eq!(status, StatusCode::OK, "{v}");
            assert_eq!(v["reason"], row.reason, "{uri}: {v}");
            assert_eq!(v["as_of"], date);
            dated += 1;
        }
    }
    assert!(dated > 0, "the scenario has an as-of table");

    // The data-age policy: the scenario's newest snapshot is years old.
    let (_lake, stale) = scenario_server("12-implicit-consent", |c| {
        c.max_snapshot_age_days = Some(30)
    })
    .await;
    let rows = gold_rows(&fixtures().join("12-implicit-consent/expected.csv"));
    let uri = format!(
        "/v1/can-send-sms?account={}&phone={}",
        rows[0].account,
        encode(&rows[0].phone)
    );
    let (status, v) = get_json(&stale, &uri).await;
    assert_eq!(
        (status, &v["reason"]),
        (StatusCode::OK, &"stale_data".into()),
        "{v}"
    );
    assert_eq!(v["allowed"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_shows_its_state_and_timeline() {
    let name = "02-hard-delete";
    let (_lake, app) = scenario_server(name, |_| {}).await;
    let (status, v) = get_json(&app, "/v1/phones/1000000000000001/(212)%20555-0101").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["reason"], "deleted");
    assert_eq!(v["state"]["delete_type"], "hard_delete");
    assert_eq!(v["state"]["deleted_at"], "2024-03-01");
    let timeline = v["timeline"].as_array().unwrap();
    assert_eq!(timeline.last().unwrap()["kind"], "missing", "{v}");
    assert_eq!(timeline.last().unwrap()["reason"], "deleted");
    assert_eq!(timeline[0]["allowed"], true, "{v}");
    assert!(!v.to_string().contains("ssn"), "no PII: {v}");

    let (status, v) = get_json(&app, "/v1/phones/1000000000000001/2125550199").await;
    assert_eq!(
        (status, &v["error"]),
        (StatusCode::NOT_FOUND, &"unknown_phone".into())
    );
    let (status, v) = get_json(&app, "/v1/phones/abc/2125550101").await;
    assert_eq!(
        (status, &v["error"]),
        (StatusCode::BAD_REQUEST, &"invalid_input".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_v1_route_needs_a_valid_key() {
    let (_lake, app) = scenario_server("12-implicit-consent", |_| {}).await;
    let uris = [
        ("GET", "/v1/can-send-sms?account=1&phone=2125550101"),
        ("POST", "/v1/can-send-sms/batch"),
        ("GET", "/v1/phones/1/2125550101"),
    ];
    for (method, uri) in uris {
        for auth in [None, Some("Bearer wrong-key-0123456789abcdef"), Some(KEY)] {
            let mut request = Request::builder().method(method).uri(uri);
            if let Some(a) = auth {
                request = request.header(header::AUTHORIZATION, a);
            }
            let request = request
                .header(header::CONTENT_TYPE, "text/csv")
                .body(Body::from("1,2125550101\n"))
                .unwrap();
            let (status, headers, body) = send(&app, request).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {uri} {auth:?}: {body}"
            );
            assert_eq!(
                headers[header::WWW_AUTHENTICATE],
                "Bearer realm=\"phone-consent\""
            );
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["error"], "unauthorized");
        }
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("bearer {KEY}"));
        request = request.header(header::CONTENT_TYPE, "text/csv");
        let (status, _, body) =
            send(&app, request.body(Body::from("1,2125550101\n")).unwrap()).await;
        assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {uri}: {body}");
    }
    for open in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let request = Request::get(open).body(Body::empty()).unwrap();
        let (status, _, body) = send(&app, request).await;
        assert_eq!(status, StatusCode::OK, "{open}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_input_is_a_4xx() {
    let (_lake, app) = scenario_server("12-implicit-consent", |c| c.max_batch_bytes = 1024).await;
    let cases = [
        (
            "/v1/can-send-sms",
            StatusCode::BAD_REQUEST,
            "missing_parameter",
        ),
        (
            "/v1/can-send-sms?account=1",
            StatusCode::BAD_REQUEST,
            "missing_parameter",
        ),
        (
            "/v1/can-send-sms?account=1&phone=2125550101&as_of=2024-13-01",
            StatusCode::BAD_REQUEST,
            "invalid_date",
        ),
        ("/v1/nothing-here", StatusCode::NOT_FOUND, "not_found"),
    ];
    for (uri, status, code) in cases {
        let (got, v) = get_json(&app, uri).await;
        assert_eq!((got, &v["error"]), (status, &code.into()), "{uri}: {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let batch = "/v1/can-send-sms/batch";
    let (status, _, body) = send(&app, post(batch, "text/plain", "1,2125550101")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let (status, _, body) = send(&app, post(batch, "text/csv", "1,2125550101\n1;2\n")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("line 2"), "{body}");
    let (status, _, body) = send(&app, post(batch, "application/json", "[{\"account\":")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let big = "1,2125550101\n".repeat(100);
    let (status, _, body) = send(&app, post(batch, "text/csv", big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("1024 bytes"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_formats_answer_in_their_own_format_and_order() {
    let (_lake, app) = scenario_server("02-hard-delete", |_| {}).await;
    let batch = "/v1/can-send-sms/batch";
    let json = r#"[{"account":"1000000000000001","phone":"+1 (212) 555-0101"},
                   {"account":1000000000000001,"phone":"3125550102"},
                   {"account":"x","phone":"3125550102"}]"#;
    let (status, headers, body) = send(&app, post(batch, "application/json", json)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let v: Value = serde_json::from_str(&body).unwrap();
    let reasons: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["deleted", "allowed_implicit_consent", "invalid_input"]
    );

    let ndjson = "{\"account\":\"1000000000000001\",\"phone\":\"2125550101\"}\n{\"account\":\"1000000000000001\",\"phone\":\"3125550102\"}\n";
    let (status, headers, body) = send(&app, post(batch, "application/x-ndjson", ndjson)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-ndjson");
    let reasons: Vec<String> = body
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(reasons, ["deleted", "allowed_implicit_consent"]);

    let (status, _, body) = send(&app, post(batch, "application/json", "[]")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "[]"));

    // More than one chunk: order is kept across chunks.
    let mut csv = String::new();
    for i in 0..20_000u32 {
        let phone = if i % 2 == 0 {
            "2125550101"
        } else {
            "3125550102"
        };
        csv.push_str(&format!("1000000000000001,{phone}\n"));
    }
    let app = {
        let (_, app) = (0, app);
        app
    };
    let big = Request::post(batch)
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(csv))
        .unwrap();
    let (status, _, body) = send(&app, big).await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<&str> = body.lines().skip(1).collect();
    assert_eq!(lines.len(), 20_000);
    for (i, line) in lines.iter().enumerate() {
        let reason = if i % 2 == 0 {
            ",deleted,"
        } else {
            ",allowed_implicit_consent,"
        };
        assert!(line.contains(reason), "line {i}: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturation_and_not_ready_are_503_with_retry_after() {
    let (_lake, app) = scenario_server("12-implicit-consent", |c| c.max_in_flight = 0).await;
    let (status, headers, body) =
        send(&app, get("/v1/can-send-sms?account=1&phone=2125550101")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert!(body.contains("overloaded"));

    let empty = Scratch::new("empty-lake");
    let gold = Arc::new(ServedGold::new(&empty.0));
    assert_eq!(gold.refresh().await.unwrap(), None);
    let keys = ApiKeys::from_list(KEY, "test").unwrap();
    let app = router(AppState::new(Config::new(&empty.0, Some(keys)), gold));
    let (status, headers, body) =
        send(&app, get("/v1/can-send-sms?account=1&phone=2125550101")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(headers.contains_key(header::RETRY_AFTER));
    let (status, _, body) = send(&app, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_and_decisions() {
    let (_lake, app) = scenario_server("02-hard-delete", |_| {}).await;
    for _ in 0..3 {
        get_json(
            &app,
            "/v1/can-send-sms?account=1000000000000001&phone=2125550101",
        )
        .await;
    }
    get_json(&app, "/v1/can-send-sms?account=x&phone=2125550101").await;
    let (status, headers, text) = send(&app, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    for line in [
        "phone_consent_http_requests_total{route=\"/v1/can-send-sms\",status=\"200\"} 3",
        "phone_consent_http_requests_total{route=\"/v1/can-send-sms\",status=\"400\"} 1",
        "phone_consent_http_request_duration_seconds_count{route=\"/v1/can-send-sms\",status=\"200\"} 3",
        "phone_consent_decisions_total{reason=\"deleted\"} 3",
        "phone_consent_decisions_total{reason=\"invalid_input\"} 1",
        "phone_consent_gold_keys 2",
        "phone_consent_gold_loads_total{result=\"ok\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert!(
        text.contains("phone_consent_gold_version 0")
            || text.contains("phone_consent_gold_version ")
    );
    assert!(!text.contains("1000000000000001"), "no key in metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route() {
    let (_lake, app) = scenario_server("12-implicit-consent", |_| {}).await;
    let (status, v) = get_json(&app, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["openapi"], "3.1.0");
    let paths: Vec<&str> = v["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(paths.len(), phone_consent_serve::ROUTES.len(), "{paths:?}");
    for route in phone_consent_serve::ROUTES {
        assert!(paths.contains(&route), "{route} is not documented");
    }
    let reasons = v["components"]["schemas"]["Reason"]["enum"]
        .as_array()
        .unwrap();
    let codes: Vec<&str> = phone_consent_core::Reason::ALL
        .iter()
        .map(|r| r.code())
        .collect();
    assert_eq!(
        reasons
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect::<Vec<_>>(),
        codes
    );
}

/// Copies the scenario's files dated up to `last` (a file's name carries its date) into `feed`.
fn copy_feed(scenario: &Path, feed: &Path, up_to: &str) {
    for entry in std::fs::read_dir(scenario).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let target = feed.join(dir.file_name().unwrap());
        std::fs::create_dir_all(&target).unwrap();
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_name().unwrap().to_str().unwrap();
            if name
                .split('-')
                .nth(1)
                .is_some_and(|stamp| &stamp[..8] <= up_to)
            {
                std::fs::copy(&file, target.join(name)).unwrap();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gold_is_swapped_under_concurrent_requests_without_a_failure() {
    let scenario = fixtures().join("02-hard-delete");
    let scratch = Scratch::new("hot-swap");
    let (feed, lake) = (scratch.0.join("feed"), scratch.0.join("lake"));
    copy_feed(&scenario, &feed, "20240201");
    run(&feed, &lake).await;
    let (app, gold) = server(&lake, |_| {}).await;
    let before = gold.current().unwrap().publication.gold_version;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (app, stop) = (app.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, v) = get_json(
                    &app,
                    "/v1/can-send-sms?account=1000000000000001&phone=2125550101",
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{v}");
                answers.push((
                    v["gold_version"].as_i64().unwrap(),
                    v["reason"].as_str().unwrap().to_owned(),
                ));
                tokio::task::yield_now().await;
            }
            answers
        }));
    }
    // The third snapshot arrives: the phone is hard-deleted by it.
    copy_feed(&scenario, &feed, "20240301");
    run(&feed, &lake).await;
    let swapped = gold.refresh().await.unwrap().expect("a newer version");
    assert!(swapped > before);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    for client in clients {
        for (version, reason) in client.await.unwrap() {
            let expected = if version == before {
                "allowed_implicit_consent"
            } else {
                "deleted"
            };
            assert!(version == before || version == swapped, "version {version}");
            assert_eq!(reason, expected, "version {version} answered {reason}");
            seen.insert(version);
        }
    }
    assert_eq!(
        seen.len(),
        2,
        "requests were answered by both versions: {seen:?}"
    );
    let (_, v) = get_json(&app, "/readyz").await;
    assert_eq!(v["gold_version"], swapped);
}
