//! Silver and gold from the reconciled histories: fold every key, write `phone_events`,
//! `phone_state`, `snapshots` and `phone_consent`, and commit gold last.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Date32Builder, Int64Builder, RecordBatch,
    StringBuilder,
};
use deltalake::arrow::datatypes::{Int64Type, SchemaRef};
use phone_consent_core::{
    Date, Event, EventKind, Key, KeyHistory, PhoneState, Reconciler, SnapshotCalendar, decide,
};

use crate::audit_trail::{self, KeySet};
use crate::bronze::RejectRow;
use crate::delta::{self, CommitMode};
use crate::served::GoldSources;
use crate::{Result, history, schema};

/// What a publication holds: the counts of the closing summary and gold's version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Keys in gold.
    pub keys: u64,
    /// Keys hard-deleted.
    pub hard_deleted: u64,
    /// Keys soft-deleted.
    pub soft_deleted: u64,
    /// Keys with consent TRUE.
    pub consent_true: u64,
    /// Keys with consent FALSE.
    pub consent_false: u64,
    /// Keys with no consent statement.
    pub consent_null: u64,
    /// Keys that may be texted.
    pub can_send: u64,
    /// Change records that met a deleted key (SEMANTICS §3 `change_after_delete`).
    pub changes_after_delete: u64,
    /// Events in the audit trail.
    pub events: u64,
    /// The version of gold `phone_consent` published.
    pub gold_version: i64,
    /// What the data-quality checks need of gold, counted while publishing it (`None` when
    /// nothing was published).
    pub profile: Option<GoldProfile>,
}

/// What the data-quality checks need of a published gold, counted from its rows in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GoldProfile {
    /// For each number of accounts a phone is on, how many phones are on that many.
    pub accounts_per_phone: BTreeMap<u64, u64>,
    /// Keys in both the previous gold and this one, and how many of them changed
    /// `has_sms_consent` — known when only the touched keys were re-folded (every other key
    /// was carried over unchanged).
    pub consent_flips: Option<(u64, u64)>,
}

/// What a publication rewrites (see [`crate::audit_trail`] for the audit trail's files).
#[derive(Clone, Copy, Debug)]
pub enum Publication<'a> {
    /// Every table from every key's history: the lake's first run, a rebuild.
    Whole {
        /// The run publishing.
        run_id: i64,
    },
    /// A run that applied a snapshot: every key re-folded; the audit trail gains this run's
    /// row events and its observed runs and `missing` events are rewritten.
    EveryKey {
        /// The run publishing.
        run_id: i64,
    },
    /// A run without a snapshot: the histories are those of the keys its files touched;
    /// their rows replace theirs and every other key's rows are carried over unchanged.
    TouchedKeys {
        /// The run publishing.
        run_id: i64,
        /// The keys re-folded.
        keys: &'a Arc<KeySet>,
    },
}

impl Publication<'_> {
    fn run_id(&self) -> i64 {
        match *self {
            Self::Whole { run_id }
            | Self::EveryKey { run_id }
            | Self::TouchedKeys { run_id, .. } => run_id,
        }
    }

    fn touched(&self) -> Option<&Arc<KeySet>> {
        match self {
            Self::TouchedKeys { keys, .. } => Some(keys),
            _ => None,
        }
    }
}

