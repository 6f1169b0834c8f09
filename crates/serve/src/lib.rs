//! The HTTP API of phone-consent: `can_send_sms` from the served gold version, single and
//! batch, a phone's state and timeline, health, metrics and the OpenAPI document. Every
//! `/v1` route needs a bearer API key.
#![warn(missing_docs)]

pub mod answer;
pub mod auth;
pub mod batch;
pub mod metrics;
pub mod routes;
pub mod served_gold;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use tokio::sync::Semaphore;

pub use answer::ApiError;
pub use auth::{ApiKeys, KeysError};
pub use metrics::Metrics;
pub use phone_consent_lake::today;
pub use served_gold::ServedGold;

/// How the server answers.
#[derive(Clone, Debug)]
pub struct Config {
    /// The lake served.
    pub lake: PathBuf,
    /// The accepted API keys; `None` serves without authentication (`--insecure-no-auth`).
    pub keys: Option<ApiKeys>,
    /// The data-age policy (SEMANTICS §7 `stale_data`), in days.
    pub max_snapshot_age_days: Option<u32>,
    /// `/v1` requests answered at once; more are refused with 503 and `Retry-After`.
    pub max_in_flight: usize,
    /// Batches answered at once; more are refused with 503 and `Retry-After`.
    pub max_batches_in_flight: usize,
    /// The longest a `/v1` request may take before it is answered with 503.
    pub request_timeout: Duration,
    /// The largest batch body, in bytes.
    pub max_batch_bytes: usize,
}

impl Config {
    /// The defaults, serving `lake` with `keys`.
    pub fn new(lake: impl Into<PathBuf>, keys: Option<ApiKeys>) -> Self {
        Config {
            lake: lake.into(),
            keys,
            max_snapshot_age_days: None,
            max_in_flight: 1024,
            max_batches_in_flight: 2,
            request_timeout: Duration::from_secs(30),
            max_batch_bytes: 64 << 20,
        }
    }
}

/// The server's shared state.
pub struct AppState {
    /// How it answers.
    pub config: Config,
    /// The gold version served.
    pub gold: Arc<ServedGold>,
    /// Its counters.
    pub metrics: Arc<Metrics>,
    in_flight: Arc<Semaphore>,
    batch_slots: Arc<Semaphore>,
}

/// The state every handler gets.
pub type App = Arc<AppState>;

impl AppState {
    /// The state of a server with `config`, answering from `gold`.
    pub fn new(config: Config, gold: Arc<ServedGold>) -> App {
        Arc::new(AppState {
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            batch_slots: Arc::new(Semaphore::new(config.max_batches_in_flight)),
            config,
            gold,
            metrics: Arc::new(Metrics::default()),
        })
    }
}

/// Every route, with authentication, limits, metrics and access logs.
pub fn router(app: App) -> Router {
    let v1 = Router::new()
        .route("/v1/can-send-sms", get(routes::can_send_sms))
        .route(
            "/v1/can-send-sms/batch",
            post(routes::can_send_sms_batch)
                .layer(DefaultBodyLimit::max(app.config.max_batch_bytes)),
        )
        .route("/v1/phones/{account}/{phone}", get(routes::phone))
        .route_layer(middleware::from_fn_with_state(app.clone(), limit))
        .route_layer(middleware::from_fn_with_state(app.clone(), authenticate));
    Router::new()
        .merge(v1)
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .route("/openapi.json", get(routes::openapi))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), track))
        .with_state(app)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; the routes are listed in /openapi.json",
    )
}

/// Counts and times every request, and writes its access log line (route template, status,
/// time: never the path or query, which carry account and phone numbers).
async fn track(State(app): State<App>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| route_name(p.as_str()));
    let method = request.method().clone();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    app.metrics.record_request(route, status, elapsed);
    tracing::info!(
        target: "phone_consent_serve::access",
        method = %method,
        route,
        status,
        micros = elapsed.as_micros() as u64,
    );
    response
}

/// Every route's template, as `/openapi.json` documents it.
pub const ROUTES: [&str; 7] = [
    "/v1/can-send-sms",
    "/v1/can-send-sms/batch",
    "/v1/phones/{account}/{phone}",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
];

/// The static name of a route template.
fn route_name(template: &str) -> &'static str {
    ROUTES
        .into_iter()
        .find(|r| *r == template)
        .unwrap_or("unmatched")
}

/// Refuses a `/v1` request without a valid bearer key.
async fn authenticate(State(app): State<App>, request: Request, next: Next) -> Response {
    let Some(keys) = &app.config.keys else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    match presented {
        Some(token) if keys.accepts(token) => next.run(request).await,
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the API key is not valid",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send an API key: Authorization: Bearer <key>",
        )
        .into_response(),
    }
}

/// The concurrency and time limits of `/v1`: 503 with `Retry-After` when saturated or late.
async fn limit(State(app): State<App>, request: Request, next: Next) -> Response {
    let Ok(_slot) = app.in_flight.clone().try_acquire_owned() else {
        return ApiError::unavailable(
            "overloaded",
            "the server is answering as many requests as it may; retry shortly",
            1,
        )
        .into_response();
    };
    match tokio::time::timeout(app.config.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::unavailable(
            "timeout",
            format!(
                "the request took longer than {} s",
                app.config.request_timeout.as_secs_f64()
            ),
            1,
        )
        .into_response(),
    }
}

/// Serves `config` on `listener` until Ctrl-C or SIGTERM, polling the lake for a newer gold
/// version every `poll`.
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    poll: Duration,
) -> std::io::Result<()> {
    let gold = Arc::new(ServedGold::new(config.lake.clone()));
    if let Err(e) = gold.refresh().await {
        tracing::error!(error = %e, "could not load gold; not ready until a version loads");
    }
    if gold.current().is_none() {
        tracing::warn!(lake = %config.lake.display(), "no gold version served yet; /readyz says so");
    }
    let watcher = tokio::spawn(gold.clone().watch(poll));
    let app = AppState::new(config, gold);
    // Small answers go out at once: without TCP_NODELAY, Nagle's algorithm and delayed
    // ACKs hold some of them for tens of milliseconds.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let result = axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown())
        .await;
    watcher.abort();
    result
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing the requests in flight");
}
