//! Data-quality monitoring: every run evaluates the checks of [`Config`] on what it read and
//! what the lake holds after it, and records them in `audit/quality_checks`. Feed coverage
//! (the newest snapshot's age, the days no change file covers) goes to `runs` as well.

mod config;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
};
use deltalake::arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use phone_consent_core::{Date, FileKind, RejectReason};
use phone_consent_feed::{FileReject, FileStats};

pub use config::{Config, DEFAULTS, Rule, Severity, SnapshotDeletionsRule};

use crate::delta::{self, CommitMode};
use crate::history::{column_strings, count_row};
use crate::ledger::{FileStatus, Ledger, LedgerEntry};
use crate::publish::GoldProfile;
use crate::runs::{self, RunRecord};
use crate::{Error, Result, schema};

/// Days before a change file's date that its window reaches back (SPEC: `[F−7, F]`).
pub const CHANGE_WINDOW_DAYS: i32 = 7;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Its severity is `off`.
    Off,
    /// Nothing to measure this run (e.g. no snapshot arrived).
    Skipped,
    /// Measured within its threshold.
    Pass,
    /// Fired at severity `warn`.
    Warn,
    /// Fired at severity `error`.
    Error,
}

impl Status {
    /// `off`, `skipped`, `pass`, `warn` or `error`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Skipped => "skipped",
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        [
            Self::Off,
            Self::Skipped,
            Self::Pass,
            Self::Warn,
            Self::Error,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }

    /// True for `warn` and `error`.
    pub fn fired(self) -> bool {
        matches!(self, Self::Warn | Self::Error)
    }
}

/// One check's outcome in one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// The check's name (its table in the config file).
    pub check: String,
    /// Its configured severity.
    pub severity: Severity,
    /// How it came out.
    pub status: Status,
    /// What it measured (`None` when skipped or off).
    pub value: Option<f64>,
    /// The largest value that passes.
    pub threshold: f64,
    /// What it saw, in a sentence (file names, dates, counts; never a row's values).
    pub detail: String,
}

impl Finding {
    fn judge(check: &str, rule: Rule, value: Option<f64>, detail: String) -> Self {
        let status = match (rule.severity, value) {
            (Severity::Off, _) => Status::Off,
            (_, None) => Status::Skipped,
            (_, Some(v)) if v <= rule.threshold => Status::Pass,
            (Severity::Warn, _) => Status::Warn,
            (Severity::Error, _) => Status::Error,
        };
        Finding {
            check: check.to_owned(),
            severity: rule.severity,
            status,
            value: value.filter(|_| status != Status::Off),
            threshold: rule.threshold,
            detail,
        }
    }
}

/// What the feed lets the agency see, as of its newest file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// The newest applied file's date, of any kind: the feed's "today".
    pub feed_date: Option<Date>,
    /// The newest snapshot's date.
    pub newest_snapshot: Option<Date>,
    /// Days from the newest snapshot to the feed date.
    pub snapshot_age_days: Option<i64>,
    /// Days after the newest snapshot (after the first file without one), up to the feed
    /// date, that no change file's window covers.
    pub uncovered_days: Option<i64>,
}

impl Coverage {
    /// The coverage of the applied files of `ledger`, given the newest snapshot.
    pub fn of(ledger: &Ledger, newest_snapshot: Option<Date>) -> Self {
        let applied: Vec<(FileKind, Date)> = ledger
            .entries()
            .filter(|e| e.status == FileStatus::Applied)
            .filter_map(|e| Some((e.kind?, e.file_date?)))
            .collect();
        let Some(feed_date) = applied.iter().map(|(_, d)| *d).max() else {
            return Coverage {
                newest_snapshot,
                ..Coverage::default()
            };
        };
        let changes: BTreeSet<Date> = applied
            .iter()
            .filter(|(k, _)| *k == FileKind::Change)
            .map(|(_, d)| *d)
            .collect();
        let first = match newest_snapshot {
            Some(s) => s.days() + 1,
            None => applied.iter().map(|(_, d)| d.days()).min().unwrap_or(0),
        };
        let covered = |day: i32| {
            changes
                .range(Date::from_days(day)..=Date::from_days(day + CHANGE_WINDOW_DAYS))
                .next()
                .is_some()
        };
        let uncovered = (first..=feed_date.days()).filter(|d| !covered(*d)).count();
        Coverage {
            feed_date: Some(feed_date),
            newest_snapshot,
            snapshot_age_days: newest_snapshot.map(|s| i64::from(feed_date.days() - s.days())),
            uncovered_days: Some(uncovered as i64),
        }
    }
}