/// Folds the reconciler's keys and publishes silver then gold, as `publication` says. Keys
/// are folded, and their audit trail written, in parallel slices (files streamed in
/// batches).
///
/// `run_of` maps each applied file to the run that applied it (the audit trail's `run_id`).
pub async fn publish(
    lake: &Path,
    reconciler: &Reconciler,
    run_of: &RunOf<'_>,
    publication: Publication<'_>,
) -> Result<Published> {
    // Keys copied out of the histories: sorting them in place compares within one array,
    // not through a reference into the histories (a cache miss each).
    let mut keys: Vec<(Key, &KeyHistory)> = reconciler
        .histories()
        .map(|(k, h)| (k.clone(), h))
        .collect();
    keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let calendar = reconciler.calendar();
    let events_dir = lake.join(schema::PHONE_EVENTS);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    // A slice per thread, but none smaller than FOLD_SLICE_KEYS: each writes its own files,
    // and a run that touched a few keys should add one file, not one per core.
    let slices = keys.len().div_ceil(FOLD_SLICE_KEYS).clamp(1, threads);
    let slice = keys.len().div_ceil(slices).max(1);
    let parts = std::thread::scope(|scope| {
        let workers: Vec<_> = keys
            .chunks(slice)
            .map(|part| {
                let events_dir = &events_dir;
                scope.spawn(move || fold_slice(part, calendar, run_of, events_dir, publication))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("publish worker panicked"))
            .collect::<Vec<_>>()
    });
    let (mut state, mut gold, mut conflicts) = (Vec::new(), Vec::new(), Vec::new());
    let mut event_files = Vec::new();
    for part in parts {
        let part = part?;
        state.push(part.state);
        gold.push(part.gold);
        conflicts.push(part.conflicts);
        event_files.extend(part.event_files);
    }
    let mut consent_flips = None;
    let events_mode = match publication {
        Publication::Whole { .. } => CommitMode::Overwrite,
        Publication::EveryKey { .. } => CommitMode::Replace(vec![
            audit_trail::OBSERVED.into(),
            audit_trail::MISSING.into(),
        ]),
        Publication::TouchedKeys { keys, .. } => {
            let carried = carry_over(lake, keys).await?;
            if !carried.missing.is_empty() {
                let options = delta::WriteOptions {
                    file_prefix: Some(audit_trail::MISSING.into()),
                    ..schema::keyed_write_options(schema::PHONE_EVENTS)
                };
                let file = delta::write_parquet_with(&events_dir, &carried.missing, &options)?;
                event_files.push(file);
            }
            state.extend(carried.state);
            let previous_keys = carried.gold.iter().chain(&carried.gold_touched);
            let previous_keys = previous_keys.map(|b| b.num_rows() as u64).sum();
            consent_flips = Some(consent_flips_of(
                &carried.gold_touched,
                &gold,
                previous_keys,
            )?);
            gold.extend(carried.gold);
            conflicts.extend(carried.conflicts);
            CommitMode::Replace(vec![audit_trail::MISSING.into()])
        }
    };

    let events_version = delta::commit(
        &events_dir,
        &schema::phone_events(),
        event_files,
        events_mode,
    )
    .await?;
    write_and_commit(
        lake,
        schema::CHANGE_AFTER_DELETE,
        &schema::change_after_delete(),
        &conflicts,
    )
    .await?;
    if publication.touched().is_none() {
        let snapshots = snapshots_batch(reconciler);
        write_and_commit(lake, schema::SNAPSHOTS, &schema::snapshots(), &[snapshots]).await?;
    }
    // Both staged at once (they are the largest tables a run rewrites), gold committed last.
    // phone_state, the widest, in two files (a thread each); gold beside them.
    let state_halves = halves(&state);
    let (state_files, gold_file) = std::thread::scope(|scope| {
        let first = scope.spawn(|| stage(lake, schema::PHONE_STATE, &state_halves.0));
        let second = scope.spawn(|| stage(lake, schema::PHONE_STATE, &state_halves.1));
        let gold_file = stage(lake, schema::PHONE_CONSENT, &gold);
        let state_files = [first, second].map(|h| h.join().expect("staging phone_state"));
        (state_files, gold_file)
    });
    let state_files = state_files
        .into_iter()
        .filter_map(Result::transpose)
        .collect::<Result<Vec<_>>>()?;
    let state_version = delta::commit(
        lake.join(schema::PHONE_STATE),
        &schema::phone_state(),
        state_files,
        CommitMode::Overwrite,
    )
    .await?;
    let mut published = count_states(&state)?;
    published.events = delta::data_files(&events_dir)
        .await?
        .iter()
        .map(|f| f.rows.unwrap_or(0))
        .sum();
    published.profile = Some(GoldProfile {
        accounts_per_phone: accounts_per_phone(&gold)?,
        consent_flips,
    });
    let sources = GoldSources {
        phone_events: events_version,
        phone_state: state_version,
        snapshots: delta::table_version(lake.join(schema::SNAPSHOTS)).await?,
    };
    published.gold_version = delta::commit_noting(
        lake.join(schema::PHONE_CONSENT),
        &schema::phone_consent(),
        gold_file?.into_iter().collect(),
        CommitMode::Overwrite,
        sources.notes(),
    )
    .await?;
    Ok(published)
}

/// What the lake holds now, for a run that publishes nothing: gold's counts and version.
pub async fn current(lake: &Path) -> Result<Published> {
    let mut p = Published::default();
    let gold = lake.join(schema::PHONE_CONSENT);
    let Some(version) = delta::table_version(&gold).await? else {
        return Ok(p);
    };
    p.gold_version = version;
    // One query, one SQL context: every count as BIGINT, NULL-free.
    let counts = delta::sql(
        lake,
        "SELECT count(*) AS keys, \
         count(CASE WHEN delete_type = 'hard_delete' THEN 1 END) AS hard, \
         count(CASE WHEN delete_type = 'soft_delete' THEN 1 END) AS soft, \
         count(CASE WHEN has_sms_consent THEN 1 END) AS yes, \
         count(CASE WHEN NOT has_sms_consent THEN 1 END) AS no, \
         count(CASE WHEN has_sms_consent IS NULL THEN 1 END) AS none, \
         count(CASE WHEN can_send_sms THEN 1 END) AS can_send, \
         CAST(coalesce(sum(changes_after_delete), 0) AS BIGINT) AS conflicts, \
         (SELECT count(*) FROM phone_events) AS events \
         FROM phone_state",
    )
    .await?;
    let row = history::count_row(&counts, "phone_state")?;
    let value = |i: usize| row[i].unwrap_or(0) as u64;
    p.keys = value(0);
    p.hard_deleted = value(1);
    p.soft_deleted = value(2);
    p.consent_true = value(3);
    p.consent_false = value(4);
    p.consent_null = value(5);
    p.can_send = value(6);
    p.changes_after_delete = value(7);
    p.events = value(8);
    Ok(p)
}

/// The closing summary's counts over `phone_state` rows (gold's version and the events left
/// at zero).
fn count_states(batches: &[RecordBatch]) -> Result<Published> {
    let mut p = Published::default();
    for b in batches {
        let column = |name: &str| {
            b.column_by_name(name).ok_or_else(|| crate::Error::Invalid {
                what: "silver phone_state".into(),
                why: format!("no column {name}"),
            })
        };
        let delete_type = column("delete_type")?.as_string::<i32>();
        let consent = column("has_sms_consent")?.as_boolean();
        let can_send = column("can_send_sms")?.as_boolean();
        let conflicts = column("changes_after_delete")?.as_primitive::<Int64Type>();
        p.keys += b.num_rows() as u64;
        for i in 0..b.num_rows() {
            if delete_type.is_valid(i) {
                match delete_type.value(i) {
                    "hard_delete" => p.hard_deleted += 1,
                    _ => p.soft_deleted += 1,
                }
            }
            match consent.is_valid(i).then(|| consent.value(i)) {
                Some(true) => p.consent_true += 1,
                Some(false) => p.consent_false += 1,
                None => p.consent_null += 1,
            }
            p.can_send += u64::from(can_send.value(i));
            p.changes_after_delete += conflicts.value(i).max(0) as u64;
        }
    }
    Ok(p)
}

/// Each applied file's run, looked up once per audit-trail row (a fast hash: the names are
/// long, the lookups millions).
pub type RunOf<'a> = HashMap<&'a str, i64, foldhash::fast::RandomState>;

/// A folded key: its history and state.
type Folded<'a> = (&'a Key, &'a KeyHistory, PhoneState);

/// What one slice of keys publishes: its rows of `phone_state`, gold and
/// `change_after_delete`, and its staged `phone_events` files.
struct FoldedSlice {
    state: RecordBatch,
    gold: RecordBatch,
    conflicts: RecordBatch,
    event_files: Vec<delta::StagedFile>,
}

/// Folds a slice of keys, stages their `phone_events` rows (one file per kind of file the
/// publication writes) and builds their rows of the other tables.
fn fold_slice(
    keys: &[(Key, &KeyHistory)],
    calendar: &SnapshotCalendar,
    run_of: &RunOf<'_>,
    dir: &Path,
    publication: Publication<'_>,
) -> Result<FoldedSlice> {
    let folded: Vec<Folded<'_>> = keys
        .iter()
        .filter_map(|(k, h)| {
            phone_consent_core::fold(h.events(), calendar, None).map(|s| (k, *h, s))
        })
        .collect();
    let run_id = publication.run_id();
    let mut rows = EventSink::new(dir, audit_trail::rows_prefix(run_id));
    let mut observed = EventSink::new(dir, audit_trail::OBSERVED.into());
    let mut missing = EventSink::new(dir, audit_trail::MISSING.into());
    let every_row = matches!(publication, Publication::Whole { .. });
    let observed_runs = publication.touched().is_none();
    for (k, h, s) in &folded {
        let mut events: Vec<&Event> = h.events().iter().collect();
        events.sort_by(|a, b| {
            (a.date, a.kind.same_date_rank(), &a.provenance).cmp(&(
                b.date,
                b.kind.same_date_rank(),
                &b.provenance,
            ))
        });
        for e in events {
            let run = run_of.get(&*e.provenance.file).copied();
            match e.kind {
                EventKind::Observed if observed_runs => observed.push(k, e, run)?,
                EventKind::Observed => {}
                _ if every_row || run == Some(run_id) => rows.push(k, e, run)?,
                _ => {}
            }
        }
        for date in &s.missing_at {
            let file = calendar
                .get(*date)
                .map(|c| c.file)
                .unwrap_or_else(|| "".into());
            missing.push_missing(k, *date, &file, run_of.get(&*file).copied())?;
        }
    }
    let staged = [rows, observed, missing]
        .into_iter()
        .filter_map(|sink| sink.finish().transpose())
        .collect::<Result<Vec<_>>>()?;
    Ok(FoldedSlice {
        state: state_batch(&folded),
        gold: gold_batch(folded.iter().map(|(k, _, s)| (*k, s))),
        conflicts: change_after_delete_batch(&folded),
        event_files: staged,
    })
}

/// The fewest keys worth a folding thread of their own.
const FOLD_SLICE_KEYS: usize = 50_000;

/// Audit-trail rows gathered before they are written (bounds memory).
const EVENT_BATCH_ROWS: usize = 65_536;

/// One kind of `phone_events` file being written: rows gathered, then streamed in batches.
struct EventSink<'d> {
    dir: &'d Path,
    prefix: String,
    builder: EventsBuilder,
    writer: Option<delta::ParquetFileWriter>,
}

