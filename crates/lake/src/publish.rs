//! Silver and gold from the reconciled histories: fold every key, write `phone_events`,
//! `phone_state`, `snapshots` and `phone_consent`, and commit gold last.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use deltalake::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Int64Builder, RecordBatch, StringBuilder,
};
use phone_consent_core::{
    Event, EventKind, Key, KeyHistory, PhoneState, Reconciler, SnapshotCalendar, decide,
};

use crate::bronze::RejectRow;
use crate::delta::{self, CommitMode};
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
}

/// Folds every key and publishes silver then gold. Keys are folded, and their audit trail
/// written, in parallel slices (one `phone_events` file each, streamed in batches).
///
/// `run_of` maps each applied file to the run that applied it (the audit trail's `run_id`).
pub async fn publish(
    lake: &Path,
    reconciler: &Reconciler,
    run_of: &HashMap<&str, i64>,
) -> Result<Published> {
    let mut keys: Vec<(&Key, &KeyHistory)> = reconciler.histories().iter().collect();
    keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let calendar = reconciler.calendar();
    let events_dir = lake.join(schema::PHONE_EVENTS);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let slice = keys.len().div_ceil(threads).max(1);
    let parts = std::thread::scope(|scope| {
        let workers: Vec<_> = keys
            .chunks(slice)
            .map(|part| {
                let events_dir = &events_dir;
                scope.spawn(move || fold_and_write_events(part, calendar, run_of, events_dir))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("publish worker panicked"))
            .collect::<Vec<_>>()
    });
    let mut folded = Vec::with_capacity(keys.len());
    let mut event_files = Vec::new();
    let mut published = Published::default();
    for part in parts {
        let (states, events, file) = part?;
        folded.extend(states);
        published.events += events;
        event_files.extend(file);
    }
    let state = state_batch(&folded, &mut published);
    let gold = gold_batch(folded.iter().map(|(k, _, s)| (*k, s)));
    let snapshots = snapshots_batch(reconciler);

    delta::commit(
        &events_dir,
        &schema::phone_events(),
        event_files,
        CommitMode::Overwrite,
    )
    .await?;
    write_and_commit(lake, schema::SNAPSHOTS, &schema::snapshots(), snapshots).await?;
    write_and_commit(lake, schema::PHONE_STATE, &schema::phone_state(), state).await?;
    published.gold_version =
        write_and_commit(lake, schema::PHONE_CONSENT, &schema::phone_consent(), gold).await?;
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

/// A folded key: its history and state.
type Folded<'a> = (&'a Key, &'a KeyHistory, PhoneState);

/// Folds a slice of keys and stages their `phone_events` rows in one parquet file.
fn fold_and_write_events<'a>(
    keys: &[(&'a Key, &'a KeyHistory)],
    calendar: &SnapshotCalendar,
    run_of: &HashMap<&str, i64>,
    dir: &Path,
) -> Result<(Vec<Folded<'a>>, u64, Option<delta::StagedFile>)> {
    let folded: Vec<Folded<'a>> = keys
        .iter()
        .filter_map(|(k, h)| {
            phone_consent_core::fold(h.events(), calendar, None).map(|s| (*k, *h, s))
        })
        .collect();
    let mut builder = EventsBuilder::default();
    let mut writer: Option<delta::ParquetFileWriter> = None;
    let mut total = 0u64;
    let mut flush = |builder: &mut EventsBuilder| -> Result<()> {
        if builder.rows == 0 {
            return Ok(());
        }
        total += builder.rows as u64;
        let batch = builder.take();
        let w = match &mut writer {
            Some(w) => w,
            None => writer.insert(delta::ParquetFileWriter::create(
                dir,
                schema::phone_events(),
                &delta::WriteOptions::default(),
            )?),
        };
        Ok(w.write(&batch)?)
    };
    for (k, h, s) in &folded {
        push_events(&mut builder, k, h, s, calendar, run_of);
        if builder.rows >= EVENT_BATCH_ROWS {
            flush(&mut builder)?;
        }
    }
    flush(&mut builder)?;
    let staged = writer.map(delta::ParquetFileWriter::finish).transpose()?;
    Ok((folded, total, staged))
}

/// Audit-trail rows gathered before they are written (bounds memory).
const EVENT_BATCH_ROWS: usize = 65_536;

async fn write_and_commit(
    lake: &Path,
    table: &str,
    schema: &deltalake::arrow::datatypes::Schema,
    batch: RecordBatch,
) -> Result<i64> {
    let dir = lake.join(table);
    let files = if batch.num_rows() > 0 {
        vec![delta::write_parquet(&dir, &[batch])?]
    } else {
        vec![]
    };
    Ok(delta::commit(&dir, schema, files, CommitMode::Overwrite).await?)
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

fn state_batch(folded: &[(&Key, &KeyHistory, PhoneState)], p: &mut Published) -> RecordBatch {
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
        let values = [&*account, phone.as_str()]
            .into_iter()
            .chain(s.attributes.fields());
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

        p.keys += 1;
        match s.deletion.as_ref().map(|d| d.kind) {
            Some(phone_consent_core::DeleteType::Hard) => p.hard_deleted += 1,
            Some(phone_consent_core::DeleteType::Soft) => p.soft_deleted += 1,
            None => {}
        }
        match s.consent.map(|c| c.consent) {
            Some(true) => p.consent_true += 1,
            Some(false) => p.consent_false += 1,
            None => p.consent_null += 1,
        }
        p.can_send += u64::from(decision.allowed);
        p.changes_after_delete += s.changes_after_delete.len() as u64;
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

/// Silver `phone_events` rows of one key: its stored events, flagged when they are a
/// `change_after_delete`, and its derived `missing` events.
fn push_events(
    b: &mut EventsBuilder,
    k: &Key,
    h: &KeyHistory,
    s: &PhoneState,
    calendar: &SnapshotCalendar,
    run_of: &HashMap<&str, i64>,
) {
    let mut events: Vec<&Event> = h.events().iter().collect();
    events.sort_by(|a, b| {
        (a.date, a.kind.same_date_rank(), &a.provenance).cmp(&(
            b.date,
            b.kind.same_date_rank(),
            &b.provenance,
        ))
    });
    for e in events {
        let conflict = e.kind == EventKind::Changed
            && s.changes_after_delete
                .iter()
                .any(|c| c.file == e.provenance.file && c.line == Some(e.provenance.line));
        b.push(k, e, conflict, run_of.get(&*e.provenance.file).copied());
    }
    for date in &s.missing_at {
        let file = calendar
            .get(*date)
            .map(|c| c.file.clone())
            .unwrap_or_else(|| "".into());
        b.push_missing(k, *date, &file, run_of.get(&*file).copied());
    }
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
    conflict: BooleanBuilder,
    run_id: Int64Builder,
}

impl EventsBuilder {
    fn push(&mut self, k: &Key, e: &Event, conflict: bool, run_id: Option<i64>) {
        self.rows += 1;
        self.run_id.append_option(run_id);
        self.account.append_value(k.account.text());
        self.phone.append_value(k.phone.e164(&mut [0; 12]));
        self.event.append_value(e.kind.name());
        self.date.append_value(e.date.days());
        self.last_date.append_value(e.last_date.days());
        self.file_date.append_value(e.file_date.days());
        self.file.append_value(&*e.provenance.file);
        self.line.append_value(e.provenance.line as i64);
        self.last_file.append_value(&*e.last_provenance.file);
        self.last_line.append_value(e.last_provenance.line as i64);
        for (b, v) in self.attrs.iter_mut().zip(e.attributes.fields()) {
            b.append_value(v);
        }
        self.consent.append_option(e.consent.map(|c| c.consent));
        self.consent_date
            .append_option(e.consent.map(|c| c.date.days()));
        self.conflict.append_value(conflict);
    }

    fn push_missing(
        &mut self,
        k: &Key,
        date: phone_consent_core::Date,
        file: &str,
        run_id: Option<i64>,
    ) {
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
        self.conflict.append_value(false);
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
            Arc::new(self.conflict.finish()),
            Arc::new(self.run_id.finish()),
        ]);
        RecordBatch::try_new(schema::phone_events(), arrays)
            .expect("events batch matches its schema")
    }
}

fn snapshots_batch(reconciler: &Reconciler) -> RecordBatch {
    let calendar = reconciler.calendar();
    let listings = calendar.listings(reconciler.histories().values().map(KeyHistory::events));
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