/// One file a run looked at: what it was and how reading it went.
#[derive(Clone, Debug)]
pub struct FileOutcome {
    /// The file name.
    pub name: String,
    /// Its kind, when its name says.
    pub kind: Option<FileKind>,
    /// Its date, when its name parses.
    pub file_date: Option<Date>,
    /// Its accounting, or why it was rejected whole.
    pub result: std::result::Result<FileStats, FileReject>,
}

/// What a run gives the checks besides the lake.
pub struct RunFacts<'a> {
    /// The run's id.
    pub run_id: i64,
    /// The files the run read (or rejected by name).
    pub files: &'a [FileOutcome],
    /// Re-deliveries refused: name and why.
    pub refused: &'a [(String, String)],
    /// Rejected rows and files by reason.
    pub rejects: &'a BTreeMap<RejectReason, u64>,
    /// The ledger after the run.
    pub ledger: &'a Ledger,
    /// The feed's coverage after the run.
    pub coverage: Coverage,
    /// Gold's version before the run, if there was a gold.
    pub previous_gold: Option<i64>,
    /// Gold's version after the run.
    pub gold: Option<i64>,
    /// What the run counted of the gold it published (`None`: gold is queried instead).
    pub gold_profile: Option<&'a GoldProfile>,
}

/// Evaluates every check of `config` for a run.
pub async fn evaluate(lake: &Path, config: &Config, facts: &RunFacts<'_>) -> Result<Vec<Finding>> {
    let read: Vec<(&FileOutcome, &FileStats)> = facts
        .files
        .iter()
        .filter_map(|f| f.result.as_ref().ok().map(|s| (f, s)))
        .collect();
    let mut out = vec![
        schema_drift(config.schema_drift, &read),
        files_rejected(config.files_rejected, facts),
    ];
    out.extend(row_rates(config, &read, facts.rejects));
    out.push(snapshot_deletions(lake, config.snapshot_deletions, &read).await?);
    out.push(cadence_gap(config.cadence_gap, facts.ledger, &read));
    out.push(late_files(config.late_files, facts, &read));
    out.extend(gold_checks(lake, config, facts).await?);
    out.push(pii_values(config.pii_values, &read));
    let c = facts.coverage;
    let snapshot = c
        .newest_snapshot
        .map_or("no snapshot".into(), |d| d.to_string());
    let feed = c.feed_date.map_or("no file".into(), |d| d.to_string());
    out.push(Finding::judge(
        "snapshot_age",
        config.snapshot_age,
        c.snapshot_age_days.map(|d| d as f64),
        format!("newest snapshot {snapshot}, newest file {feed}"),
    ));
    out.push(Finding::judge(
        "uncovered_days",
        config.uncovered_days,
        c.uncovered_days.map(|d| d as f64),
        format!(
            "days after {snapshot} up to {feed} that no change file's window covers: \
             deletes and withdrawals on them are unseen until the next snapshot"
        ),
    ));
    Ok(out)
}

fn list<T: AsRef<str>>(items: &[T], most: usize) -> String {
    let mut s = items
        .iter()
        .take(most)
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > most {
        let _ = write!(s, "; and {} more", items.len() - most);
    }
    s
}