impl<'d> EventSink<'d> {
    fn new(dir: &'d Path, prefix: String) -> Self {
        EventSink {
            dir,
            prefix,
            builder: EventsBuilder::default(),
            writer: None,
        }
    }

    fn push(&mut self, k: &Key, e: &Event, run_id: Option<i64>) -> Result<()> {
        self.builder.push(k, e, run_id);
        self.flush_when_full()
    }

    fn push_missing(&mut self, k: &Key, date: Date, file: &str, run: Option<i64>) -> Result<()> {
        self.builder.push_missing(k, date, file, run);
        self.flush_when_full()
    }

    fn flush_when_full(&mut self) -> Result<()> {
        match self.builder.rows >= EVENT_BATCH_ROWS {
            true => self.flush(),
            false => Ok(()),
        }
    }

    fn flush(&mut self) -> Result<()> {
        if self.builder.rows == 0 {
            return Ok(());
        }
        let batch = self.builder.take();
        let writer = match &mut self.writer {
            Some(w) => w,
            None => self.writer.insert(delta::ParquetFileWriter::create(
                self.dir,
                schema::phone_events(),
                &delta::WriteOptions {
                    file_prefix: Some(self.prefix.clone()),
                    ..schema::keyed_write_options(schema::PHONE_EVENTS)
                },
            )?),
        };
        Ok(writer.write(&batch)?)
    }

