//! `phone-consent run`: the pipeline and its closing summary.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use phone_consent_core::FileKind;
use phone_consent_lake::quality::{Config, Finding, Status};
use phone_consent_lake::{RunOptions, RunSummary};

use crate::progress::Reporter;

/// How to run: `run`'s flags.
#[derive(Clone, Debug, Default)]
pub struct How {
    /// Worker threads (default: every core).
    pub threads: Option<usize>,
    /// Files to apply again (`--replace`).
    pub replace: Vec<String>,
    /// Re-derive silver and gold from bronze (`--rebuild`).
    pub rebuild: bool,
    /// Print the summary as JSON.
    pub json: bool,
    /// The data-quality config file (`--quality-config`).
    pub quality_config: Option<PathBuf>,
}

/// When a completed run exits non-zero (`--fail-on`), for schedulers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Never: the run completes and reports.
    #[default]
    Never,
    /// When a check fires at `warn` or `error`.
    Warn,
    /// When a check fires at `error`.
    Error,
}

impl FailOn {
    /// The fired checks this level fails on.
    pub fn failures(self, quality: &[Finding]) -> Vec<&Finding> {
        let fails = |s: Status| match self {
            FailOn::Never => false,
            FailOn::Warn => s.fired(),
            FailOn::Error => s == Status::Error,
        };
        quality.iter().filter(|f| fails(f.status)).collect()
    }
}

/// Runs the pipeline and prints the summary.
pub async fn run(data_dir: &Path, lake: &Path, how: How) -> Result<RunSummary> {
    let threads = how
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let json = how.json;
    let quality = Config::load(how.quality_config.as_deref(), lake)
        .context("reading the data-quality config")?;
    let options = RunOptions {
        data_dir: data_dir.to_owned(),
        lake: lake.to_owned(),
        threads,
        replace: how.replace,
        rebuild: how.rebuild,
        quality,
    };
    let reporter = Reporter::new();
    let summary = phone_consent_lake::run(&options, &reporter)
        .await
        .with_context(|| {
            format!(
                "running the pipeline on {} into {}",
                data_dir.display(),
                lake.display()
            )
        });
    reporter.finish();
    let summary = summary?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary_json(&summary))?);
    } else {
        print_summary(&summary, lake);
    }
    Ok(summary)
}

/// The closing summary as JSON (for schedulers and tests).
pub fn summary_json(s: &RunSummary) -> serde_json::Value {
    let kinds: serde_json::Map<String, serde_json::Value> = s
        .kinds
        .iter()
        .map(|(kind, k)| {
            (
                kind.feed_name().to_owned(),
                serde_json::json!({
                    "files": k.files, "files_rejected": k.files_rejected, "bytes": k.bytes,
                    "rows_read": k.rows.rows_read, "accepted": k.rows.accepted,
                    "rejected": k.rows.rejected, "duplicates": k.rows.duplicates,
                    "consent_date_substituted": k.rows.consent_date_substituted,
                }),
            )
        })
        .collect();
    let rejects: serde_json::Map<String, serde_json::Value> = s
        .rejects
        .iter()
        .map(|(r, n)| (r.code().to_owned(), (*n).into()))
        .collect();
    let p = &s.published;
    let refused: Vec<serde_json::Value> = s
        .refused
        .iter()
        .map(|(file, why)| serde_json::json!({"file": file, "why": why}))
        .collect();
    serde_json::json!({
        "run_id": s.run_id,
        "mode": s.mode.code(),
        "files_skipped": s.files_skipped,
        "refused": refused,
        "replaced": s.replaced,
        "feed_bytes_read": s.feed_bytes_read,
        "kinds": kinds,
        "rejects": rejects,
        "invalid_file_names": s.bad_names,
        "schema_warnings": s.schema_warnings,
        "snapshots": s.snapshots,
        "damaged_snapshots": s.damaged_snapshots,
        "keys": p.keys,
        "hard_deleted": p.hard_deleted,
        "soft_deleted": p.soft_deleted,
        "consent_true": p.consent_true,
        "consent_false": p.consent_false,
        "consent_null": p.consent_null,
        "can_send": p.can_send,
        "changes_after_delete": p.changes_after_delete,
        "events": p.events,
        "gold_version": p.gold_version,
        "coverage": coverage_json(&s.coverage),
        "quality": s.quality.iter().map(finding_json).collect::<Vec<_>>(),
        "wall_seconds": s.elapsed.as_secs_f64(),
    })
}

/// Feed coverage as JSON (the run summary, `check` and `report` share it).
pub fn coverage_json(c: &phone_consent_lake::quality::Coverage) -> serde_json::Value {
    serde_json::json!({
        "feed_date": c.feed_date.map(|d| d.to_string()),
        "newest_snapshot": c.newest_snapshot.map(|d| d.to_string()),
        "snapshot_age_days": c.snapshot_age_days,
        "uncovered_days": c.uncovered_days,
    })
}

