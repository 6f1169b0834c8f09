//! `phone-consent history`: a key's timeline — every event, the state and the decision
//! after it — from the audit trail.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use phone_consent_core::{Date, EventKind, PhoneState};
use phone_consent_lake::HistoryAnswer;
use serde_json::{Value, json};

/// Prints one key's timeline as a table or JSON.
pub async fn history(
    lake: &Path,
    account: &str,
    phone: &str,
    as_of: Option<Date>,
    json: bool,
) -> Result<()> {
    crate::require_lake(lake)?;
    let answer = phone_consent_lake::history(lake, account, phone, as_of).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&answer, as_of))?
        );
        return Ok(());
    }
    match print_text(&answer, &mut std::io::stdout().lock()) {
        // A reader that stops early (`| head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// The timeline as a table; consecutive snapshots that changed nothing share one line.
fn print_text(answer: &HistoryAnswer, out: &mut impl Write) -> std::io::Result<()> {
    let Some(key) = &answer.key else {
        return writeln!(
            out,
            "invalid_input: the account must be digits and the phone a US number"
        );
    };
    if answer.steps.is_empty() {
        return writeln!(
            out,
            "{} {}: unknown_phone (no event)",
            key.account, key.phone
        );
    }
    writeln!(out, "{} {}", key.account, key.phone)?;
    writeln!(
        out,
        "{:<22} {:<12} {:<8} {:<11} {:<7} {:<11} {:<7} {:<24} evidence",
        "date", "event", "source", "deleted", "consent", "consent at", "allowed", "reason"
    )?;
    let mut i = 0;
    while i < answer.steps.len() {
        let (step, decision) = &answer.steps[i];
        let shown = |j: usize| {
            let (t, d) = &answer.steps[j];
            (t.event.kind, columns(&t.state), d.allowed, d.reason)
        };
        let mut last = i;
        if step.event.kind == EventKind::Observed {
            while last + 1 < answer.steps.len() && shown(last + 1) == shown(i) {
                last += 1;
            }
        }
        let e = &step.event;
        let (date, event) = match last - i {
            0 => (e.date.to_string(), e.kind.name().to_owned()),
            n => (
                format!("{}..{}", e.date, answer.steps[last].0.event.date),
                format!("{} ×{}", e.kind.name(), n + 1),
            ),
        };
        let line = e.line.map_or(String::new(), |l| format!(":{l}"));
        let [source, deleted, consent, consent_at] = columns(&step.state);
        writeln!(
            out,
            "{date:<22} {event:<12} {source:<8} {deleted:<11} {consent:<7} {consent_at:<11} {:<7} {:<24} {}{line}",
            if decision.allowed { "yes" } else { "no" },
            decision.reason.code(),
            e.file,
        )?;
        i = last + 1;
    }
    Ok(())
}

/// The state's columns of the table.
fn columns(s: &PhoneState) -> [String; 4] {
    [
        s.attributes.source().to_owned(),
        s.deletion
            .as_ref()
            .map_or("no".into(), |d| d.kind.code().to_owned()),
        s.consent
            .map_or("-".into(), |c| if c.consent { "Y" } else { "N" }.to_owned()),
        s.consent.map_or("-".into(), |c| c.date.to_string()),
    ]
}

/// The timeline as JSON (keys, codes, dates and file names only: no PII).
pub fn to_json(a: &HistoryAnswer, as_of: Option<Date>) -> Value {
    let steps: Vec<Value> = a
        .steps
        .iter()
        .map(|(step, decision)| {
            json!({
                "event": step.event.kind.name(),
                "date": step.event.date.to_string(),
                "file": &*step.event.file,
                "line": step.event.line,
                "state": crate::check::state_json(&step.state),
                "allowed": decision.allowed,
                "reason": decision.reason.code(),
            })
        })
        .collect();
    json!({
        "account": a.key.as_ref().map(|k| k.account.to_string()),
        "phone": a.key.as_ref().map(|k| k.phone.to_string()),
        "as_of": as_of.map(|d| d.to_string()),
        "valid_input": a.key.is_some(),
        "steps": steps,
    })
}
