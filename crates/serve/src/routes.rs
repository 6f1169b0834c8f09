//! The handlers of every route.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use phone_consent_core::{Date, Key};
use phone_consent_lake::served::Decisions;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::answer::{ApiError, DecisionBody, EvidenceBody, StateBody};
use crate::batch::{self, BatchContext, Format};
use crate::{App, today};

/// What `invalid_input` asks for.
const INPUT_RULES: &str = "the account must be digits (leading zeros are kept) and the phone a \
                           10-digit US number, optionally with +1 or 1 and any punctuation";

/// The parameters of a single check.
#[derive(Deserialize)]
pub struct CheckParams {
    account: Option<String>,
    phone: Option<String>,
    as_of: Option<String>,
}

/// `GET /v1/can-send-sms`.
pub async fn can_send_sms(
    State(app): State<App>,
    params: Result<Query<CheckParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) =
        params.map_err(|e| ApiError::bad_request("malformed_query", e.body_text()))?;
    let (Some(account), Some(phone)) = (params.account, params.phone) else {
        return Err(ApiError::bad_request(
            "missing_parameter",
            "both account and phone are required: /v1/can-send-sms?account=…&phone=…",
        ));
    };
    let as_of = params.as_of.map(|d| parse_date(&d)).transpose()?;
    let decisions = served(&app)?;
    let gold_version = decisions.publication.gold_version;
    let (key, decision) = match as_of {
        None => {
            let policy = app.config.max_snapshot_age_days;
            let (key, decision) = decisions.can_send_sms(&account, &phone, policy, today());
            (key, decision.into_owned())
        }
        Some(date) => {
            let answer = phone_consent_lake::check_at(
                &app.config.lake,
                decisions.publication.sources.silver(),
                &account,
                &phone,
                Some(date),
                app.config.max_snapshot_age_days,
                today(),
            )
            .await
            .map_err(lake_error)?;
            (answer.key, answer.decision)
        }
    };
    app.metrics.record_decisions(decision.reason, 1);
    let Some(key) = key else {
        return Err(ApiError::bad_request(
            "invalid_input",
            format!("invalid_input: {INPUT_RULES}"),
        ));
    };
    let body = DecisionBody::new(Some(&key), &decision, as_of, gold_version);
    Ok(Json(body).into_response())
}

/// `POST /v1/can-send-sms/batch`.
pub async fn can_send_sms_batch(
    State(app): State<App>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let format = Format::of_content_type(content_type)?;
    let body = body.map_err(|e| {
        let status = e.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!(
                "the body is over the {} bytes a batch may have; split it",
                app.config.max_batch_bytes
            )
        } else {
            e.body_text()
        };
        ApiError::new(status, "unreadable_body", message)
    })?;
    let decisions = served(&app)?;
    let Ok(slot) = app.batch_slots.clone().try_acquire_owned() else {
        return Err(ApiError::unavailable(
            "overloaded",
            "too many batches are being answered; retry shortly",
            1,
        ));
    };
    let ctx = BatchContext {
        decisions,
        max_snapshot_age_days: app.config.max_snapshot_age_days,
        today: today(),
        metrics: app.metrics.clone(),
        slot,
    };
    let body: Body = batch::answer(format, body, ctx).await?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

/// A step of a phone's timeline.
#[derive(Serialize)]
struct StepBody<'a> {
    #[serde(flatten)]
    event: EvidenceBody<'a>,
    allowed: bool,
    reason: &'static str,
}

/// `GET /v1/phones/{account}/{phone}`.
pub async fn phone(
    State(app): State<App>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((account, phone)) =
        path.map_err(|e| ApiError::bad_request("malformed_path", e.body_text()))?;
    let decisions = served(&app)?;
    let Some(key) = Key::parse_input(&account, &phone) else {
        return Err(ApiError::bad_request(
            "invalid_input",
            format!("invalid_input: {INPUT_RULES}"),
        ));
    };
    let Some(state) = decisions.state(&key) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_phone",
            format!(
                "gold version {} has no phone {} on account {}",
                decisions.publication.gold_version, key.phone, key.account
            ),
        ));
    };
    let policy = app.config.max_snapshot_age_days;
    let (_, decision) = decisions.can_send_sms(&account, &phone, policy, today());
    let history = phone_consent_lake::history_at(
        &app.config.lake,
        decisions.publication.sources.silver(),
        &account,
        &phone,
        None,
    )
    .await
    .map_err(lake_error)?;
    let timeline: Vec<StepBody> = history
        .steps
        .iter()
        .map(|(step, d)| StepBody {
            event: EvidenceBody::new(&step.event),
            allowed: d.allowed,
            reason: d.reason.code(),
        })
        .collect();
    let body = json!({
        "account": key.account.to_string(),
        "phone": key.phone.to_string(),
        "gold_version": decisions.publication.gold_version,
        "allowed": decision.allowed,
        "reason": decision.reason.code(),
        "decided_by": decision.evidence().map(EvidenceBody::new),
        "state": StateBody::new(state),
        "timeline": timeline,
    });
    Ok(Json(body).into_response())
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: ready once a gold version is loaded.
pub async fn readyz(State(app): State<App>) -> Response {
    match app.gold.current() {
        Some(d) => Json(json!({
            "status": "ready",
            "gold_version": d.publication.gold_version,
            "keys": d.len(),
        }))
        .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "not_ready",
                "message": "no gold version is loaded yet",
            })),
        )
            .into_response(),
    }
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(app): State<App>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(&app.gold),
    )
        .into_response()
}

/// The OpenAPI document.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// `GET /openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

fn served(app: &App) -> Result<Arc<Decisions>, ApiError> {
    app.gold.current().ok_or_else(|| {
        ApiError::unavailable(
            "not_ready",
            "no gold version is loaded yet (see /readyz)",
            5,
        )
    })
}

fn parse_date(text: &str) -> Result<Date, ApiError> {
    Date::parse(text).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_date",
            format!("as_of {text:?} is not a date: use YYYY-MM-DD"),
        )
    })
}

fn lake_error(e: phone_consent_lake::Error) -> ApiError {
    tracing::error!(error = %e, "reading the lake");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "lake_unreadable",
        "the lake could not be read; the error is in the server's log",
    )
}