fn schema_drift(rule: Rule, read: &[(&FileOutcome, &FileStats)]) -> Finding {
    let drifted: Vec<String> = read
        .iter()
        .filter(|(_, s)| !s.unknown_columns.is_empty() || !s.missing_optional.is_empty())
        .map(|(f, s)| {
            let mut d = f.name.clone();
            if !s.unknown_columns.is_empty() {
                let _ = write!(d, ": unknown column(s) {}", s.unknown_columns.join(", "));
            }
            if !s.missing_optional.is_empty() {
                let _ = write!(d, ": lacks optional {}", s.missing_optional.join(", "));
            }
            d
        })
        .collect();
    let detail = match drifted.len() {
        0 => format!(
            "{} file(s) read, every header as the contract says",
            read.len()
        ),
        n => format!("{n} file(s): {}", list(&drifted, 5)),
    };
    Finding::judge("schema_drift", rule, Some(drifted.len() as f64), detail)
}

fn files_rejected(rule: Rule, facts: &RunFacts<'_>) -> Finding {
    let mut named: Vec<String> = facts
        .files
        .iter()
        .filter_map(|f| {
            let e = f.result.as_ref().err()?;
            Some(format!("{} ({}: {})", f.name, e.reason, e.detail))
        })
        .collect();
    named.extend(
        facts
            .refused
            .iter()
            .map(|(name, _)| format!("{name} (conflicting_redelivery)")),
    );
    let detail = match named.len() {
        0 => "no file rejected whole or refused".into(),
        n => format!("{n} file(s): {}", list(&named, 5)),
    };
    Finding::judge("files_rejected", rule, Some(named.len() as f64), detail)
}

fn row_rates(
    config: &Config,
    read: &[(&FileOutcome, &FileStats)],
    rejects: &BTreeMap<RejectReason, u64>,
) -> [Finding; 2] {
    let rows: u64 = read.iter().map(|(_, s)| s.rows_read).sum();
    let rejected: u64 = read.iter().map(|(_, s)| s.rejected).sum();
    let duplicates: u64 = read.iter().map(|(_, s)| s.duplicates).sum();
    let rate = |n: u64| (rows > 0).then(|| n as f64 / rows as f64);
    let by_reason: Vec<String> = rejects
        .iter()
        .filter(|(r, _)| !r.is_file_level())
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    let reasons = match by_reason.is_empty() {
        true => String::new(),
        false => format!(" ({})", by_reason.join(", ")),
    };
    let worst = |pick: fn(&FileStats) -> u64| {
        read.iter()
            .filter(|(_, s)| pick(s) > 0)
            .max_by_key(|(_, s)| pick(s))
            .map(|(f, s)| format!("; most in {} ({})", f.name, pick(s)))
            .unwrap_or_default()
    };
    [
        Finding::judge(
            "reject_rate",
            config.reject_rate,
            rate(rejected),
            format!(
                "{rejected} of {rows} rows rejected{reasons}{}",
                worst(|s| s.rejected)
            ),
        ),
        Finding::judge(
            "duplicate_rate",
            config.duplicate_rate,
            rate(duplicates),
            format!(
                "{duplicates} of {rows} rows dropped as duplicates{}",
                worst(|s| s.duplicates)
            ),
        ),
    ]
}

/// One row of `silver/snapshots`.
#[derive(Clone, Copy, Debug)]
pub struct SnapshotListing {
    /// The snapshot date.
    pub date: Date,
    /// False for a damaged snapshot.
    pub complete: bool,
    /// Keys it lists.
    pub listed: u64,
    /// Keys the snapshot before it listed that it does not.
    pub vanished: u64,
}