    /// The staged file (`None` when no row was pushed).
    fn finish(mut self) -> Result<Option<delta::StagedFile>> {
        self.flush()?;
        Ok(self
            .writer
            .map(delta::ParquetFileWriter::finish)
            .transpose()?)
    }
}

async fn write_and_commit(
    lake: &Path,
    table: &str,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<i64> {
    let file = stage(lake, table, batches)?;
    commit_overwrite(lake, table, schema, file).await
}

/// Stages a table's rows in one file (`None` when there are none).
fn stage(lake: &Path, table: &str, batches: &[RecordBatch]) -> Result<Option<delta::StagedFile>> {
    let batches: Vec<RecordBatch> = batches
        .iter()
        .filter(|b| b.num_rows() > 0)
        .cloned()
        .collect();
    if batches.is_empty() {
        return Ok(None);
    }
    let options = schema::keyed_write_options(table);
    Ok(Some(delta::write_parquet_with(
        lake.join(table),
        &batches,
        &options,
    )?))
}

/// For each number of accounts a phone is on in gold, how many phones are on that many.
fn accounts_per_phone(gold: &[RecordBatch]) -> Result<BTreeMap<u64, u64>> {
    let mut accounts: HashMap<&str, u64, foldhash::fast::RandomState> = HashMap::default();
    for b in gold {
        let phones = gold_column(b, "phone_number")?.as_string::<i32>();
        for phone in phones.iter().flatten() {
            *accounts.entry(phone).or_default() += 1;
        }
    }
    let mut histogram = BTreeMap::new();
    for n in accounts.into_values() {
        *histogram.entry(n).or_default() += 1;
    }
    Ok(histogram)
}

/// `consent_flips` of a touched-keys publication: the previous gold's keys
/// (`previous_keys`) and how many of the touched ones (`before`: their previous rows) now
/// say otherwise in `after` (their new rows).
fn consent_flips_of<'a>(
    before: &'a [RecordBatch],
    after: &'a [RecordBatch],
    previous_keys: u64,
) -> Result<(u64, u64)> {
    let keyed = |b: &'a RecordBatch| -> Result<Vec<StoredConsent<'a>>> {
        let accounts = gold_column(b, "account_number")?.as_string::<i32>();
        let phones = gold_column(b, "phone_number")?.as_string::<i32>();
        let consent = gold_column(b, "has_sms_consent")?.as_boolean();
        Ok((0..b.num_rows())
            .map(|i| {
                let said = consent.is_valid(i).then(|| consent.value(i));
                ((accounts.value(i), phones.value(i)), said)
            })
            .collect())
    };
    let mut was: HashMap<(&str, &str), Option<bool>> = HashMap::new();
    for b in before {
        was.extend(keyed(b)?);
    }
    let mut flipped = 0;
    for b in after {
        flipped += keyed(b)?
            .into_iter()
            .filter(|(key, now)| was.get(key).is_some_and(|then| then != now))
            .count() as u64;
    }
    Ok((previous_keys, flipped))
}

