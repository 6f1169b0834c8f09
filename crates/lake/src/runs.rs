//! Audit `runs`: one row per run — what it applied, its counts, duration and mode, and the
//! silver and gold versions it published, so that gold versions stay addressable and a
//! run that died half way is recognised by the next one.

use std::path::Path;
use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, Date32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{Date32Type, Int64Type, TimestampMicrosecondType};
use phone_consent_core::Date;

use crate::history::column_strings;
use crate::{Error, Result, delta, schema};

/// One run, as `runs` holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunRecord {
    /// 1 for a lake's first run, then one more each run.
    pub run_id: i64,
    /// Start (µs since the Unix epoch, UTC).
    pub started_at_us: i64,
    /// Wall time in milliseconds.
    pub duration_ms: i64,
    /// `full`, `incremental`, `rebuild` or `unchanged`.
    pub mode: String,
    /// The data root read.
    pub data_dir: String,
    /// Files applied, rejected whole, skipped as already applied, refused as conflicting
    /// re-deliveries.
    pub files: [u64; 4],
    /// Bytes read from the feed (hashing and decoding).
    pub feed_bytes_read: u64,
    /// Rows read, accepted, rejected, dropped as duplicates by this run.
    pub rows: [u64; 4],
    /// Keys in gold and keys that may be texted, after the run.
    pub keys: u64,
    /// Keys that may be texted.
    pub can_send: u64,
    /// The newest snapshot date in the lake after the run.
    pub newest_snapshot: Option<Date>,
    /// The `phone_events` version after the run.
    pub phone_events_version: Option<i64>,
    /// The gold `phone_consent` version after the run.
    pub gold_version: Option<i64>,
    /// Feed coverage after the run: the newest file's date.
    pub feed_date: Option<Date>,
    /// Feed coverage: days from the newest snapshot to the newest file.
    pub snapshot_age_days: Option<i64>,
    /// Feed coverage: days after the newest snapshot no change file's window covers.
    pub uncovered_days: Option<i64>,
    /// Quality checks that fired at `warn` and at `error`.
    pub checks: [u64; 2],
}

/// Every run, oldest first (none for a new lake).
pub async fn load(lake: &Path) -> Result<Vec<RunRecord>> {
    let mut out = Vec::new();
    for b in delta::read_table_if_any(lake.join(schema::RUNS)).await? {
        out.extend(records(&b)?);
    }
    out.sort_by_key(|r| r.run_id);
    Ok(out)
}

/// Appends one run's row.
pub async fn append(lake: &Path, run: &RunRecord) -> Result<i64> {
    let dir = lake.join(schema::RUNS);
    let file = delta::write_parquet(&dir, &[batch(std::slice::from_ref(run))])?;
    Ok(delta::commit(&dir, &schema::runs(), vec![file], delta::CommitMode::Append).await?)
}

/// `runs` rows of these records.
pub fn batch(runs: &[RunRecord]) -> RecordBatch {
    let mut ints = [(); 19].map(|_| Int64Builder::new());
    let mut started = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut mode = StringBuilder::new();
    let mut data_dir = StringBuilder::new();
    let mut newest = Date32Builder::new();
    let mut feed_date = Date32Builder::new();
    for r in runs {
        started.append_value(r.started_at_us);
        mode.append_value(&r.mode);
        data_dir.append_value(&r.data_dir);
        newest.append_option(r.newest_snapshot.map(|d| d.days()));
        feed_date.append_option(r.feed_date.map(|d| d.days()));
        let values = [
            r.run_id,
            r.duration_ms,
            r.files[0] as i64,
            r.files[1] as i64,
            r.files[2] as i64,
            r.files[3] as i64,
            r.feed_bytes_read as i64,
            r.rows[0] as i64,
            r.rows[1] as i64,
            r.rows[2] as i64,
            r.rows[3] as i64,
            r.keys as i64,
            r.can_send as i64,
        ];
        for (b, v) in ints.iter_mut().zip(values) {
            b.append_value(v);
        }
        ints[13].append_option(r.phone_events_version);
        ints[14].append_option(r.gold_version);
        ints[15].append_option(r.snapshot_age_days);
        ints[16].append_option(r.uncovered_days);
        ints[17].append_value(r.checks[0] as i64);
        ints[18].append_value(r.checks[1] as i64);
    }
    let mut int = |i: usize| Arc::new(ints[i].finish()) as ArrayRef;
    let arrays: Vec<ArrayRef> = vec![
        int(0),
        Arc::new(started.finish()),
        int(1),
        Arc::new(mode.finish()),
        Arc::new(data_dir.finish()),
        int(2),
        int(3),
        int(4),
        int(5),
        int(6),
        int(7),
        int(8),
        int(9),
        int(10),
        int(11),
        int(12),
        Arc::new(newest.finish()),
        int(13),
        int(14),
        Arc::new(feed_date.finish()),
        int(15),
        int(16),
        int(17),
        int(18),
    ];
    RecordBatch::try_new(schema::runs(), arrays).expect("runs batch matches its schema")
}

fn records(b: &RecordBatch) -> Result<Vec<RunRecord>> {
    let col = |name: &str| {
        b.column_by_name(name)
            .cloned()
            .ok_or_else(|| Error::Invalid {
                what: "runs".into(),
                why: format!("no column {name}"),
            })
    };
    let names = [
        "run_id",
        "duration_ms",
        "files_applied",
        "files_rejected",
        "files_skipped",
        "files_refused",
        "feed_bytes_read",
        "rows_read",
        "rows_accepted",
        "rows_rejected",
        "duplicates",
        "keys",
        "can_send",
        "phone_events_version",
        "gold_version",
        "snapshot_age_days",
        "uncovered_days",
        "checks_warned",
        "checks_failed",
    ];
    let ints: Vec<ArrayRef> = names.iter().map(|n| col(n)).collect::<Result<_>>()?;
    let int = |c: usize, i: usize| {
        let a = ints[c].as_primitive::<Int64Type>();
        (!a.is_null(i)).then(|| a.value(i))
    };
    let v = |c: usize, i: usize| int(c, i).unwrap_or(0);
    let started = col("started_at")?;
    let started = started.as_primitive::<TimestampMicrosecondType>();
    let newest = col("newest_snapshot")?;
    let newest = newest.as_primitive::<Date32Type>();
    let feed_date = col("feed_date")?;
    let feed_date = feed_date.as_primitive::<Date32Type>();
    let mode = column_strings(b, "mode")?;
    let data_dir = column_strings(b, "data_dir")?;
    Ok((0..b.num_rows())
        .map(|i| RunRecord {
            run_id: v(0, i),
            started_at_us: started.value(i),
            duration_ms: v(1, i),
            mode: mode[i].clone().unwrap_or_default(),
            data_dir: data_dir[i].clone().unwrap_or_default(),
            files: [2, 3, 4, 5].map(|c| v(c, i) as u64),
            feed_bytes_read: v(6, i) as u64,
            rows: [7, 8, 9, 10].map(|c| v(c, i) as u64),
            keys: v(11, i) as u64,
            can_send: v(12, i) as u64,
            newest_snapshot: (!newest.is_null(i)).then(|| Date::from_days(newest.value(i))),
            phone_events_version: int(13, i),
            gold_version: int(14, i),
            feed_date: (!feed_date.is_null(i)).then(|| Date::from_days(feed_date.value(i))),
            snapshot_age_days: int(15, i),
            uncovered_days: int(16, i),
            checks: [v(17, i) as u64, v(18, i) as u64],
        })
        .collect())
}
