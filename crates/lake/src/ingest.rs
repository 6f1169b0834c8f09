//! `run`: the pipeline — find the files the ingest ledger does not have yet, decode and
//! read them in parallel, reconcile in file order on top of silver (or from bronze when a
//! snapshot arrives out of order), then write bronze, silver and gold (gold last) and
//! record the files in the ledger and the run in `runs`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use phone_consent_core::{
    Date, FileKind, FileName, KeyHistory, KeyMap, Provenance, Reconciler, Record, RejectReason,
    SnapshotBuilder,
};
use phone_consent_feed::name::NameProblem;
use phone_consent_feed::{Dedup, FeedFile, FileReject, FileStats, decode, discover, read_text};

use crate::bronze::{Accepted, BronzeBuffers, BronzeSink, RejectRow};
use crate::delta::{self, CommitMode, StagedFile, WriteOptions};
use crate::ledger::{self, FileStatus, Ledger, LedgerEntry};
use crate::pii::PiiHasher;
use crate::publish::Publication;
use crate::quality::{Coverage, FileOutcome, Finding, RunFacts};
use crate::runs::{self, RunRecord};
use crate::{
    Error, Result, audit_trail, history, publish, quality, rebuild, remote_feed, schema, store,
};

/// Reports a run's progress (the CLI draws bars or log lines).
pub trait Progress: Sync {
    /// The feed was discovered: this many files and compressed bytes to read.
    fn files_found(&self, files: u64, bytes: u64);
    /// One file was read.
    fn file_done(&self, file: &str, bytes: u64);
    /// A new stage began (e.g. "writing silver").
    fn stage(&self, name: &str);
}

/// A [`Progress`] that reports nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn files_found(&self, _: u64, _: u64) {}
    fn file_done(&self, _: &str, _: u64) {}
    fn stage(&self, _: &str) {}
}

/// What `run` needs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The feed's data root.
    pub data_dir: PathBuf,
    /// The lake root.
    pub lake: PathBuf,
    /// Worker threads (default: every core).
    pub threads: usize,
    /// File names to apply again although the ledger has them (`--replace NAME`).
    pub replace: Vec<String>,
    /// Re-derive silver and gold from bronze even when no file is new (`--rebuild`).
    pub rebuild: bool,
    /// The data-quality checks' severities and thresholds.
    pub quality: quality::Config,
}

/// How a run derived silver and gold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunMode {
    /// The lake's first run: every file of the feed.
    #[default]
    Full,
    /// The new files on top of silver.
    Incremental,
    /// Every history re-derived from bronze: a snapshot arrived out of date order, a file
    /// was replaced, the previous run died half way, or `--rebuild`.
    Rebuild,
    /// No new file: nothing written but the run's row.
    Unchanged,
}

impl RunMode {
    /// `full`, `incremental`, `rebuild` or `unchanged`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Incremental => "incremental",
            Self::Rebuild => "rebuild",
            Self::Unchanged => "unchanged",
        }
    }
}

/// The accounting of one kind of file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindCounts {
    /// Files applied.
    pub files: u64,
    /// Files rejected whole.
    pub files_rejected: u64,
    /// Compressed bytes read.
    pub bytes: u64,
    /// Rows read, accepted, rejected, dropped as duplicates.
    pub rows: FileStats,
}

/// What a run did: the closing summary.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    /// The run's id in `runs`.
    pub run_id: i64,
    /// How silver and gold were derived.
    pub mode: RunMode,
    /// Files skipped because the ledger has them with the same content.
    pub files_skipped: u64,
    /// Files refused as `conflicting_redelivery`: name and why.
    pub refused: Vec<(String, String)>,
    /// Files applied again on purpose (`--replace`).
    pub replaced: Vec<String>,
    /// Bytes read from the feed (new files, and known files whose size or time changed).
    pub feed_bytes_read: u64,
    /// Counts per kind of file.
    pub kinds: BTreeMap<FileKind, KindCounts>,
    /// Rejects by reason (rows and whole files).
    pub rejects: BTreeMap<RejectReason, u64>,
    /// Files whose names did not parse.
    pub bad_names: u64,
    /// Files with columns the contract does not know, or lacking optional ones.
    pub schema_warnings: Vec<String>,
    /// Snapshots, and how many were damaged.
    pub snapshots: u64,
    /// Damaged snapshots (a file rejected): they derived no `missing` events.
    pub damaged_snapshots: u64,
    /// Every file the run read or rejected by name, with its accounting.
    pub files: Vec<FileOutcome>,
    /// The data-quality checks, as recorded in `quality_checks`.
    pub quality: Vec<Finding>,
    /// The feed's coverage after the run.
    pub coverage: Coverage,
    /// The published state.
    pub published: publish::Published,
    /// Wall time.
    pub elapsed: Duration,
}

