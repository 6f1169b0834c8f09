//! `phone-consent check`: one decision, its reason and evidence.

use std::path::Path;

use anyhow::Result;
use phone_consent_core::{Date, Event, Evidence, PhoneState};
use phone_consent_lake::quality::Coverage;
use phone_consent_lake::{CheckAnswer, today};
use serde_json::{Value, json};

/// How to answer.
pub struct CheckOptions {
    /// Answer as of this date.
    pub as_of: Option<Date>,
    /// List the events.
    pub explain: bool,
    /// Print JSON.
    pub json: bool,
    /// The data-age policy, in days.
    pub max_snapshot_age: Option<u32>,
    /// Answer as this gold version said.
    pub gold_version: Option<i64>,
}

/// Answers one check from the lake.
pub async fn check(lake: &Path, account: &str, phone: &str, o: CheckOptions) -> Result<()> {
    crate::require_lake(lake)?;
    let answer = match o.gold_version {
        Some(version) => {
            phone_consent_lake::check_gold_version(lake, account, phone, version).await?
        }
        None => {
            phone_consent_lake::check(lake, account, phone, o.as_of, o.max_snapshot_age, today())
                .await?
        }
    };
    let runs = phone_consent_lake::runs::load(lake).await?;
    let run = match o.gold_version {
        Some(v) => runs.iter().rev().find(|r| r.gold_version == Some(v)),
        None => runs.last(),
    };
    let coverage = run.map(|r| Coverage {
        feed_date: r.feed_date,
        newest_snapshot: r.newest_snapshot,
        snapshot_age_days: r.snapshot_age_days,
        uncovered_days: r.uncovered_days,
    });
    if o.json {
        let mut v = to_json(&answer, o.as_of, o.explain);
        if let Some(version) = o.gold_version {
            v["gold_version"] = version.into();
        }
        if let Some(c) = &coverage {
            let mut c_json = crate::run::coverage_json(c);
            c_json["days_since_newest_snapshot"] = json!(
                c.newest_snapshot
                    .map(|s| i64::from(today().days() - s.days()))
            );
            v["coverage"] = c_json;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_text(&answer, o.as_of, o.explain);
        if let Some(version) = o.gold_version {
            println!("  as published in gold version {version} (gold keeps no events)");
        }
        if let Some(Coverage {
            newest_snapshot: Some(snapshot),
            feed_date: Some(feed),
            uncovered_days,
            ..
        }) = coverage
        {
            println!(
                "  data: newest snapshot {snapshot} ({} days ago); of the days after it up to \
                 the newest file ({feed}), {} are covered by no change file",
                today().days() - snapshot.days(),
                uncovered_days.unwrap_or(0)
            );
        }
    }
    Ok(())
}

/// A state's gold columns as JSON.
pub fn state_json(s: &PhoneState) -> Value {
    json!({
        "phone_source": s.attributes.source(),
        "has_sms_consent": s.consent.map(|c| c.consent),
        "sms_consent_updated_at": s.consent.map(|c| c.date.to_string()),
        "is_deleted": s.is_deleted(),
        "delete_type": s.deletion.as_ref().map(|d| d.kind.code()),
        "deleted_at": s.deletion.as_ref().map(|d| d.at.to_string()),
    })
}

fn evidence_json(e: &Evidence) -> Value {
    json!({ "kind": e.kind.name(), "date": e.date.to_string(), "file": &*e.file, "line": e.line })
}

fn event_json(e: &Event) -> Value {
    json!({
        "kind": e.kind.name(),
        "date": e.date.to_string(),
        "last_date": (e.last_date != e.date).then(|| e.last_date.to_string()),
        "file_date": e.file_date.to_string(),
        "file": &*e.provenance.file,
        "line": e.provenance.line,
        "phone_source": e.attributes.source(),
        "consent": e.consent.map(|c| if c.consent { "Y" } else { "N" }),
        "consent_date": e.consent.map(|c| c.date.to_string()),
    })
}

/// The JSON answer (no PII: keys, codes, dates and file names only).
pub fn to_json(a: &CheckAnswer, as_of: Option<Date>, explain: bool) -> Value {
    let mut v = json!({
        "allowed": a.decision.allowed,
        "reason": a.decision.reason.code(),
        "account": a.key.as_ref().map(|k| k.account.to_string()),
        "phone": a.key.as_ref().map(|k| k.phone.to_string()),
        "as_of": as_of.map(|d| d.to_string()),
        "decided_by": a.decision.decided_by.as_ref().map(evidence_json),
    });
    if let Some(s) = &a.state {
        let mut state = state_json(s);
        state["last_seen_at"] = json!(s.last_seen_at.map(|d| d.to_string()));
        v["state"] = state;
    }
    if explain {
        let mut events: Vec<Value> = a.events.iter().map(event_json).collect();
        if let Some(s) = &a.state {
            events.extend(
                s.missing_at
                    .iter()
                    .map(|d| json!({ "kind": "missing", "date": d.to_string() })),
            );
        }
        v["events"] = Value::Array(events);
    }
    v
}

fn print_text(a: &CheckAnswer, as_of: Option<Date>, explain: bool) {
    let verdict = if a.decision.allowed { "ALLOW" } else { "DENY" };
    let when = as_of.map(|d| format!(" as of {d}")).unwrap_or_default();
    match &a.key {
        Some(k) => println!(
            "{verdict} {}  account {} phone {}{when}",
            a.decision.reason, k.account, k.phone
        ),
        None => println!(
            "{verdict} {}  (the account must be digits; the phone a 10-digit US number)",
            a.decision.reason
        ),
    }
    if let Some(e) = &a.decision.decided_by {
        let line = e.line.map(|l| format!(" line {l}")).unwrap_or_default();
        println!(
            "  decided by: {} {} in {}{line}",
            e.kind.name(),
            e.date,
            e.file
        );
    }
    if let Some(s) = &a.state {
        let consent = match s.consent {
            Some(c) => format!(
                "{} since {}",
                if c.consent { "TRUE" } else { "FALSE" },
                c.date
            ),
            None => "NULL (implicit)".into(),
        };
        let deleted = match &s.deletion {
            Some(d) => format!("{} at {}", d.kind.code(), d.at),
            None => "no".into(),
        };
        println!(
            "  source {}  consent {consent}  deleted {deleted}",
            s.attributes.source()
        );
    }
    if explain {
        println!("  events{when}:");
        let mut lines: Vec<(Date, u8, String)> = a
            .events
            .iter()
            .map(|e| {
                let dates = if e.last_date != e.date {
                    format!("{}..{}", e.date, e.last_date)
                } else {
                    e.date.to_string()
                };
                let consent = e
                    .consent
                    .map(|c| format!(" consent {}@{}", if c.consent { "Y" } else { "N" }, c.date))
                    .unwrap_or_default();
                (
                    e.date,
                    e.kind.same_date_rank(),
                    format!(
                        "    {:<12} {:<22} source {}{consent}  {}:{}",
                        e.kind.name(),
                        dates,
                        e.attributes.source(),
                        e.provenance.file,
                        e.provenance.line
                    ),
                )
            })
            .collect();
        if let Some(s) = &a.state {
            lines.extend(s.missing_at.iter().map(|d| {
                (
                    *d,
                    1,
                    format!(
                        "    {:<12} {:<22} (no row of the snapshot carries it)",
                        "missing", d
                    ),
                )
            }));
            for c in &s.changes_after_delete {
                lines.push((
                    c.date,
                    2,
                    format!(
                        "    {:<12} {:<22} change record after a delete: does not re-add",
                        "", c.date
                    ),
                ));
            }
        }
        lines.sort_by_key(|l| (l.0, l.1));
        for (_, _, l) in lines {
            println!("{l}");
        }
    }
}
