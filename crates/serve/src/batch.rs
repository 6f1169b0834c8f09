//! `POST /v1/can-send-sms/batch`: pairs in as a JSON array, NDJSON or CSV; decisions out in
//! the same format and order, streamed as they are decided.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use bytes::Bytes;
use phone_consent_core::{Date, Reason};
use phone_consent_lake::served::Decisions;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::answer::{ApiError, CSV_HEADER, DecisionBody, push_csv};
use crate::metrics::{Metrics, reason_index};

/// The most pairs one request may carry.
pub const MAX_PAIRS: usize = 1_000_000;

/// Decisions rendered per streamed chunk.
const CHUNK: usize = 8192;

/// A batch's format, in and out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A JSON array of `{"account","phone"}` objects; out: a JSON array of decisions.
    Json,
    /// One `{"account","phone"}` object per line; out: one decision per line.
    Ndjson,
    /// `account,phone` lines (a header line `account,phone` is optional); out: CSV with a
    /// header.
    Csv,
}

impl Format {
    /// The format of a request's `Content-Type`.
    pub fn of_content_type(content_type: Option<&str>) -> Result<Self, ApiError> {
        let essence = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase());
        match essence.as_deref() {
            Some("application/json") => Ok(Format::Json),
            Some("application/x-ndjson" | "application/ndjson" | "application/jsonl") => {
                Ok(Format::Ndjson)
            }
            Some("text/csv") => Ok(Format::Csv),
            other => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "Content-Type {} is not a batch format: send application/json (an array \
                     of {{\"account\",\"phone\"}} objects), application/x-ndjson or text/csv \
                     (account,phone lines)",
                    other.unwrap_or("(none)")
                ),
            )),
        }
    }

    /// The `Content-Type` of the answer.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// One pair of a batch, as sent.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct Pair<'a> {
    /// The account, as sent.
    #[serde(borrow)]
    pub account: Text<'a>,
    /// The phone, as sent.
    #[serde(borrow)]
    pub phone: Text<'a>,
}

/// A string or a number, as text.
#[derive(Debug, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a non-negative integer")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(TextVisitor)
    }
}

/// The pairs of a body. Errors name the line (NDJSON, CSV) or position (JSON) at fault.
pub fn parse(format: Format, body: &[u8]) -> Result<Vec<Pair<'_>>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ApiError::bad_request(
            "malformed_batch",
            format!("the body is not UTF-8 (byte {})", e.valid_up_to()),
        )
    })?;
    let pairs = match format {
        Format::Json => serde_json::from_str::<Vec<Pair>>(text).map_err(|e| {
            ApiError::bad_request(
                "malformed_batch",
                format!(
                    "line {} column {}: {e}; expected a JSON array of \
                     {{\"account\": …, \"phone\": …}} objects",
                    e.line(),
                    e.column()
                ),
            )
        })?,
        Format::Ndjson => {
            let mut pairs = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                too_many(pairs.len())?;
                let pair = serde_json::from_str::<Pair>(line).map_err(|e| {
                    ApiError::bad_request(
                        "malformed_batch",
                        format!(
                            "line {}: {e}; expected one {{\"account\": …, \"phone\": …}} \
                             object per line",
                            i + 1
                        ),
                    )
                })?;
                pairs.push(pair);
            }
            pairs
        }
        Format::Csv => {
            let mut pairs = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let line = line.trim_end_matches('\r');
                if line.trim().is_empty()
                    || (i == 0 && line.trim().eq_ignore_ascii_case("account,phone"))
                {
                    continue;
                }
                too_many(pairs.len())?;
                let (account, phone) = csv_pair(line).ok_or_else(|| {
                    ApiError::bad_request(
                        "malformed_batch",
                        format!("line {}: expected two fields, account,phone", i + 1),
                    )
                })?;
                pairs.push(Pair {
                    account: Text(account),
                    phone: Text(phone),
                });
            }
            pairs
        }
    };
    too_many(pairs.len().saturating_sub(1))?;
    Ok(pairs)
}

fn too_many(pairs_so_far: usize) -> Result<(), ApiError> {
    if pairs_so_far >= MAX_PAIRS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("a batch carries at most {MAX_PAIRS} pairs; split it"),
        ));
    }
    Ok(())
}

/// The two fields of a CSV line; a field may be double-quoted (`""` is a quote).
fn csv_pair(line: &str) -> Option<(Cow<'_, str>, Cow<'_, str>)> {
    let (first, rest) = csv_field(line)?;
    let rest = rest.strip_prefix(',')?;
    let (second, rest) = csv_field(rest)?;
    rest.is_empty().then_some((first, second))
}