/// A gold row's key (account, phone) and `has_sms_consent`.
type StoredConsent<'a> = ((&'a str, &'a str), Option<bool>);

fn gold_column<'b>(b: &'b RecordBatch, name: &str) -> Result<&'b ArrayRef> {
    b.column_by_name(name).ok_or_else(|| crate::Error::Invalid {
        what: "gold phone_consent".into(),
        why: format!("no column {name}"),
    })
}

/// The batches split in two runs of about equal rows (slices, not copies).
fn halves(batches: &[RecordBatch]) -> (Vec<RecordBatch>, Vec<RecordBatch>) {
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut left = total / 2;
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for b in batches {
        let take = left.min(b.num_rows());
        if take > 0 {
            first.push(b.slice(0, take));
        }
        if take < b.num_rows() {
            second.push(b.slice(take, b.num_rows() - take));
        }
        left -= take;
    }
    (first, second)
}

/// Replaces a table's rows with the staged file's.
async fn commit_overwrite(
    lake: &Path,
    table: &str,
    schema: &SchemaRef,
    file: Option<delta::StagedFile>,
) -> Result<i64> {
    let files = file.into_iter().collect();
    Ok(delta::commit(lake.join(table), schema, files, CommitMode::Overwrite).await?)
}

/// The rows a touched-keys publication keeps from the tables it rewrites.
struct CarriedOver {
    missing: Vec<RecordBatch>,
    state: Vec<RecordBatch>,
    gold: Vec<RecordBatch>,
    /// Gold's rows of the touched keys before the run (for `consent_flips`).
    gold_touched: Vec<RecordBatch>,
    conflicts: Vec<RecordBatch>,
}

/// Reads the rows of every key but `keys` from the tables a touched-keys publication
/// rewrites: `phone_state` on one thread, the others on a second.
async fn carry_over(lake: &Path, keys: &Arc<KeySet>) -> Result<CarriedOver> {
    let missing_files: Vec<_> = delta::data_files(lake.join(schema::PHONE_EVENTS))
        .await?
        .into_iter()
        .filter(|f| f.has_prefix(audit_trail::MISSING))
        .collect();
    let state_files = delta::data_files(lake.join(schema::PHONE_STATE)).await?;
    let gold_files = delta::data_files(lake.join(schema::PHONE_CONSENT)).await?;
    let conflict_files = delta::data_files(lake.join(schema::CHANGE_AFTER_DELETE)).await?;
    let read = |files: &[delta::DataFile], schema: SchemaRef| {
        audit_trail::rows_of_other_keys(files, &schema, keys, 1)
    };
    std::thread::scope(|scope| {
        let state = scope.spawn(|| read(&state_files, schema::phone_state()));
        let (gold, gold_touched) =
            audit_trail::rows_by_keys(&gold_files, &schema::phone_consent(), keys, 1)?;
        let missing = read(&missing_files, schema::phone_events())?;
        let conflicts = read(&conflict_files, schema::change_after_delete())?;
        Ok(CarriedOver {
            state: state.join().expect("reading phone_state")?,
            gold,
            gold_touched,
            missing,
            conflicts,
        })
    })
}