/// One quality check as JSON.
pub fn finding_json(f: &Finding) -> serde_json::Value {
    serde_json::json!({
        "check": f.check, "severity": f.severity.code(), "status": f.status.code(),
        "value": f.value, "threshold": f.threshold, "detail": f.detail,
    })
}

/// The checks that fired, one line each (none: one line saying so).
pub fn print_fired(quality: &[Finding]) {
    let fired: Vec<&Finding> = quality.iter().filter(|f| f.status.fired()).collect();
    if fired.is_empty() {
        let passed = quality.iter().filter(|f| f.status == Status::Pass).count();
        println!("quality: {passed} checks passed, none fired");
    }
    for f in fired {
        println!(
            "quality {}: {} ({} > {}): {}",
            f.status.code(),
            f.check,
            f.value.map_or("-".into(), |v| format!("{v:.4}")),
            f.threshold,
            f.detail
        );
    }
}

/// The closing summary: files and rows by kind, rejects by reason, duplicates, keys,
/// deletes by type, consent, can-send count, wall time.
pub fn print_summary(s: &RunSummary, lake: &Path) {
    println!(
        "run {} ({}): {} files skipped as already applied, {} replaced, {} bytes read from the feed",
        s.run_id,
        s.mode.code(),
        s.files_skipped,
        s.replaced.len(),
        s.feed_bytes_read
    );
    for (file, why) in &s.refused {
        println!("refused {file}: {why}");
    }
    if s.mode == phone_consent_lake::RunMode::Unchanged {
        println!(
            "nothing new: gold version {} in {} is unchanged ({} keys, {} may be texted)",
            s.published.gold_version,
            lake.display(),
            s.published.keys,
            s.published.can_send
        );
        print_coverage(s);
        print_fired(&s.quality);
        return;
    }
    println!(
        "{:<12} {:>6} {:>9} {:>12} {:>12} {:>9} {:>10}",
        "kind", "files", "rejected", "rows", "accepted", "rejected", "duplicates"
    );
    for kind in [FileKind::Snapshot, FileKind::Change, FileKind::Enrollment] {
        let k = s.kinds.get(&kind).cloned().unwrap_or_default();
        println!(
            "{:<12} {:>6} {:>9} {:>12} {:>12} {:>9} {:>10}",
            kind.feed_name(),
            k.files,
            k.files_rejected,
            k.rows.rows_read,
            k.rows.accepted,
            k.rows.rejected,
            k.rows.duplicates
        );
    }
    let t = s.rows();
    println!(
        "{:<12} {:>6} {:>9} {:>12} {:>12} {:>9} {:>10}",
        "total", "", s.bad_names, t.rows_read, t.accepted, t.rejected, t.duplicates
    );
    if s.rejects.is_empty() {
        println!("rejects: none");
    } else {
        let by: Vec<String> = s.rejects.iter().map(|(r, n)| format!("{r} {n}")).collect();
        println!("rejects: {}", by.join(", "));
    }
    if t.consent_date_substituted > 0 {
        println!(
            "warnings: {} consent flags with an empty or invalid consent date (event date used)",
            t.consent_date_substituted
        );
    }
    for w in &s.schema_warnings {
        println!("warning: {w}");
    }
    let p = &s.published;
    println!(
        "snapshots: {} ({} damaged: they deleted nothing by omission)",
        s.snapshots, s.damaged_snapshots
    );
    println!(
        "keys: {}  deleted: {} hard, {} soft  consent: {} true, {} false, {} null  change-after-delete: {}",
        p.keys,
        p.hard_deleted,
        p.soft_deleted,
        p.consent_true,
        p.consent_false,
        p.consent_null,
        p.changes_after_delete
    );
    println!("can send: {} of {} keys", p.can_send, p.keys);
    print_coverage(s);
    print_fired(&s.quality);
    println!(
        "gold version {} in {}; audit trail {} events; wall time {:.2}s",
        p.gold_version,
        lake.display(),
        p.events,
        s.elapsed.as_secs_f64()
    );
}

fn print_coverage(s: &RunSummary) {
    let c = &s.coverage;
    match (c.newest_snapshot, c.feed_date) {
        (Some(snapshot), Some(feed)) => println!(
            "coverage: newest snapshot {snapshot}, {} days before the newest file ({feed}); \
             {} of those days no change file covers",
            c.snapshot_age_days.unwrap_or(0),
            c.uncovered_days.unwrap_or(0)
        ),
        _ => println!("coverage: no snapshot applied yet"),
    }
}