fn csv_field(s: &str) -> Option<(Cow<'_, str>, &str)> {
    let Some(quoted) = s.strip_prefix('"') else {
        let end = s.find(',').unwrap_or(s.len());
        return Some((Cow::Borrowed(&s[..end]), &s[end..]));
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '"' {
            value.push(c);
        } else if quoted[i + 1..].starts_with('"') {
            value.push('"');
            chars.next();
        } else {
            return Some((Cow::Owned(value), &quoted[i + 1..]));
        }
    }
    None
}

/// What every decision of a batch is answered with.
pub struct BatchContext {
    /// The gold version answering.
    pub decisions: Arc<Decisions>,
    /// The data-age policy.
    pub max_snapshot_age_days: Option<u32>,
    /// The date of the answers.
    pub today: Date,
    /// Where decisions are counted.
    pub metrics: Arc<Metrics>,
    /// The batch slot this batch holds until its last chunk is rendered.
    pub slot: tokio::sync::OwnedSemaphorePermit,
}

/// Threads that render a batch's chunks (chunk `i` on thread `i % RENDERERS`).
const RENDERERS: usize = 2;

/// The pairs of a batch, held as spans of its body: no copy but for a quoted CSV field
/// with `""` in it.
struct Pairs {
    body: Bytes,
    /// Two fields per pair: account, phone.
    fields: Vec<Field>,
}

enum Field {
    /// `body[start..end]`.
    Span(u32, u32),
    /// A field that is not a slice of the body.
    Owned(Box<str>),
}

impl Pairs {
    /// Parses `body` whole, so a malformed body is a 400, not a broken stream.
    fn parse(format: Format, body: Bytes) -> Result<Self, ApiError> {
        let base = body.as_ptr() as usize;
        let field = |text: Cow<'_, str>| match text {
            Cow::Borrowed(s) => {
                let start = s.as_ptr() as usize - base;
                // A body is at most a few hundred MiB (the server's limit), far below u32.
                Field::Span(start as u32, (start + s.len()) as u32)
            }
            Cow::Owned(s) => Field::Owned(s.into_boxed_str()),
        };
        let fields = parse(format, &body)?
            .into_iter()
            .flat_map(|p| [field(p.account.0), field(p.phone.0)])
            .collect();
        Ok(Pairs { body, fields })
    }

    fn len(&self) -> usize {
        self.fields.len() / 2
    }

    fn field(&self, i: usize) -> &str {
        match &self.fields[i] {
            // A span of UTF-8 text that `parse` checked, cut at a char boundary.
            Field::Span(start, end) => {
                std::str::from_utf8(&self.body[*start as usize..*end as usize]).unwrap_or("")
            }
            Field::Owned(s) => s,
        }
    }

    /// The `i`th pair: (account, phone) as sent.
    fn pair(&self, i: usize) -> (&str, &str) {
        (self.field(2 * i), self.field(2 * i + 1))
    }
}

/// The answer body: the pairs of `body`, decided chunk by chunk on [`RENDERERS`] blocking
/// threads and sent in order as they are ready (each thread at most two chunks ahead).
/// The body is parsed on a blocking thread too, so a large batch never holds up the
/// threads that answer single checks.
pub async fn answer(format: Format, body: Bytes, ctx: BatchContext) -> Result<Body, ApiError> {
    if body.len() > u32::MAX as usize {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            "a batch body must be under 4 GiB; split it",
        ));
    }
    let pairs = tokio::task::spawn_blocking(move || Pairs::parse(format, body))
        .await
        .map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })??;
    let (pairs, ctx) = (Arc::new(pairs), Arc::new(ctx));
    let count = pairs.len();
    let chunks = count.div_ceil(CHUNK).max(1);
    let mut rendered = Vec::with_capacity(RENDERERS);
    for first_chunk in 0..RENDERERS {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
        let (pairs, ctx) = (pairs.clone(), ctx.clone());
        tokio::task::spawn_blocking(move || {
            for chunk in (first_chunk..chunks).step_by(RENDERERS) {
                let range = chunk * CHUNK..((chunk + 1) * CHUNK).min(count);
                let (first, last) = (range.start == 0, range.end == count);
                let text = render(format, &pairs, range, first, last, &ctx);
                if tx.blocking_send(Bytes::from(text)).is_err() {
                    return; // The client went away.
                }
            }
        });
        rendered.push(rx);
    }
    let stream = futures::stream::unfold((rendered, 0), move |(mut rendered, next)| async move {
        if next >= chunks {
            return None;
        }
        let bytes = rendered[next % RENDERERS].recv().await?;
        Some((Ok::<_, Infallible>(bytes), (rendered, next + 1)))
    });
    Ok(Body::from_stream(stream))
}

