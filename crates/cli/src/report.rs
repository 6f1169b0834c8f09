//! `phone-consent report`: a run's data-quality checks and feed coverage, as text, JSON or
//! one self-contained HTML page with small charts.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use phone_consent_core::FileKind;
use phone_consent_lake::ledger::FileStatus;
use phone_consent_lake::quality::{Coverage, Report, Status};
use serde_json::json;

use crate::run::{coverage_json, finding_json};

/// How to print a report.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// Aligned text.
    Text,
    /// One JSON object.
    Json,
    /// One self-contained HTML page (inline SVG charts, no scripts).
    Html,
}

/// Prints the report of a run (the latest without one).
pub async fn report(lake: &Path, run_id: Option<i64>, format: Format) -> Result<()> {
    crate::require_lake(lake)?;
    let report = phone_consent_lake::quality::report(lake, run_id).await?;
    match format {
        Format::Text => print!("{}", text(&report)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&to_json(&report))?),
        Format::Html => print!("{}", html(&report)),
    }
    Ok(())
}

fn coverage(r: &Report) -> Coverage {
    Coverage {
        feed_date: r.run.feed_date,
        newest_snapshot: r.run.newest_snapshot,
        snapshot_age_days: r.run.snapshot_age_days,
        uncovered_days: r.run.uncovered_days,
    }
}

fn to_json(r: &Report) -> serde_json::Value {
    let run = &r.run;
    json!({
        "run_id": run.run_id,
        "mode": run.mode,
        "data_dir": run.data_dir,
        "files": {"applied": run.files[0], "rejected": run.files[1], "skipped": run.files[2], "refused": run.files[3]},
        "rows": {"read": run.rows[0], "accepted": run.rows[1], "rejected": run.rows[2], "duplicates": run.rows[3]},
        "keys": run.keys,
        "can_send": run.can_send,
        "gold_version": run.gold_version,
        "coverage": coverage_json(&coverage(r)),
        "checks": r.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "rejects_by_reason": r.rejects_by_reason.iter().map(|(reason, n)| json!({"reason": reason, "count": n})).collect::<Vec<_>>(),
    })
}

fn headline(r: &Report) -> String {
    let run = &r.run;
    let fired = |s: Status| r.findings.iter().filter(|f| f.status == s).count();
    format!(
        "run {} ({}): {} files applied, {} rejected, {} skipped, {} refused; {} rows read, {} \
         rejected, {} duplicates; {} keys, {} may be texted. Checks: {} error, {} warn, {} pass.",
        run.run_id,
        run.mode,
        run.files[0],
        run.files[1],
        run.files[2],
        run.files[3],
        run.rows[0],
        run.rows[2],
        run.rows[3],
        run.keys,
        run.can_send,
        fired(Status::Error),
        fired(Status::Warn),
        fired(Status::Pass)
    )
}

fn coverage_line(c: &Coverage) -> String {
    match (c.newest_snapshot, c.feed_date) {
        (Some(s), Some(f)) => format!(
            "Coverage: newest snapshot {s}, {} days before the newest file ({f}); {} of those \
             days no change file covers.",
            c.snapshot_age_days.unwrap_or(0),
            c.uncovered_days.unwrap_or(0)
        ),
        _ => "Coverage: no snapshot applied yet.".into(),
    }
}

fn value(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.4}"),
    }
}

fn text(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", headline(r));
    let _ = writeln!(s, "{}", coverage_line(&coverage(r)));
    let _ = writeln!(
        s,
        "{:<24} {:<8} {:<8} {:>10} {:>10}  detail",
        "check", "status", "severity", "value", "threshold"
    );
    for f in &r.findings {
        let _ = writeln!(
            s,
            "{:<24} {:<8} {:<8} {:>10} {:>10}  {}",
            f.check,
            f.status.code(),
            f.severity.code(),
            value(f.value),
            value(Some(f.threshold)),
            f.detail
        );
    }
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A small bar chart: one bar per point, in order, the first and last labels under it.
fn bars(title: &str, points: &[(String, f64)], color: &str, unit: &str) -> String {
    let (w, h, pad) = (640.0, 140.0, 24.0);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {w} {}\" width=\"{w}\" \
         height=\"{}\" role=\"img\" aria-label=\"{}\">",
        escape(title),
        h + pad,
        h + pad,
        escape(title)
    );
    if points.is_empty() {
        svg.push_str("<text x=\"4\" y=\"20\">no data</text></svg></figure>");
        return svg;
    }
    let max = points
        .iter()
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let step = w / points.len() as f64;
    for (i, (label, v)) in points.iter().enumerate() {
        let bar = v / max * (h - 16.0);
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bar:.1}\" fill=\"{color}\">\
             <title>{}: {}{unit}</title></rect>",
            i as f64 * step,
            h - bar,
            (step - 1.0).max(0.5),
            escape(label),
            value(Some(*v))
        );
    }
    let first = &points[0].0;
    let last = &points[points.len() - 1].0;
    let _ = write!(
        svg,
        "<text x=\"0\" y=\"10\" font-size=\"10\">max {}{unit}</text>\
         <text x=\"0\" y=\"{}\" font-size=\"10\">{}</text>\
         <text x=\"{w}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text></svg></figure>",
        value(Some(max)),
        h + 16.0,
        escape(first),
        h + 16.0,
        escape(last)
    );
    svg
}

