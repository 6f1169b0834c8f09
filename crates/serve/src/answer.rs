//! The bodies the API answers with: decisions, errors, a phone's state and timeline. Keys,
//! codes, dates and file names only: no PII.

use std::borrow::Borrow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use phone_consent_core::{Date, Decision, Evidence, Key, PhoneState};
use serde::Serialize;

/// A decision as the API returns it.
#[derive(Serialize)]
pub struct DecisionBody<'a> {
    /// TRUE only when texting is allowed.
    pub allowed: bool,
    /// The reason code (SEMANTICS §7).
    pub reason: &'static str,
    /// The normalised account (`null` for input that does not normalise).
    pub account: Option<String>,
    /// The normalised phone, E.164 (`null` for input that does not normalise).
    pub phone: Option<String>,
    /// The date the answer is for (`null`: now).
    pub as_of: Option<String>,
    /// The event that decided it.
    pub decided_by: Option<EvidenceBody<'a>>,
    /// The gold version answered from.
    pub gold_version: i64,
}

impl<'a> DecisionBody<'a> {
    /// The body of `decision` for `key`.
    pub fn new<E: Borrow<Evidence>>(
        key: Option<&Key>,
        decision: &'a Decision<E>,
        as_of: Option<Date>,
        gold_version: i64,
    ) -> Self {
        DecisionBody {
            allowed: decision.allowed,
            reason: decision.reason.code(),
            account: key.map(|k| k.account.to_string()),
            phone: key.map(|k| k.phone.to_string()),
            as_of: as_of.map(|d| d.to_string()),
            decided_by: decision.evidence().map(EvidenceBody::new),
            gold_version,
        }
    }
}

/// The event behind an answer.
#[derive(Serialize)]
pub struct EvidenceBody<'a> {
    /// `enrolled`, `observed`, `changed`, `soft_deleted` or `missing`.
    pub kind: &'static str,
    /// The event's date.
    pub date: String,
    /// The feed file that carried it.
    pub file: &'a str,
    /// Its line in that file (`null` for `missing` and mid-run snapshot events).
    pub line: Option<u64>,
}

impl<'a> EvidenceBody<'a> {
    /// The body of `e`.
    pub fn new(e: &'a Evidence) -> Self {
        EvidenceBody {
            kind: e.kind.name(),
            date: e.date.to_string(),
            file: &e.file,
            line: e.line,
        }
    }
}

/// A key's state: gold's columns and the snapshots that carried it.
#[derive(Serialize)]
pub struct StateBody {
    phone_source: String,
    has_sms_consent: Option<bool>,
    sms_consent_updated_at: Option<String>,
    is_deleted: bool,
    delete_type: Option<&'static str>,
    deleted_at: Option<String>,
    first_seen_at: Option<String>,
    last_seen_at: Option<String>,
    last_event_at: String,
}

impl StateBody {
    /// The body of `s`.
    pub fn new(s: &PhoneState) -> Self {
        let date = |d: Option<Date>| d.map(|d| d.to_string());
        StateBody {
            phone_source: s.attributes.source().to_owned(),
            has_sms_consent: s.consent.map(|c| c.consent),
            sms_consent_updated_at: date(s.consent.map(|c| c.date)),
            is_deleted: s.is_deleted(),
            delete_type: s.deletion.as_ref().map(|d| d.kind.code()),
            deleted_at: date(s.deletion.as_ref().map(|d| d.at)),
            first_seen_at: date(s.first_seen_at),
            last_seen_at: date(s.last_seen_at),
            last_event_at: s.last_event_at.to_string(),
        }
    }
}

/// Appends `d` as one CSV line (`account,phone,allowed,reason,decided_by_kind,
/// decided_by_date,decided_by_file,decided_by_line,gold_version`).
pub fn push_csv<E: Borrow<Evidence>>(
    out: &mut Vec<u8>,
    key: Option<&Key>,
    d: &Decision<E>,
    gold_version: i64,
) {
    if let Some(k) = key {
        out.extend_from_slice(k.account.text().as_bytes());
        out.extend_from_slice(b",+1");
        push_digits(out, k.phone.national(), 10);
    } else {
        out.push(b',');
    }
    out.extend_from_slice(if d.allowed { b",true," } else { b",false," });
    out.extend_from_slice(d.reason.code().as_bytes());
    out.push(b',');
    if let Some(e) = d.evidence() {
        out.extend_from_slice(e.kind.name().as_bytes());
        out.push(b',');
        push_date(out, e.date);
        out.push(b',');
        push_csv_field(out, &e.file);
        out.push(b',');
        if let Some(line) = e.line {
            push_digits(out, line, 1);
        }
    } else {
        out.extend_from_slice(b",,,");
    }
    out.push(b',');
    if gold_version < 0 {
        out.push(b'-');
    }
    push_digits(out, gold_version.unsigned_abs(), 1);
    out.push(b'\n');
}

/// The header of [`push_csv`]'s lines.
pub const CSV_HEADER: &str = "account,phone,allowed,reason,decided_by_kind,decided_by_date,\
                              decided_by_file,decided_by_line,gold_version\n";

fn push_csv_field(out: &mut Vec<u8>, value: &str) {
    if value.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(value.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(value.as_bytes());
    }
}

/// `n` in decimal, zero-padded to at least `width` digits.
fn push_digits(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut start = buf.len();
    while n > 0 {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&buf[(buf.len() - width.max(buf.len() - start))..]);
}

/// `date` as `YYYY-MM-DD`.
fn push_date(out: &mut Vec<u8>, date: Date) {
    let (y, m, d) = date.ymd();
    if y < 0 {
        out.push(b'-');
    }
    push_digits(out, u64::from(y.unsigned_abs()), 4);
    out.push(b'-');
    push_digits(out, u64::from(m), 2);
    out.push(b'-');
    push_digits(out, u64::from(d), 2);
}

/// An error answer: a status, a stable code and a message that says what to fix.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable code (`invalid_input`, `unauthorized`, …).
    pub code: &'static str,
    /// What went wrong and how to fix it.
    pub message: String,
    /// Seconds to wait before retrying (503 only).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: u32) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: &self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"phone-consent\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use phone_consent_core::{EventKind, Reason};

    use super::*;

    fn csv_line(key: Option<&Key>, d: &Decision, gold_version: i64) -> String {
        let mut out = Vec::new();
        push_csv(&mut out, key, d, gold_version);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_lines_carry_every_column_in_order() {
        let key = Key::parse_input("000123", "(212) 555-0101").unwrap();
        let decision = Decision {
            allowed: false,
            reason: Reason::ConsentWithdrawn,
            decided_by: Some(Evidence {
                kind: EventKind::Changed,
                date: Date::from_ymd(2024, 3, 7).unwrap(),
                file: "MAINTENANCE/a,\"b\".txt".into(),
                line: Some(0),
            }),
        };
        assert_eq!(
            csv_line(Some(&key), &decision, 12),
            "000123,+12125550101,false,consent_withdrawn,changed,2024-03-07,\
             \"MAINTENANCE/a,\"\"b\"\".txt\",0,12\n"
        );
        let unknown = Decision {
            allowed: false,
            reason: Reason::InvalidInput,
            decided_by: None,
        };
        assert_eq!(
            csv_line(None, &unknown, 1_234_567),
            ",,false,invalid_input,,,,,1234567\n"
        );
        assert_eq!(
            CSV_HEADER.trim_end().split(',').count(),
            csv_line(None, &unknown, 0).trim_end().split(',').count()
        );
    }
}