fn render(
    format: Format,
    pairs: &Pairs,
    range: std::ops::Range<usize>,
    first: bool,
    last: bool,
    ctx: &BatchContext,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(range.len() * 200 + 64);
    let mut counts = [0u64; Reason::ALL.len()];
    let gold_version = ctx.decisions.publication.gold_version;
    if first {
        match format {
            Format::Json => out.push(b'['),
            Format::Ndjson => {}
            Format::Csv => out.extend_from_slice(CSV_HEADER.as_bytes()),
        }
    }
    for i in range {
        let (account, phone) = pairs.pair(i);
        let (key, decision) =
            ctx.decisions
                .can_send_sms(account, phone, ctx.max_snapshot_age_days, ctx.today);
        counts[reason_index(decision.reason)] += 1;
        match format {
            Format::Json | Format::Ndjson => {
                if format == Format::Json && i > 0 {
                    out.push(b',');
                }
                let body = DecisionBody::new(key.as_ref(), &decision, None, gold_version);
                serde_json::to_writer(&mut out, &body).expect("a decision serialises");
                if format == Format::Ndjson {
                    out.push(b'\n');
                }
            }
            Format::Csv => push_csv(&mut out, key.as_ref(), &decision, gold_version),
        }
    }
    if last && format == Format::Json {
        out.push(b']');
    }
    for (reason, n) in Reason::ALL.iter().zip(counts) {
        if n > 0 {
            ctx.metrics.record_decisions(*reason, n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(format: Format, body: &str) -> Vec<(String, String)> {
        parse(format, body.as_bytes())
            .unwrap()
            .into_iter()
            .map(|p| (p.account.0.into_owned(), p.phone.0.into_owned()))
            .collect()
    }

    #[test]
    fn each_format_reads_the_same_pairs() {
        let expected = vec![
            ("001".to_owned(), "(212) 555-0101".to_owned()),
            ("2".to_owned(), "2125550102".to_owned()),
        ];
        let json =
            r#"[{"account":"001","phone":"(212) 555-0101"},{"account":2,"phone":2125550102}]"#;
        assert_eq!(pairs(Format::Json, json), expected);
        let ndjson = "{\"account\":\"001\",\"phone\":\"(212) 555-0101\"}\n\n{\"account\":\"2\",\"phone\":\"2125550102\"}\n";
        assert_eq!(pairs(Format::Ndjson, ndjson), expected);
        let csv = "account,phone\r\n001,\"(212) 555-0101\"\r\n2,2125550102\r\n";
        assert_eq!(pairs(Format::Csv, csv), expected);
    }

    #[test]
    fn malformed_bodies_name_the_line() {
        let e = parse(Format::Csv, b"1,2125550101\n1;2125550101\n").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("line 2:"), "{}", e.message);
        let e = parse(
            Format::Ndjson,
            b"{\"account\":\"1\",\"phone\":\"2\"}\n{\"account\":1}\n",
        )
        .unwrap_err();
        assert!(e.message.starts_with("line 2:"), "{}", e.message);
        let e = parse(Format::Json, b"{\"account\":\"1\"}").unwrap_err();
        assert!(e.message.contains("JSON array"), "{}", e.message);
        let e = parse(Format::Csv, b"1,\"2125550101\n").unwrap_err();
        assert!(e.message.starts_with("line 1:"), "{}", e.message);
        let e = parse(Format::Json, b"[{\"account\":-1,\"phone\":\"2\"}]").unwrap_err();
        assert!(e.message.contains("non-negative integer"), "{}", e.message);
    }

    #[test]
    fn more_than_the_limit_is_refused() {
        let mut body = String::from("account,phone\n");
        for _ in 0..=MAX_PAIRS {
            body.push_str("1,2125550101\n");
        }
        let e = parse(Format::Csv, body.as_bytes()).unwrap_err();
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
        body.truncate(body.len() - "1,2125550101\n".len());
        assert_eq!(
            parse(Format::Csv, body.as_bytes()).unwrap().len(),
            MAX_PAIRS
        );
    }

    #[test]
    fn content_types_choose_the_format() {
        assert_eq!(
            Format::of_content_type(Some("application/json; charset=utf-8")).unwrap(),
            Format::Json
        );
        assert_eq!(
            Format::of_content_type(Some("TEXT/CSV")).unwrap(),
            Format::Csv
        );
        let e = Format::of_content_type(Some("text/plain")).unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(Format::of_content_type(None).is_err());
    }
}