fn html(r: &Report) -> String {
    let mut s = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>phone-consent data quality</title><style>\
         body{font:14px system-ui,sans-serif;margin:2em;max-width:980px;color:#222}\
         table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;\
         padding:4px 6px;text-align:left;vertical-align:top}td.n{text-align:right}\
         .error{background:#fdd}.warn{background:#ffe9b3}.pass{color:#176b2c}\
         .skipped,.off{color:#888}figure{margin:1.2em 0}figcaption{font-weight:600}\
         </style></head><body>",
    );
    let _ = write!(
        s,
        "<h1>Data quality — run {}</h1><p>{}</p><p>{}</p>",
        r.run.run_id,
        escape(&headline(r)),
        escape(&coverage_line(&coverage(r)))
    );
    s.push_str(
        "<h2>Checks</h2><table><tr><th>check</th><th>status</th><th>severity</th>\
         <th>value</th><th>threshold</th><th>detail</th></tr>",
    );
    for f in &r.findings {
        let _ = write!(
            s,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td>{}</td></tr>",
            f.status.code(),
            escape(&f.check),
            f.status.code(),
            f.severity.code(),
            value(f.value),
            value(Some(f.threshold)),
            escape(&f.detail)
        );
    }
    s.push_str("</table><h2>The feed over time</h2>");
    for (kind, color) in [
        (FileKind::Snapshot, "#3465a4"),
        (FileKind::Change, "#4e9a06"),
        (FileKind::Enrollment, "#75507b"),
    ] {
        let points: Vec<(String, f64)> = r
            .files
            .iter()
            .filter(|f| f.kind == Some(kind) && f.status == FileStatus::Applied)
            .map(|f| (date_label(f), f.rows[0] as f64))
            .collect();
        let title = format!("Rows per {} file", kind.feed_name());
        s.push_str(&bars(&title, &points, color, " rows"));
    }
    let rejected: Vec<(String, f64)> = r
        .files
        .iter()
        .map(|f| {
            let whole = f64::from(u8::from(f.status == FileStatus::Rejected));
            (
                format!("{} {}", date_label(f), f.file),
                f.rows[2] as f64 + whole,
            )
        })
        .collect();
    s.push_str(&bars(
        "Rejected rows per file (a file rejected whole counts 1)",
        &rejected,
        "#cc0000",
        "",
    ));
    let reasons: Vec<(String, f64)> = r
        .rejects_by_reason
        .iter()
        .map(|(reason, n)| (reason.clone(), *n as f64))
        .collect();
    s.push_str(&bars(
        "Rejects in the lake by reason",
        &reasons,
        "#cc0000",
        "",
    ));
    let dropped: Vec<(String, f64)> = r
        .snapshots
        .windows(2)
        .filter(|w| w[0].listed > 0)
        .map(|w| {
            let share = w[1].vanished as f64 / w[0].listed as f64 * 100.0;
            (w[1].date.to_string(), share)
        })
        .collect();
    s.push_str(&bars(
        "Phones each snapshot dropped (hard deletes), % of the previous snapshot's",
        &dropped,
        "#ce5c00",
        "%",
    ));
    s.push_str("</body></html>\n");
    s
}

fn date_label(f: &phone_consent_lake::ledger::LedgerEntry) -> String {
    f.file_date.map_or("undated".into(), |d| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_text_and_draws_one_bar_per_point() {
        let svg = bars(
            "a <b>",
            &[("x&y".into(), 1.0), ("z".into(), 3.0)],
            "#000",
            "",
        );
        assert!(svg.contains("a &lt;b&gt;") && svg.contains("x&amp;y"));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(bars("empty", &[], "#000", "").contains("no data"));
    }
}