/// `silver/snapshots`, in date order (none for a lake without one).
pub async fn snapshot_listings(lake: &Path) -> Result<Vec<SnapshotListing>> {
    let mut out = Vec::new();
    for b in delta::read_table_if_any(lake.join(schema::SNAPSHOTS)).await? {
        let dates = b.column(0).as_primitive::<Date32Type>();
        let complete = b.column(1).as_boolean();
        let listed = b.column(3).as_primitive::<Int64Type>();
        let vanished = b.column(4).as_primitive::<Int64Type>();
        out.extend((0..b.num_rows()).map(|i| SnapshotListing {
            date: Date::from_days(dates.value(i)),
            complete: complete.value(i),
            listed: listed.value(i) as u64,
            vanished: vanished.value(i) as u64,
        }));
    }
    out.sort_by_key(|s| s.date);
    Ok(out)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

async fn snapshot_deletions(
    lake: &Path,
    rule: SnapshotDeletionsRule,
    read: &[(&FileOutcome, &FileStats)],
) -> Result<Finding> {
    let plain = Rule {
        severity: rule.severity,
        threshold: rule.threshold,
    };
    let dates: BTreeSet<Date> = read
        .iter()
        .filter(|(f, _)| f.kind == Some(FileKind::Snapshot))
        .filter_map(|(f, _)| f.file_date)
        .collect();
    if dates.is_empty() || rule.severity == Severity::Off {
        let detail = "no snapshot in this run".to_owned();
        return Ok(Finding::judge("snapshot_deletions", plain, None, detail));
    }
    let listings = snapshot_listings(lake).await?;
    // The share of the previous snapshot's keys each complete snapshot dropped.
    let shares: Vec<(Date, f64)> = listings
        .windows(2)
        .filter(|w| w[1].complete && w[0].listed > 0)
        .map(|w| (w[1].date, w[1].vanished as f64 / w[0].listed as f64))
        .collect();
    let mut worst: Option<(f64, Date, f64, f64)> = None;
    for (i, (date, share)) in shares.iter().enumerate() {
        if !dates.contains(date) {
            continue;
        }
        let past: Vec<f64> = shares[i.saturating_sub(rule.baseline_snapshots)..i]
            .iter()
            .map(|(_, s)| *s)
            .collect();
        let usual = median(past).unwrap_or(0.0).max(rule.baseline_floor);
        let ratio = share / usual;
        if worst.is_none_or(|w| ratio > w.0) {
            worst = Some((ratio, *date, *share, usual));
        }
    }
    let Some((ratio, date, share, usual)) = worst else {
        let detail = "no complete snapshot of this run follows an earlier one".to_owned();
        return Ok(Finding::judge("snapshot_deletions", plain, None, detail));
    };
    let detail = format!(
        "{} snapshot(s); the most unusual, {date}, no longer lists {:.2}% of the previous \
         snapshot's phones (usual {:.2}%)",
        dates.len(),
        share * 100.0,
        usual * 100.0
    );
    Ok(Finding::judge(
        "snapshot_deletions",
        plain,
        Some(ratio),
        detail,
    ))
}

fn cadence_gap(rule: Rule, ledger: &Ledger, read: &[(&FileOutcome, &FileStats)]) -> Finding {
    let mut dates: BTreeMap<FileKind, BTreeSet<Date>> = BTreeMap::new();
    for e in ledger.entries().filter(|e| e.status == FileStatus::Applied) {
        if let (Some(k), Some(d)) = (e.kind, e.file_date) {
            dates.entry(k).or_default().insert(d);
        }
    }
    let new: BTreeSet<(FileKind, Date)> = read
        .iter()
        .filter_map(|(f, _)| Some((f.kind?, f.file_date?)))
        .collect();
    let mut worst: Option<(f64, String)> = None;
    let mut measured = false;
    for (kind, dates) in &dates {
        let dates: Vec<Date> = dates.iter().copied().collect();
        let gaps: Vec<(Date, Date, i32)> = dates
            .windows(2)
            .map(|w| (w[0], w[1], w[1].days() - w[0].days()))
            .collect();
        if gaps.len() < 3 {
            continue;
        }
        let usual = median(gaps.iter().map(|g| f64::from(g.2)).collect()).unwrap_or(1.0);
        for (from, to, days) in &gaps {
            if !new.contains(&(*kind, *from)) && !new.contains(&(*kind, *to)) {
                continue;
            }
            measured = true;
            let ratio = f64::from(*days) / usual.max(1.0);
            if worst.as_ref().is_none_or(|w| ratio > w.0) {
                let d = format!(
                    "{}: {days} days from {from} to {to} (usually {usual})",
                    kind.feed_name()
                );
                worst = Some((ratio, d));
            }
        }
    }
    match worst.filter(|_| measured) {
        Some((ratio, detail)) => Finding::judge(
            "cadence_gap",
            rule,
            Some(ratio),
            format!("longest: {detail}"),
        ),
        None => Finding::judge(
            "cadence_gap",
            rule,
            None,
            "no kind of this run's files has three gaps to compare yet".into(),
        ),
    }
}

fn late_files(rule: Rule, facts: &RunFacts<'_>, read: &[(&FileOutcome, &FileStats)]) -> Finding {
    let mut newest: BTreeMap<FileKind, Date> = BTreeMap::new();
    for e in facts.ledger.entries() {
        if e.status != FileStatus::Applied || e.run_id >= facts.run_id {
            continue;
        }
        if let (Some(k), Some(d)) = (e.kind, e.file_date) {
            let n = newest.entry(k).or_insert(d);
            *n = (*n).max(d);
        }
    }
    let late: Vec<String> = read
        .iter()
        .filter_map(|(f, _)| {
            let before = *newest.get(&f.kind?)?;
            let date = f.file_date?;
            (date < before)
                .then(|| format!("{} (dated {date}, after {before} was applied)", f.name))
        })
        .collect();
    let detail = match late.len() {
        0 => "every file of this run is newer than those applied before".into(),
        n => format!("{n} file(s): {}", list(&late, 5)),
    };
    Finding::judge("late_files", rule, Some(late.len() as f64), detail)
}

fn pii_values(rule: Rule, read: &[(&FileOutcome, &FileStats)]) -> Finding {
    let files: Vec<String> = read
        .iter()
        .filter(|(_, s)| s.pii_suspects > 0)
        .map(|(f, s)| {
            format!(
                "{}: {} row(s), first at line {}, in {}",
                f.name,
                s.pii_suspects,
                s.first_pii_suspect_line.unwrap_or(0),
                s.pii_suspect_columns.join(", ")
            )
        })
        .collect();
    let rows: u64 = read.iter().map(|(_, s)| s.pii_suspects).sum();
    let detail = match files.len() {
        0 => "no PII-looking value outside the SSN and name columns".into(),
        _ => format!("{rows} row(s): {}", list(&files, 5)),
    };
    Finding::judge("pii_values", rule, Some(rows as f64), detail)
}

/// `consent_flips` and `phones_on_many_accounts`, from gold (and the gold before the run).
async fn gold_checks(lake: &Path, config: &Config, facts: &RunFacts<'_>) -> Result<[Finding; 2]> {
    let Some(gold) = facts.gold else {
        let none = || "no gold yet".to_owned();
        return Ok([
            Finding::judge("consent_flips", config.consent_flips, None, none()),
            Finding::judge(
                "phones_on_many_accounts",
                config.phones_on_many_accounts,
                None,
                none(),
            ),
        ]);
    };
    // Gold alone (and the gold before the run): not every table of the lake.
    let gold_dir = lake.join(schema::PHONE_CONSENT);
    let ctx = delta::empty_context();
    let register_gold = async || -> Result<()> {
        if !ctx.table_exist("phone_consent").unwrap_or(false) {
            delta::register_table(&ctx, "phone_consent", &gold_dir, None).await?;
        }
        Ok(())
    };
    let one_row = |batches: Vec<RecordBatch>| count_row(&batches, "quality checks");
    let limit = config.phones_on_many_accounts.threshold.floor() as i64;
    let (most, over) = match facts.gold_profile {
        Some(profile) => {
            let histogram = &profile.accounts_per_phone;
            let over: u64 = histogram
                .range(limit.max(0) as u64 + 1..)
                .map(|(_, n)| n)
                .sum();
            (
                histogram.keys().next_back().copied().unwrap_or(0) as i64,
                over as i64,
            )
        }
        None => {
            register_gold().await?;
            let many = one_row(
                delta::query(
                    &ctx,
                    &format!(
                        "SELECT max(n) AS most, count(CASE WHEN n > {limit} THEN 1 END) AS over \
                         FROM (SELECT count(*) AS n FROM phone_consent GROUP BY phone_number)"
                    ),
                )
                .await?,
            )?;
            (many[0].unwrap_or(0), many[1].unwrap_or(0))
        }
    };
    let phones = Finding::judge(
        "phones_on_many_accounts",
        config.phones_on_many_accounts,
        Some(most as f64),
        format!(
            "{over} phone(s) on more than {limit} accounts (at most {most}); list them with \
             `SELECT phone_number, count(*) FROM phone_consent GROUP BY 1 HAVING count(*) > {limit}`"
        ),
    );
    let counted_flips = facts.gold_profile.and_then(|p| p.consent_flips);
    let flips = match facts.previous_gold.filter(|p| *p != gold) {
        None => Finding::judge(
            "consent_flips",
            config.consent_flips,
            None,
            "no earlier gold to compare with".into(),
        ),
        Some(previous) => {
            let (keys, flipped) = match counted_flips {
                Some((keys, flipped)) => (keys as i64, flipped as i64),
                None => {
                    register_gold().await?;
                    delta::register_table(&ctx, "previous_gold", &gold_dir, Some(previous)).await?;
                    let counts = one_row(
                        delta::query(
                            &ctx,
                            "SELECT count(*) AS keys, count(CASE WHEN p.has_sms_consent \
                             IS DISTINCT FROM c.has_sms_consent THEN 1 END) AS flipped \
                             FROM previous_gold p JOIN phone_consent c \
                             ON p.account_number = c.account_number \
                             AND p.phone_number = c.phone_number",
                        )
                        .await?,
                    )?;
                    (counts[0].unwrap_or(0), counts[1].unwrap_or(0))
                }
            };
            Finding::judge(
                "consent_flips",
                config.consent_flips,
                (keys > 0).then(|| flipped as f64 / keys as f64),
                format!(
                    "{flipped} of {keys} keys in gold versions {previous} and {gold} changed has_sms_consent"
                ),
            )
        }
    };
    Ok([flips, phones])
}

/// Appends a run's findings to `audit/quality_checks` (replacing the table on a lake's
/// first run, so a run that died before recording itself leaves nothing behind).
pub async fn record(lake: &Path, run_id: i64, findings: &[Finding], first_run: bool) -> Result<()> {
    let dir = lake.join(schema::QUALITY_CHECKS);
    let mut run = Int64Builder::new();
    let mut check = StringBuilder::new();
    let mut severity = StringBuilder::new();
    let mut status = StringBuilder::new();
    let mut value = Float64Builder::new();
    let mut threshold = Float64Builder::new();
    let mut detail = StringBuilder::new();
    for f in findings {
        run.append_value(run_id);
        check.append_value(&f.check);
        severity.append_value(f.severity.code());
        status.append_value(f.status.code());
        value.append_option(f.value);
        threshold.append_value(f.threshold);
        detail.append_value(&f.detail);
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(run.finish()),
        Arc::new(check.finish()),
        Arc::new(severity.finish()),
        Arc::new(status.finish()),
        Arc::new(value.finish()),
        Arc::new(threshold.finish()),
        Arc::new(detail.finish()),
    ];
    let batch = RecordBatch::try_new(schema::quality_checks(), arrays)
        .expect("quality_checks batch matches its schema");
    let file = delta::write_parquet(&dir, &[batch])?;
    let mode = match first_run {
        true => CommitMode::Overwrite,
        false => CommitMode::Append,
    };
    delta::commit(&dir, &schema::quality_checks(), vec![file], mode).await?;
    Ok(())
}

/// The findings `audit/quality_checks` holds for a run, in evaluation order.
pub async fn load(lake: &Path, run_id: i64) -> Result<Vec<Finding>> {
    let dir = lake.join(schema::QUALITY_CHECKS);
    if delta::table_version(&dir).await?.is_none() {
        return Ok(vec![]);
    }
    let bad = |why: String| Error::Invalid {
        what: schema::QUALITY_CHECKS.into(),
        why,
    };
    let mut out = Vec::new();
    let filter = format!("run_id = {run_id}");
    delta::scan_table(&dir, Some(&filter), |b: RecordBatch| -> Result<()> {
        let check = column_strings(&b, "check")?;
        let severity = column_strings(&b, "severity")?;
        let status = column_strings(&b, "status")?;
        let detail = column_strings(&b, "detail")?;
        let value = b.column(4).as_primitive::<Float64Type>();
        let threshold = b.column(5).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            let code = |v: &[Option<String>]| v[i].clone().unwrap_or_default();
            out.push(Finding {
                check: code(&check),
                severity: Severity::from_code(&code(&severity))
                    .ok_or_else(|| bad(format!("unknown severity {:?}", code(&severity))))?,
                status: Status::from_code(&code(&status))
                    .ok_or_else(|| bad(format!("unknown status {:?}", code(&status))))?,
                value: (!value.is_null(i)).then(|| value.value(i)),
                threshold: threshold.value(i),
                detail: code(&detail),
            });
        }
        Ok(())
    })
    .await?;
    Ok(out)
}