/// Silver `change_after_delete` rows of these folded keys.
fn change_after_delete_batch(folded: &[Folded<'_>]) -> RecordBatch {
    let mut account = StringBuilder::new();
    let mut phone = StringBuilder::new();
    let mut date = Date32Builder::new();
    let mut file = StringBuilder::new();
    let mut line = Int64Builder::new();
    for (k, _, s) in folded {
        for e in &s.changes_after_delete {
            account.append_value(k.account.text());
            phone.append_value(k.phone.e164(&mut [0; 12]));
            date.append_value(e.date.days());
            file.append_value(&*e.file);
            line.append_option(e.line.map(|l| l as i64));
        }
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(account.finish()),
        Arc::new(phone.finish()),
        Arc::new(date.finish()),
        Arc::new(file.finish()),
        Arc::new(line.finish()),
    ];
    RecordBatch::try_new(schema::change_after_delete(), arrays)
        .expect("change_after_delete batch matches its schema")
}

/// Gold `phone_consent` rows of these states, in the given order.
pub fn gold_batch<'a>(states: impl Iterator<Item = (&'a Key, &'a PhoneState)>) -> RecordBatch {
    let mut account = StringBuilder::new();
    let mut phone = StringBuilder::new();
    let mut source = StringBuilder::new();
    let mut consent = BooleanBuilder::new();
    let mut consent_at = Date32Builder::new();
    let mut deleted = BooleanBuilder::new();
    let mut delete_type = StringBuilder::new();
    let mut deleted_at = Date32Builder::new();
    for (k, s) in states {
        account.append_value(k.account.text());
        phone.append_value(k.phone.to_string());
        source.append_value(s.attributes.source());
        consent.append_option(s.consent.map(|c| c.consent));
        consent_at.append_option(s.consent.map(|c| c.date.days()));
        deleted.append_value(s.is_deleted());
        delete_type.append_option(s.deletion.as_ref().map(|d| d.kind.code()));
        deleted_at.append_option(s.deletion.as_ref().map(|d| d.at.days()));
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(account.finish()),
        Arc::new(phone.finish()),
        Arc::new(source.finish()),
        Arc::new(consent.finish()) as ArrayRef,
        Arc::new(consent_at.finish()),
        Arc::new(deleted.finish()),
        Arc::new(delete_type.finish()),
        Arc::new(deleted_at.finish()),
    ];
    RecordBatch::try_new(schema::phone_consent(), arrays).expect("gold batch matches its schema")
}

