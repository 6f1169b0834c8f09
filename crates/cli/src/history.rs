//! `phone-consent history`: a key's timeline — every event, the state and the decision
//! after it — from the audit trail.

use std::path::Path;

use anyhow::Result;
use phone_consent_core::Date;
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
    let Some(key) = &answer.key else {
        println!("invalid_input: the account must be digits and the phone a US number");
        return Ok(());
    };
    if answer.steps.is_empty() {
        println!("{} {}: unknown_phone (no event)", key.account, key.phone);
        return Ok(());
    }
    println!("{} {}", key.account, key.phone);
    println!(
        "{:<10} {:<12} {:<8} {:<11} {:<7} {:<11} {:<7} {:<24} evidence",
        "date", "event", "source", "deleted", "consent", "consent at", "allowed", "reason"
    );
    for (step, decision) in &answer.steps {
        let s = &step.state;
        let e = &step.event;
        let at = |line: Option<u64>| line.map_or(String::new(), |l| format!(":{l}"));
        println!(
            "{:<10} {:<12} {:<8} {:<11} {:<7} {:<11} {:<7} {:<24} {}{}",
            e.date.to_string(),
            e.kind.name(),
            s.attributes.source(),
            s.deletion.as_ref().map_or("no", |d| d.kind.code()),
            s.consent.map_or("-", |c| if c.consent { "Y" } else { "N" }),
            s.consent.map_or("-".into(), |c| c.date.to_string()),
            if decision.allowed { "yes" } else { "no" },
            decision.reason.code(),
            e.file,
            at(e.line),
        );
    }
    Ok(())
}

/// The timeline as JSON (keys, codes, dates and file names only: no PII).
pub fn to_json(a: &HistoryAnswer, as_of: Option<Date>) -> Value {
    let steps: Vec<Value> = a
        .steps
        .iter()
        .map(|(step, decision)| {
            let s = &step.state;
            json!({
                "event": step.event.kind.name(),
                "date": step.event.date.to_string(),
                "file": &*step.event.file,
                "line": step.event.line,
                "state": {
                    "phone_source": s.attributes.source(),
                    "has_sms_consent": s.consent.map(|c| c.consent),
                    "sms_consent_updated_at": s.consent.map(|c| c.date.to_string()),
                    "is_deleted": s.is_deleted(),
                    "delete_type": s.deletion.as_ref().map(|d| d.kind.code()),
                    "deleted_at": s.deletion.as_ref().map(|d| d.at.to_string()),
                },
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