impl RunSummary {
    /// Rows read = accepted + rejected + duplicates, over every file.
    pub fn rows(&self) -> FileStats {
        let mut t = FileStats::default();
        for k in self.kinds.values() {
            t.rows_read += k.rows.rows_read;
            t.accepted += k.rows.accepted;
            t.rejected += k.rows.rejected;
            t.duplicates += k.rows.duplicates;
            t.consent_date_substituted += k.rows.consent_date_substituted;
        }
        t
    }
}

/// How many tasks workers may read ahead of the merge (besides the snapshot bound).
const READ_AHEAD_FILES: usize = 64;

enum Task {
    Snapshot(Date, Vec<FeedFile>),
    File(FeedFile),
}

impl Task {
    fn files(&self) -> &[FeedFile] {
        match self {
            Task::Snapshot(_, files) => files,
            Task::File(f) => std::slice::from_ref(f),
        }
    }
}

struct FileDone {
    file: FeedFile,
    bytes: u64,
    modified_ms: i64,
    sha256: String,
    outcome: std::result::Result<FileStats, FileReject>,
    staged: Option<StagedFile>,
}

enum Payload {
    Snapshot {
        date: Date,
        complete: bool,
        first_file: FileName,
        builder: SnapshotBuilder,
    },
    Rows {
        file_date: Date,
        rows: Vec<(Record, Provenance)>,
    },
}

struct TaskDone {
    files: Vec<FileDone>,
    rejects: Vec<RejectRow>,
    payload: Payload,
}