fn state_batch(folded: &[Folded<'_>]) -> RecordBatch {
    let mut text = [(); 8].map(|_| StringBuilder::new());
    let mut consent = BooleanBuilder::new();
    let mut consent_at = Date32Builder::new();
    let mut deleted = BooleanBuilder::new();
    let mut delete_type = StringBuilder::new();
    let mut dates = [(); 4].map(|_| Date32Builder::new());
    let mut can_send = BooleanBuilder::new();
    let mut reason = StringBuilder::new();
    let mut by_event = StringBuilder::new();
    let mut by_date = Date32Builder::new();
    let mut by_file = StringBuilder::new();
    let mut by_line = Int64Builder::new();
    let mut conflicts = Int64Builder::new();
    for (k, _, s) in folded {
        let account = k.account.text();
        let phone = k.phone.to_string();
        let fields = s.attributes.fields();
        let values = [&*account, phone.as_str()]
            .into_iter()
            .chain(fields.as_array());
        for (b, v) in text.iter_mut().zip(values) {
            b.append_value(v);
        }
        consent.append_option(s.consent.map(|c| c.consent));
        consent_at.append_option(s.consent.map(|c| c.date.days()));
        deleted.append_value(s.is_deleted());
        delete_type.append_option(s.deletion.as_ref().map(|d| d.kind.code()));
        dates[0].append_option(s.deletion.as_ref().map(|d| d.at.days()));
        dates[1].append_option(s.first_seen_at.map(|d| d.days()));
        dates[2].append_option(s.last_seen_at.map(|d| d.days()));
        dates[3].append_value(s.last_event_at.days());
        let decision = decide(Some(s));
        can_send.append_value(decision.allowed);
        reason.append_value(decision.reason.code());
        let by = decision.decided_by.as_ref();
        by_event.append_option(by.map(|e| e.kind.name()));
        by_date.append_option(by.map(|e| e.date.days()));
        by_file.append_option(by.map(|e| &*e.file));
        by_line.append_option(by.and_then(|e| e.line).map(|l| l as i64));
        conflicts.append_value(s.changes_after_delete.len() as i64);
    }
    let [
        mut deleted_at,
        mut first_seen,
        mut last_seen,
        mut last_event,
    ] = dates;
    let mut arrays: Vec<ArrayRef> = text
        .iter_mut()
        .map(|b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    arrays.extend([
        Arc::new(consent.finish()) as ArrayRef,
        Arc::new(consent_at.finish()),
        Arc::new(deleted.finish()),
        Arc::new(delete_type.finish()),
        Arc::new(deleted_at.finish()),
        Arc::new(first_seen.finish()),
        Arc::new(last_seen.finish()),
        Arc::new(last_event.finish()),
        Arc::new(can_send.finish()),
        Arc::new(reason.finish()),
        Arc::new(by_event.finish()),
        Arc::new(by_date.finish()),
        Arc::new(by_file.finish()),
        Arc::new(by_line.finish()),
        Arc::new(conflicts.finish()),
    ]);
    RecordBatch::try_new(schema::phone_state(), arrays).expect("state batch matches its schema")
}

#[derive(Default)]
struct EventsBuilder {
    rows: usize,
    account: StringBuilder,
    phone: StringBuilder,
    event: StringBuilder,
    date: Date32Builder,
    last_date: Date32Builder,
    file_date: Date32Builder,
    file: StringBuilder,
    line: Int64Builder,
    last_file: StringBuilder,
    last_line: Int64Builder,
    attrs: [StringBuilder; 6],
    consent: BooleanBuilder,
    consent_date: Date32Builder,
    run_id: Int64Builder,
}

impl EventsBuilder {
    fn push(&mut self, k: &Key, e: &Event, run_id: Option<i64>) {
        self.rows += 1;
        self.run_id.append_option(run_id);
        self.account.append_value(k.account.text());
        self.phone.append_value(k.phone.e164(&mut [0; 12]));
        self.event.append_value(e.kind.name());
        self.date.append_value(e.date.days());
        self.last_date.append_value(e.last_date.days());
        self.file_date.append_value(e.file_date.days());
        self.file.append_value(&*e.provenance.file);
        self.line.append_value(i64::from(e.provenance.line));
        self.last_file.append_value(&*e.last_provenance.file);
        self.last_line
            .append_value(i64::from(e.last_provenance.line));
        for (b, v) in self.attrs.iter_mut().zip(e.attributes.fields().as_array()) {
            b.append_value(v);
        }
        self.consent.append_option(e.consent.map(|c| c.consent));
        self.consent_date
            .append_option(e.consent.map(|c| c.date.days()));
    }

    fn push_missing(&mut self, k: &Key, date: Date, file: &str, run_id: Option<i64>) {
        self.rows += 1;
        self.run_id.append_option(run_id);
        self.account.append_value(k.account.text());
        self.phone.append_value(k.phone.e164(&mut [0; 12]));
        self.event.append_value(EventKind::Missing.name());
        self.date.append_value(date.days());
        self.last_date.append_value(date.days());
        self.file_date.append_value(date.days());
        self.file.append_value(file);
        self.line.append_null();
        self.last_file.append_value(file);
        self.last_line.append_null();
        for b in &mut self.attrs {
            b.append_null();
        }
        self.consent.append_null();
        self.consent_date.append_null();
    }

    /// The gathered rows as a batch; the builder starts afresh.
    fn take(&mut self) -> RecordBatch {
        self.rows = 0;
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(self.account.finish()),
            Arc::new(self.phone.finish()),
            Arc::new(self.event.finish()),
            Arc::new(self.date.finish()),
            Arc::new(self.last_date.finish()),
            Arc::new(self.file_date.finish()),
            Arc::new(self.file.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.last_file.finish()),
            Arc::new(self.last_line.finish()),
        ];
        arrays.extend(
            self.attrs
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        arrays.extend([
            Arc::new(self.consent.finish()) as ArrayRef,
            Arc::new(self.consent_date.finish()),
            Arc::new(self.run_id.finish()),
        ]);
        RecordBatch::try_new(schema::phone_events(), arrays)
            .expect("events batch matches its schema")
    }
}

fn snapshots_batch(reconciler: &Reconciler) -> RecordBatch {
    let calendar = reconciler.calendar();
    let listings = calendar.listings(reconciler.histories().map(|(_, h)| h.events()));
    let mut date = Date32Builder::new();
    let mut complete = BooleanBuilder::new();
    let mut file = StringBuilder::new();
    let mut listed = Int64Builder::new();
    let mut vanished = Int64Builder::new();
    for (e, l) in calendar.entries().iter().zip(&listings) {
        date.append_value(e.date.days());
        complete.append_value(e.complete);
        file.append_value(&*e.file);
        listed.append_value(l.listed as i64);
        vanished.append_value(l.vanished as i64);
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(date.finish()),
        Arc::new(complete.finish()),
        Arc::new(file.finish()),
        Arc::new(listed.finish()),
        Arc::new(vanished.finish()),
    ];
    RecordBatch::try_new(schema::snapshots(), arrays).expect("snapshots batch matches its schema")
}

/// Bronze `rejects` rows (`None` when there are none).
pub fn rejects_batch(rejects: &[RejectRow]) -> Option<RecordBatch> {
    if rejects.is_empty() {
        return None;
    }
    let mut file = StringBuilder::new();
    let mut line = Int64Builder::new();
    let mut raw = StringBuilder::new();
    let mut reason = StringBuilder::new();
    let mut detail = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut file_date = Date32Builder::new();
    for r in rejects {
        file.append_value(&*r.file);
        line.append_option(r.line.map(|l| l as i64));
        raw.append_option(r.raw.as_deref());
        reason.append_value(r.reason.code());
        detail.append_option(r.detail.as_deref());
        kind.append_option(r.kind.map(|k| k.feed_name()));
        file_date.append_option(r.file_date.map(|d| d.days()));
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(file.finish()),
        Arc::new(line.finish()),
        Arc::new(raw.finish()),
        Arc::new(reason.finish()),
        Arc::new(detail.finish()),
        Arc::new(kind.finish()),
        Arc::new(file_date.finish()),
    ];
    Some(RecordBatch::try_new(schema::rejects(), arrays).expect("rejects batch matches its schema"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::compute::cast;
    use deltalake::arrow::datatypes::DataType;
    use phone_consent_core::{Attributes, ConsentStatement, PhoneNumber, Provenance};

    #[test]
    fn stored_events_decode_alike_from_plain_and_dictionary_columns() {
        let day = |d: &str| Date::parse(d).unwrap();
        let at = |file: &str, line: u32| Provenance {
            file: file.into(),
            line,
        };
        let key = |account: &str, phone: &str| {
            Key::new(account, PhoneNumber::parse(phone).expect("a valid phone"))
        };
        let client = Attributes::new(["CLIENT", "CELL", "ACTIVE", "WIRELESS", "80", "r1"]);
        let consent = Some(ConsentStatement {
            consent: true,
            date: day("2024-01-03"),
        });
        let mut observed = Event::row(
            EventKind::Observed,
            day("2024-01-01"),
            day("2024-01-01"),
            at("snap-1.csv.gz", 2),
            client.clone(),
            None,
        );
        observed.last_date = day("2024-02-01");
        observed.last_provenance = at("snap-2.csv.gz", 7);
        let changed = Event::row(
            EventKind::Changed,
            day("2024-01-03"),
            day("2024-01-05"),
            at("change.csv.gz", 4),
            Attributes::new(["OTHER", "", "", "", "", ""]),
            consent,
        );
        let mut events = EventsBuilder::default();
        let (a, b) = (key("1001", "2125550100"), key("1001", "2125550101"));
        events.push(&a, &observed, Some(1));
        events.push(&a, &changed, Some(2));
        events.push(&b, &changed, None);
        let plain = events.take();

        let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let columns: Vec<ArrayRef> = plain
            .schema()
            .fields()
            .iter()
            .zip(plain.columns())
            .map(|(f, c)| match f.name().as_str() {
                "account_number" | "phone_number" | "record_id" => c.clone(),
                _ if f.data_type() == &DataType::Utf8 => cast(c, &dictionary).unwrap(),
                _ => c.clone(),
            })
            .collect();
        let fields: Vec<_> = plain
            .schema()
            .fields()
            .iter()
            .zip(&columns)
            .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
            .collect();
        let schema = Arc::new(deltalake::arrow::datatypes::Schema::new(fields));
        let encoded = RecordBatch::try_new(schema, columns).unwrap();
        assert!(matches!(
            encoded.column_by_name("source_file").unwrap().data_type(),
            DataType::Dictionary(..)
        ));

        let decode = |b: &RecordBatch| history::decode_events(b).unwrap();
        let expected = vec![(a, vec![observed, changed.clone()]), (b, vec![changed])];
        assert_eq!(decode(&plain), expected);
        assert_eq!(decode(&encoded), expected);
    }
}