/// What `phone-consent report` shows: a run, its checks, and the lake's history for charts.
#[derive(Clone, Debug)]
pub struct Report {
    /// The run.
    pub run: RunRecord,
    /// Its checks, in evaluation order.
    pub findings: Vec<Finding>,
    /// Every file in the ledger (its latest entry), by date then name.
    pub files: Vec<LedgerEntry>,
    /// Every snapshot with the keys it listed and dropped.
    pub snapshots: Vec<SnapshotListing>,
    /// Rejected rows and files in the lake, by reason, most first.
    pub rejects_by_reason: Vec<(String, u64)>,
}

/// The report of run `run_id` (the latest run without one).
pub async fn report(lake: &Path, run_id: Option<i64>) -> Result<Report> {
    let runs = runs::load(lake).await?;
    let run = match run_id {
        Some(id) => runs.iter().find(|r| r.run_id == id),
        None => runs.last(),
    }
    .cloned()
    .ok_or_else(|| Error::Invalid {
        what: run_id.map_or("the latest run".into(), |id| format!("run {id}")),
        why: match runs.last() {
            Some(last) => format!("the lake's runs are 1 to {}", last.run_id),
            None => "the lake has no completed run".into(),
        },
    })?;
    let findings = load(lake, run.run_id).await?;
    let mut files: Vec<LedgerEntry> = Ledger::load(lake).await?.entries().cloned().collect();
    files.sort_by(|a, b| (a.file_date, &a.file).cmp(&(b.file_date, &b.file)));
    let snapshots = snapshot_listings(lake).await?;
    let counts = delta::sql(
        lake,
        "SELECT reason, count(*) AS n FROM rejects GROUP BY reason ORDER BY n DESC, reason",
    )
    .await?;
    let mut rejects_by_reason = Vec::new();
    for b in counts {
        let reasons = column_strings(&b, "reason")?;
        let n = b.column(1).as_primitive::<Int64Type>();
        for (i, reason) in reasons.into_iter().enumerate() {
            rejects_by_reason.push((reason.unwrap_or_default(), n.value(i) as u64));
        }
    }
    Ok(Report {
        run,
        findings,
        files,
        snapshots,
        rejects_by_reason,
    })
}

#[cfg(test)]
mod tests;
