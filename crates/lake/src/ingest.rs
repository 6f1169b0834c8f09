//! `run`: the whole pipeline — discover, decode and read files in parallel, reconcile in
//! file order, then write bronze, silver and gold and commit them (gold last).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use phone_consent_core::{
    Date, FileKind, Provenance, Reconciler, Record, RejectReason, SnapshotBuilder,
};
use phone_consent_feed::{Dedup, FeedFile, FileReject, FileStats, decode, discover, read_text};

use crate::bronze::{Accepted, BronzeSink, RejectRow};
use crate::delta::{self, CommitMode, StagedFile};
use crate::pii::PiiHasher;
use crate::{Error, Result, publish, schema};

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
    outcome: std::result::Result<FileStats, FileReject>,
    staged: Option<StagedFile>,
}

enum Payload {
    Snapshot {
        date: Date,
        complete: bool,
        first_file: Arc<str>,
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

/// Runs the whole pipeline on a data root and publishes a new lake state.
pub async fn run(options: &RunOptions, progress: &dyn Progress) -> Result<RunSummary> {
    let started = Instant::now();
    let discovery = discover(&options.data_dir)?;
    let mut summary = RunSummary::default();
    let mut rejects: Vec<RejectRow> = Vec::new();
    for (path, problem) in &discovery.bad_names {
        summary.bad_names += 1;
        rejects.push(RejectRow {
            file: file_name(path).into(),
            line: None,
            raw: None,
            reason: RejectReason::InvalidFileName,
            detail: Some(problem.to_string()),
            kind: phone_consent_feed::name::kind_of(&file_name(path)),
            file_date: None,
        });
    }
    let tasks = group_tasks(discovery.files);
    let total_bytes: u64 = tasks
        .iter()
        .flat_map(|t| t.files())
        .map(|f| file_size(&f.path))
        .sum();
    progress.files_found(
        tasks.iter().map(|t| t.files().len() as u64).sum(),
        total_bytes,
    );
    std::fs::create_dir_all(&options.lake).map_err(|e| Error::io(&options.lake, e))?;
    let pii = PiiHasher::for_lake(&options.lake)?;

    let mut reconciler = Reconciler::new();
    let mut staged: HashMap<FileKind, Vec<StagedFile>> = HashMap::new();
    let threads = options.threads.max(1);
    let merged = Mutex::new(0usize);
    let advanced = Condvar::new();
    let next = AtomicUsize::new(0);
    // Workers read ahead of the in-order merge, bounded so memory stays proportional to keys:
    // at most `threads + 1` unmerged snapshots (the big tasks) and a few dozen small files.
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
                && snapshots_before[i] - snapshots_before[merged] <= threads)
    };
    let (tx, rx) = mpsc::channel::<(usize, Result<TaskDone>)>();
    let lake = options.lake.clone();

    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..threads {
            let tx = tx.clone();
            let (tasks, next, merged, advanced, lake) = (&tasks, &next, &merged, &advanced, &lake);
            let within_window = &within_window;
            let mut pii = pii.clone();
            scope.spawn(move || {
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
                    let done = process(&tasks[i], lake, &mut pii, progress);
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
                    // Let waiting workers finish so the scope can end.
                    *merged.lock().expect("merge counter") = usize::MAX / 2;
                    advanced.notify_all();
                    continue;
                }
            }
            while let Some(done) = pending.remove(&expected) {
                apply(
                    done,
                    &mut reconciler,
                    &mut summary,
                    &mut rejects,
                    &mut staged,
                )?;
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

    summary.snapshots = reconciler.calendar().entries().len() as u64;
    summary.damaged_snapshots = reconciler
        .calendar()
        .entries()
        .iter()
        .filter(|e| !e.complete)
        .count() as u64;
    for r in &rejects {
        *summary.rejects.entry(r.reason).or_default() += 1;
    }

    progress.stage("writing bronze");
    for kind in [FileKind::Enrollment, FileKind::Snapshot, FileKind::Change] {
        let files = staged.remove(&kind).unwrap_or_default();
        delta::commit(
            options.lake.join(schema::bronze_table(kind)),
            &schema::bronze(kind),
            files,
            CommitMode::Overwrite,
        )
        .await?;
    }
    let rejects_dir = options.lake.join(schema::REJECTS);
    let reject_files = match crate::publish::rejects_batch(&rejects) {
        Some(batch) => vec![delta::write_parquet(&rejects_dir, &[batch])?],
        None => vec![],
    };
    delta::commit(
        &rejects_dir,
        &schema::rejects(),
        reject_files,
        CommitMode::Overwrite,
    )
    .await?;

    progress.stage("reconciling and writing silver and gold");
    summary.published = publish::publish(&options.lake, &reconciler).await?;
    summary.elapsed = started.elapsed();
    Ok(summary)
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

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Reads one task's files: each decoded whole before any of its rows is delivered, so a
/// file that cannot be read to its end contributes nothing.
fn process(
    task: &Task,
    lake: &Path,
    pii: &mut PiiHasher,
    progress: &dyn Progress,
) -> Result<TaskDone> {
    let mut dedup = Dedup::default();
    let mut builder = SnapshotBuilder::default();
    let mut rows = Vec::new();
    let mut files = Vec::new();
    let mut rejects = Vec::new();
    for file in task.files() {
        let bytes = file_size(&file.path);
        let name: Arc<str> = file.name.as_str().into();
        let accepted = match task {
            Task::Snapshot(..) => Accepted::Snapshot(&mut builder),
            Task::File(_) => Accepted::Rows(&mut rows),
        };
        // Rows reach the sink only once the file is decoded whole and its header passed.
        let mut sink =
            BronzeSink::new(lake, file.kind, name.clone(), file.file_date, pii, accepted);
        let outcome = decode::decode(&file.path)
            .map_err(|detail| FileReject {
                reason: RejectReason::UnreadableFile,
                detail,
            })
            .and_then(|text| read_text(file.kind, file.file_date, &text, &mut dedup, &mut sink));
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

fn apply(
    done: TaskDone,
    reconciler: &mut Reconciler,
    summary: &mut RunSummary,
    rejects: &mut Vec<RejectRow>,
    staged: &mut HashMap<FileKind, Vec<StagedFile>>,
) -> Result<()> {
    for f in done.files {
        let counts = summary.kinds.entry(f.file.kind).or_default();
        counts.bytes += f.bytes;
        match f.outcome {
            Ok(stats) => {
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
            Err(_) => counts.files_rejected += 1,
        }
        if let Some(s) = f.staged {
            staged.entry(f.file.kind).or_default().push(s);
        }
    }
    rejects.extend(done.rejects);
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