/// Runs the pipeline on a data root: applies the files the lake's ledger does not have and
/// publishes a new lake state (nothing new: nothing published).
pub async fn run(options: &RunOptions, progress: &dyn Progress) -> Result<RunSummary> {
    let started = Instant::now();
    let started_at_us = now_us();
    let feed_url = store::remote_url(&options.data_dir)?;
    // A local feed is found before the lake is touched: a wrong DATA_DIR creates nothing.
    let local_discovery = match &feed_url {
        None => Some(discover(&options.data_dir)?),
        Some(_) => None,
    };
    if store::remote_url(&options.lake)?.is_none() {
        std::fs::create_dir_all(&options.lake).map_err(|e| Error::io(&options.lake, e))?;
    }
    let past_runs = runs::load(&options.lake).await?;
    let last_run = past_runs.last().cloned();
    let mut ledger = match last_run {
        Some(_) => Ledger::load(&options.lake).await?,
        // The lake's first (completed) run: whatever a run that died left behind is redone.
        None => Ledger::default(),
    };
    let run_id = last_run.as_ref().map_or(1, |r| r.run_id + 1);
    let mut summary = RunSummary {
        run_id,
        ..RunSummary::default()
    };
    // A feed in an object store: the files the ledger may need are fetched into a local
    // folder; those it has applied, with the same size and time, are skipped unread.
    let remote_feed = match &feed_url {
        Some(url) => Some(remote_feed::fetch(url, &ledger, &options.replace).await?),
        None => None,
    };
    let discovery = match (local_discovery, &remote_feed) {
        (Some(discovery), _) => discovery,
        (None, feed) => discover(
            feed.as_ref()
                .map_or(options.data_dir.as_path(), |f| f.dir()),
        )?,
    };
    let arrivals = sort_arrivals(discovery, &ledger, &options.replace)?;
    summary.files_skipped = arrivals.skipped + remote_feed.as_ref().map_or(0, |f| f.skipped_unread);
    summary.feed_bytes_read = arrivals.hashed_bytes;
    summary.refused = arrivals.refused.clone();
    summary.replaced = arrivals.replaced.clone();

    let calendar = history::load_calendar_if_any(&options.lake).await?;
    let silver_matches_ledger = match &last_run {
        Some(r) => {
            r.phone_events_version
                == delta::table_version(options.lake.join(schema::PHONE_EVENTS)).await?
        }
        None => true,
    };
    let snapshot_in_the_past = arrivals.files.iter().any(|f| {
        f.kind == FileKind::Snapshot && calendar.newest().is_some_and(|n| f.file_date <= n)
    });
    // An audit trail laid out by an older version is re-derived in the current layout.
    let silver_layout_current = match &last_run {
        Some(_) => {
            let events = options.lake.join(schema::PHONE_EVENTS);
            delta::table_version(&events).await?.is_none()
                || delta::table_schema(&events).await?.fields() == schema::phone_events().fields()
        }
        None => true,
    };
    summary.mode = if last_run.is_none() {
        RunMode::Full
    } else if options.rebuild
        || !arrivals.replaced.is_empty()
        || !silver_matches_ledger
        || !silver_layout_current
        || snapshot_in_the_past
    {
        RunMode::Rebuild
    } else if arrivals.files.is_empty() && arrivals.bad_names.is_empty() {
        RunMode::Unchanged
    } else {
        RunMode::Incremental
    };

    let previous_gold = last_run.as_ref().and_then(|r| r.gold_version);
    if summary.mode == RunMode::Unchanged {
        summary.published = publish::current(&options.lake).await?;
        summary.snapshots = calendar.entries().len() as u64;
        check_quality(
            options,
            &mut summary,
            &ledger,
            calendar.newest(),
            previous_gold,
        )
        .await?;
        summary.elapsed = started.elapsed();
        record_run(options, &summary, started_at_us, &calendar).await?;
        return Ok(summary);
    }

    let mut rejects: Vec<RejectRow> = Vec::new();
    let mut entries: Vec<LedgerEntry> = Vec::new();
    for (path, problem, sha) in &arrivals.bad_names {
        summary.bad_names += 1;
        let name = file_name(path);
        rejects.push(RejectRow {
            file: name.as_str().into(),
            line: None,
            raw: None,
            reason: RejectReason::InvalidFileName,
            detail: Some(problem.to_string()),
            kind: phone_consent_feed::name::kind_of(&name),
            file_date: None,
        });
        summary.files.push(FileOutcome {
            name: name.clone(),
            kind: phone_consent_feed::name::kind_of(&name),
            file_date: None,
            result: Err(FileReject {
                reason: RejectReason::InvalidFileName,
                detail: problem.to_string(),
            }),
        });
        let (size, modified_ms) = file_meta(path);
        entries.push(LedgerEntry {
            kind: phone_consent_feed::name::kind_of(&name),
            file_date: None,
            size,
            modified_ms,
            sha256: sha.clone(),
            status: FileStatus::Rejected,
            reason: Some(RejectReason::InvalidFileName),
            rows: [0; 4],
            run_id,
            applied_at_us: started_at_us,
            replaced: arrivals.replaced.contains(&name),
            file: name,
        });
    }
    let tasks = group_tasks(arrivals.files);
    let total_bytes: u64 = tasks
        .iter()
        .flat_map(|t| t.files())
        .map(|f| file_meta(&f.path).0)
        .sum();
    progress.files_found(
        tasks.iter().map(|t| t.files().len() as u64).sum(),
        total_bytes,
    );
    let pii = PiiHasher::for_lake(&options.lake)?;

    // An incremental run with a snapshot re-folds every key: silver's histories are read
    // beside the new files and taken in before the first is merged, for the snapshot to
    // extend. Without one, only the keys its rows touch are re-folded, their stored events
    // read once the new files are.
    let with_snapshot = tasks.iter().any(|t| matches!(t, Task::Snapshot(..)));
    let threads = options.threads.max(1);
    let silver_files = match summary.mode {
        RunMode::Incremental if with_snapshot => {
            progress.stage("reading silver and the new files");
            Some(audit_trail::stored_files(&options.lake).await?)
        }
        _ => None,
    };
    let mut reconciler = match summary.mode {
        RunMode::Incremental => Reconciler::from_parts(KeyMap::default(), calendar.clone()),
        _ => Reconciler::new(),
    };
    let derive_from_feed = summary.mode != RunMode::Rebuild;
    let mut staged: HashMap<FileKind, Vec<StagedFile>> = HashMap::new();
    let merged = Mutex::new(0usize);
    let advanced = Condvar::new();
    let next = AtomicUsize::new(0);
    // Workers read ahead of the in-order merge, bounded so memory stays proportional to keys:
    // at most one unmerged snapshot (the big tasks) per worker, two with one worker so that
    // its reading overlaps the merge, and a few dozen small files. A third snapshot with two
    // workers cost 20–85 MB of peak RSS and saved no time (full benchmark feed).
    let snapshots_ahead = threads.max(2) - 1;
    let snapshots_before: Vec<usize> = tasks
        .iter()
        .scan(0usize, |n, t| {
            let before = *n;
            *n += usize::from(matches!(t, Task::Snapshot(..)));
            Some(before)
        })
        .collect();
    let within_window = |i: usize, merged: usize| {
        merged >= tasks.len()
            || (i < merged + READ_AHEAD_FILES
                && snapshots_before[i] - snapshots_before[merged] <= snapshots_ahead)
    };
    let (tx, rx) = mpsc::channel::<(usize, Result<TaskDone>)>();
    let lake = options.lake.clone();

    std::thread::scope(|scope| -> Result<()> {
        // Lets waiting workers finish so the scope can end when the merge fails.
        let release = || {
            *merged.lock().expect("merge counter") = usize::MAX / 2;
            advanced.notify_all();
        };
        // The histories are built on the reader's thread too, beside the snapshot's decoding.
        let mut silver = silver_files.as_deref().map(|files| {
            scope.spawn(move || {
                audit_trail::read_stored(files, None, threads).map(|stored| {
                    (stored.into_iter())
                        .map(|(key, events)| (key, KeyHistory::from_events(events)))
                        .collect::<KeyMap<_>>()
                })
            })
        });
        for _ in 0..threads {
            let tx = tx.clone();
            let (tasks, next, merged, advanced, lake) = (&tasks, &next, &merged, &advanced, &lake);
            let within_window = &within_window;
            let mut pii = pii.clone();
            scope.spawn(move || {
                let mut buffers = Buffers::default();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= tasks.len() {
                        break;
                    }
                    {
                        let mut m = merged.lock().expect("merge counter");
                        while !within_window(i, *m) {
                            m = advanced.wait(m).expect("merge counter");
                        }
                    }
                    let done = process(&tasks[i], lake, &mut pii, &mut buffers, progress);
                    let failed = done.is_err();
                    if tx.send((i, done)).is_err() || failed {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<usize, TaskDone> = BTreeMap::new();
        let mut expected = 0usize;
        let mut failure = None;
        for (i, done) in rx.iter() {
            match done {
                Ok(done) => {
                    pending.insert(i, done);
                }
                Err(e) => {
                    failure.get_or_insert(e);
                    release();
                    continue;
                }
            }
            while let Some(done) = pending.remove(&expected) {
                if let Some(reader) = silver.take() {
                    let histories = reader.join().expect("silver reader panicked");
                    let histories = histories.inspect_err(|_| release())?;
                    reconciler = Reconciler::from_parts(histories, calendar.clone());
                }
                let applied = Applied {
                    summary: &mut summary,
                    rejects: &mut rejects,
                    staged: &mut staged,
                    entries: &mut entries,
                    run_id,
                    at_us: started_at_us,
                    replaced: &arrivals.replaced,
                };
                apply(done, derive_from_feed.then_some(&mut reconciler), applied)
                    .inspect_err(|_| release())?;
                expected += 1;
                *merged.lock().expect("merge counter") = expected;
                advanced.notify_all();
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })?;
    for r in &rejects {
        *summary.rejects.entry(r.reason).or_default() += 1;
    }
    summary.feed_bytes_read += entries.iter().map(|e| e.size).sum::<u64>();

    progress.stage("writing bronze");
    let full = summary.mode == RunMode::Full;
    let prefixes: Vec<String> = entries
        .iter()
        .map(|e| ledger::file_prefix(&e.file))
        .collect();
    let mode = || match full {
        true => CommitMode::Overwrite,
        false => CommitMode::Replace(prefixes.clone()),
    };
    for kind in [FileKind::Enrollment, FileKind::Snapshot, FileKind::Change] {
        let files = staged.remove(&kind).unwrap_or_default();
        let touched = entries.iter().any(|e| e.kind == Some(kind));
        if files.is_empty() && !touched && !full {
            continue;
        }
        delta::commit(
            options.lake.join(schema::bronze_table(kind)),
            &schema::bronze(kind),
            files,
            mode(),
        )
        .await?;
    }
    let rejects_dir = options.lake.join(schema::REJECTS);
    let reject_files = stage_rejects(&rejects_dir, &rejects)?;
    delta::commit(&rejects_dir, &schema::rejects(), reject_files, mode()).await?;

    for e in &entries {
        ledger.record(e.clone());
    }
    if summary.mode == RunMode::Rebuild {
        progress.stage("re-deriving histories from bronze");
        reconciler = rebuild::from_bronze(&options.lake, &ledger).await?;
    }
    let touched = (summary.mode == RunMode::Incremental && !with_snapshot).then(|| {
        Arc::new(audit_trail::KeySet::new(
            reconciler.histories().map(|(k, _)| k),
        ))
    });
    if let Some(keys) = &touched {
        progress.stage("reading the touched keys' audit trail");
        let stored = audit_trail::load_stored(&options.lake, Some(keys), threads).await?;
        reconciler.add_stored_of_known_keys(stored);
    }
    summary.snapshots = reconciler.calendar().entries().len() as u64;
    summary.damaged_snapshots = reconciler
        .calendar()
        .entries()
        .iter()
        .filter(|e| !e.complete)
        .count() as u64;

    progress.stage("reconciling and writing silver and gold");
    let run_of: publish::RunOf = ledger
        .entries()
        .map(|e| (e.file.as_str(), e.run_id))
        .collect();
    let publication = match (&touched, summary.mode) {
        (Some(keys), _) => Publication::TouchedKeys { run_id, keys },
        (None, RunMode::Incremental) => Publication::EveryKey { run_id },
        (None, _) => Publication::Whole { run_id },
    };
    summary.published = publish::publish(&options.lake, &reconciler, &run_of, publication).await?;

    let ledger_dir = options.lake.join(schema::INGEST_LEDGER);
    let ledger_file = delta::write_parquet(&ledger_dir, &[ledger::batch(&entries)])?;
    let ledger_mode = if full {
        CommitMode::Overwrite
    } else {
        CommitMode::Append
    };
    delta::commit(
        &ledger_dir,
        &schema::ingest_ledger(),
        vec![ledger_file],
        ledger_mode,
    )
    .await?;
    let calendar = reconciler.calendar().clone();
    // Freeing millions of events takes a second or more: done beside the run's last steps
    // (a process that ends first just skips it).
    std::thread::spawn(move || drop(reconciler));
    let newest_snapshot = calendar.newest();
    check_quality(
        options,
        &mut summary,
        &ledger,
        newest_snapshot,
        previous_gold,
    )
    .await?;
    summary.elapsed = started.elapsed();
    record_run(options, &summary, started_at_us, &calendar).await?;
    Ok(summary)
}

/// Evaluates the data-quality checks and records them in `quality_checks`.
async fn check_quality(
    options: &RunOptions,
    summary: &mut RunSummary,
    ledger: &Ledger,
    newest_snapshot: Option<Date>,
    previous_gold: Option<i64>,
) -> Result<()> {
    summary.coverage = Coverage::of(ledger, newest_snapshot);
    let facts = RunFacts {
        run_id: summary.run_id,
        files: &summary.files,
        refused: &summary.refused,
        rejects: &summary.rejects,
        ledger,
        coverage: summary.coverage,
        previous_gold,
        gold: Some(summary.published.gold_version),
        gold_profile: summary.published.profile.as_ref(),
    };
    summary.quality = quality::evaluate(&options.lake, &options.quality, &facts).await?;
    let first_run = summary.mode == RunMode::Full;
    quality::record(&options.lake, summary.run_id, &summary.quality, first_run).await?;
    Ok(())
}

/// Appends the run's row to `runs` (its last commit: a run without one did not complete).
async fn record_run(
    options: &RunOptions,
    summary: &RunSummary,
    started_at_us: i64,
    calendar: &phone_consent_core::SnapshotCalendar,
) -> Result<()> {
    let rows = summary.rows();
    let applied: u64 = summary.kinds.values().map(|k| k.files).sum();
    let rejected: u64 = summary
        .kinds
        .values()
        .map(|k| k.files_rejected)
        .sum::<u64>()
        + summary.bad_names;
    let record = RunRecord {
        run_id: summary.run_id,
        started_at_us,
        duration_ms: summary.elapsed.as_millis() as i64,
        mode: summary.mode.code().into(),
        data_dir: options.data_dir.display().to_string(),
        files: [
            applied,
            rejected,
            summary.files_skipped,
            summary.refused.len() as u64,
        ],
        feed_bytes_read: summary.feed_bytes_read,
        rows: [
            rows.rows_read,
            rows.accepted,
            rows.rejected,
            rows.duplicates,
        ],
        keys: summary.published.keys,
        can_send: summary.published.can_send,
        newest_snapshot: calendar.newest(),
        phone_events_version: delta::table_version(options.lake.join(schema::PHONE_EVENTS)).await?,
        gold_version: Some(summary.published.gold_version),
        feed_date: summary.coverage.feed_date,
        snapshot_age_days: summary.coverage.snapshot_age_days,
        uncovered_days: summary.coverage.uncovered_days,
        checks: [quality::Status::Warn, quality::Status::Error]
            .map(|level| summary.quality.iter().filter(|f| f.status == level).count() as u64),
    };
    runs::append(&options.lake, &record).await?;
    Ok(())
}

/// The feed's files sorted against the ledger.
struct Arrivals {
    /// Files to apply (new, or replaced on purpose), in (date, kind, name) order.
    files: Vec<FeedFile>,
    /// New files whose names did not parse, with why and their SHA-256.
    bad_names: Vec<(PathBuf, NameProblem, String)>,
    /// Files the ledger has with the same content.
    skipped: u64,
    /// Files refused: the ledger has the name with other content.
    refused: Vec<(String, String)>,
    /// Files applied again on purpose.
    replaced: Vec<String>,
    /// Bytes read to hash known files whose size or time changed.
    hashed_bytes: u64,
}

/// SEMANTICS §6: a file the ledger has — same size and modification time, or else same
/// SHA-256 — is skipped without being decoded; the same name with other content is refused
/// unless it is to be replaced.
fn sort_arrivals(
    discovery: phone_consent_feed::Discovery,
    ledger: &Ledger,
    replace: &[String],
) -> Result<Arrivals> {
    let mut names: Vec<String> = discovery.files.iter().map(|f| f.name.clone()).collect();
    names.extend(discovery.bad_names.iter().map(|(p, _)| file_name(p)));
    if let Some(missing) = replace.iter().find(|r| !names.contains(r)) {
        return Err(Error::Invalid {
            what: format!("--replace {missing}"),
            why: "no file of that name under the data root's feed folders".into(),
        });
    }
    let mut out = Arrivals {
        files: Vec::new(),
        bad_names: Vec::new(),
        skipped: 0,
        refused: Vec::new(),
        replaced: Vec::new(),
        hashed_bytes: 0,
    };
    // `Some(sha)` when the file is to be applied (the hash when already computed).
    let mut verdict = |path: &Path, name: &str| -> Result<Option<Option<String>>> {
        let Some(known) = ledger.get(name) else {
            return Ok(Some(None));
        };
        if replace.iter().any(|r| r == name) {
            out.replaced.push(name.to_owned());
            return Ok(Some(None));
        }
        let (size, modified_ms) = file_meta(path);
        if size == known.size && modified_ms == known.modified_ms {
            out.skipped += 1;
            return Ok(None);
        }
        let (sha, read) = ledger::sha256_file(path)?;
        out.hashed_bytes += read;
        if sha == known.sha256 {
            out.skipped += 1;
        } else {
            out.refused.push((
                name.to_owned(),
                format!(
                    "conflicting_redelivery: its SHA-256 {} differs from the {} applied by run {} \
                     ({} bytes then, {size} now); `run --replace {name}` applies it in place of the old one",
                    &sha[..12],
                    &known.sha256[..known.sha256.len().min(12)],
                    known.run_id,
                    known.size
                ),
            ));
        }
        Ok(None)
    };
    for f in discovery.files {
        if verdict(&f.path, &f.name)?.is_some() {
            out.files.push(f);
        }
    }
    for (path, problem) in discovery.bad_names {
        if verdict(&path, &file_name(&path))?.is_some() {
            let (sha, _) = ledger::sha256_file(&path)?;
            out.bad_names.push((path, problem, sha));
        }
    }
    Ok(out)
}

/// Stages the rejects in one file per feed file, named after it so that applying the file
/// again replaces them.
fn stage_rejects(dir: &Path, rejects: &[RejectRow]) -> Result<Vec<StagedFile>> {
    let mut by_file: BTreeMap<&str, Vec<RejectRow>> = BTreeMap::new();
    for r in rejects {
        by_file.entry(&r.file).or_default().push(r.clone());
    }
    let mut files = Vec::new();
    for (file, rows) in by_file {
        if let Some(batch) = publish::rejects_batch(&rows) {
            let options = WriteOptions {
                file_prefix: Some(ledger::file_prefix(file)),
                ..WriteOptions::default()
            };
            files.push(delta::write_parquet_with(dir, &[batch], &options)?);
        }
    }
    Ok(files)
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn group_tasks(files: Vec<FeedFile>) -> Vec<Task> {
    let mut tasks: Vec<Task> = Vec::new();
    for f in files {
        match (f.kind, tasks.last_mut()) {
            (FileKind::Snapshot, Some(Task::Snapshot(date, parts))) if *date == f.file_date => {
                parts.push(f)
            }
            (FileKind::Snapshot, _) => tasks.push(Task::Snapshot(f.file_date, vec![f])),
            _ => tasks.push(Task::File(f)),
        }
    }
    tasks
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A file's size and modification time (ms since the Unix epoch); zeros when unreadable
/// (reading it then rejects it).
fn file_meta(path: &Path) -> (u64, i64) {
    std::fs::metadata(path).map_or((0, 0), |m| {
        let modified = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64);
        (m.len(), modified)
    })
}

/// A worker's file buffers, kept from file to file: allocating ~200 MB afresh for each file
/// cost the kernel's zeroing of every page.
#[derive(Default)]
struct Buffers {
    /// The file as stored.
    raw: Vec<u8>,
    /// Its decoded text.
    text: Vec<u8>,
    /// Its bronze columns.
    bronze: BronzeBuffers,
}

/// Reads a file into `buf` (cleared first).
fn read_into(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Read;
    buf.clear();
    std::fs::File::open(path)?.read_to_end(buf)?;
    Ok(())
}

/// Reads one task's files: each decoded whole before any of its rows is delivered, so a
/// file that cannot be read to its end contributes nothing.
fn process(
    task: &Task,
    lake: &Path,
    pii: &mut PiiHasher,
    buffers: &mut Buffers,
    progress: &dyn Progress,
) -> Result<TaskDone> {
    let mut dedup = Dedup::default();
    let mut builder = SnapshotBuilder::default();
    let mut rows = Vec::new();
    let mut files = Vec::new();
    let mut rejects = Vec::new();
    for file in task.files() {
        let (bytes, modified_ms) = file_meta(&file.path);
        let name: Arc<str> = file.name.as_str().into();
        let accepted = match task {
            Task::Snapshot(..) => Accepted::Snapshot(&mut builder),
            Task::File(_) => Accepted::Rows(&mut rows),
        };
        // Rows reach the sink only once the file is decoded whole and its header passed.
        let mut sink = BronzeSink::new(
            lake,
            file.kind,
            name.clone(),
            file.file_date,
            pii,
            &mut buffers.bronze,
            accepted,
        );
        let raw = read_into(&file.path, &mut buffers.raw).map(|()| &buffers.raw[..]);
        let sha256 = raw
            .as_ref()
            .map_or_else(|_| String::new(), |raw| ledger::sha256_hex(raw));
        let outcome = raw
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|raw| decode::decode_into(raw, &mut buffers.text))
            .map_err(|detail| FileReject {
                reason: RejectReason::UnreadableFile,
                detail,
            })
            .and_then(|text| {
                sink.expect_rows_of(text);
                read_text(file.kind, file.file_date, text, &mut dedup, &mut sink)
            });
        let mut staged = None;
        match &outcome {
            Ok(_) => {
                rejects.append(&mut sink.rejects);
                staged = sink.finish()?;
            }
            Err(reject) => rejects.push(RejectRow {
                file: name,
                line: None,
                raw: None,
                reason: reject.reason,
                detail: Some(reject.detail.clone()),
                kind: Some(file.kind),
                file_date: Some(file.file_date),
            }),
        }
        progress.file_done(&file.name, bytes);
        files.push(FileDone {
            file: file.clone(),
            bytes,
            modified_ms,
            sha256,
            outcome,
            staged,
        });
    }
    let payload = match task {
        Task::Snapshot(date, parts) => Payload::Snapshot {
            date: *date,
            complete: files.iter().all(|f| f.outcome.is_ok()),
            first_file: parts[0].name.as_str().into(),
            builder,
        },
        Task::File(f) => Payload::Rows {
            file_date: f.file_date,
            rows,
        },
    };
    Ok(TaskDone {
        files,
        rejects,
        payload,
    })
}

/// Where `apply` records a task's files.
struct Applied<'a> {
    summary: &'a mut RunSummary,
    rejects: &'a mut Vec<RejectRow>,
    staged: &'a mut HashMap<FileKind, Vec<StagedFile>>,
    entries: &'a mut Vec<LedgerEntry>,
    run_id: i64,
    at_us: i64,
    replaced: &'a [String],
}

/// Accounts for a task's files and, when deriving from the feed, reconciles its rows.
fn apply(done: TaskDone, reconciler: Option<&mut Reconciler>, to: Applied<'_>) -> Result<()> {
    let summary = to.summary;
    for f in done.files {
        summary.files.push(FileOutcome {
            name: f.file.name.clone(),
            kind: Some(f.file.kind),
            file_date: Some(f.file.file_date),
            result: f.outcome.clone(),
        });
        let counts = summary.kinds.entry(f.file.kind).or_default();
        counts.bytes += f.bytes;
        let mut entry = LedgerEntry {
            file: f.file.name.clone(),
            kind: Some(f.file.kind),
            file_date: Some(f.file.file_date),
            size: f.bytes,
            modified_ms: f.modified_ms,
            sha256: f.sha256,
            status: FileStatus::Applied,
            reason: None,
            rows: [0; 4],
            run_id: to.run_id,
            applied_at_us: to.at_us,
            replaced: to.replaced.contains(&f.file.name),
        };
        match f.outcome {
            Ok(stats) => {
                entry.rows = [
                    stats.rows_read,
                    stats.accepted,
                    stats.rejected,
                    stats.duplicates,
                ];
                counts.files += 1;
                counts.rows.rows_read += stats.rows_read;
                counts.rows.accepted += stats.accepted;
                counts.rows.rejected += stats.rejected;
                counts.rows.duplicates += stats.duplicates;
                counts.rows.consent_date_substituted += stats.consent_date_substituted;
                if !stats.unknown_columns.is_empty() {
                    summary.schema_warnings.push(format!(
                        "{}: unknown column(s) {}",
                        f.file.name,
                        stats.unknown_columns.join(", ")
                    ));
                }
                if !stats.missing_optional.is_empty() {
                    summary.schema_warnings.push(format!(
                        "{}: lacks optional column(s) {}",
                        f.file.name,
                        stats.missing_optional.join(", ")
                    ));
                }
            }
            Err(reject) => {
                counts.files_rejected += 1;
                entry.status = FileStatus::Rejected;
                entry.reason = Some(reject.reason);
            }
        }
        to.entries.push(entry);
        if let Some(s) = f.staged {
            to.staged.entry(f.file.kind).or_default().push(s);
        }
    }
    to.rejects.extend(done.rejects);
    let Some(reconciler) = reconciler else {
        return Ok(());
    };
    match done.payload {
        Payload::Snapshot {
            date,
            complete,
            first_file,
            builder,
        } => {
            reconciler
                .add_snapshot(date, complete, first_file, builder)
                .map_err(|e| Error::Invalid {
                    what: "snapshot order".into(),
                    why: e.to_string(),
                })?;
        }
        Payload::Rows { file_date, rows } => {
            for (record, provenance) in rows {
                reconciler.add_row_event(record, file_date, provenance);
            }
        }
    }
    Ok(())
}
