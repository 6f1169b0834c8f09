//! The ingest ledger (SEMANTICS §6): every feed file a run took in — name, size, SHA-256,
//! kind, date, row counts, the run — so that a later run applies only new files, skips the
//! files it already has without reading them, and refuses a changed re-delivery.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, Date32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{Date32Type, Int64Type, TimestampMicrosecondType};
use phone_consent_core::{Date, FileKind, RejectReason};
use ring::digest::{Context, SHA256, digest};

use crate::history::column_strings;
use crate::{Error, Result, delta, schema};

/// What became of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileStatus {
    /// Read to its end: its accepted rows are in the lake (its rejected rows in `rejects`).
    Applied,
    /// Rejected whole (`reason` says why): nothing of it is in the lake but the reject.
    Rejected,
}

impl FileStatus {
    /// `applied` or `rejected`, as the ledger holds it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Rejected => "rejected",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        match code {
            "applied" => Some(Self::Applied),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// One file taken in by one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The file name (no folder): the feed's identity of a file.
    pub file: String,
    /// Its kind, when its name told it.
    pub kind: Option<FileKind>,
    /// Its file date, when its name told it.
    pub file_date: Option<Date>,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time (ms since the Unix epoch), to skip it later without reading it.
    pub modified_ms: i64,
    /// Hex SHA-256 of its bytes as delivered.
    pub sha256: String,
    /// Applied, or rejected whole.
    pub status: FileStatus,
    /// Why it was rejected whole.
    pub reason: Option<RejectReason>,
    /// Rows read, accepted, rejected and dropped as duplicates.
    pub rows: [u64; 4],
    /// The run that took it in.
    pub run_id: i64,
    /// When (µs since the Unix epoch, UTC).
    pub applied_at_us: i64,
    /// True when it replaced an earlier delivery of the same name (`run --replace`).
    pub replaced: bool,
}

/// The ledger as of the last run: the latest entry of every file name.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    latest: HashMap<String, LedgerEntry>,
}

impl Ledger {
    /// The lake's ledger (empty when the lake has none yet).
    pub async fn load(lake: &Path) -> Result<Ledger> {
        let mut ledger = Ledger::default();
        for b in delta::read_table_if_any(lake.join(schema::INGEST_LEDGER)).await? {
            for entry in entries(&b)? {
                match ledger.latest.get(&entry.file) {
                    Some(e) if e.run_id > entry.run_id => {}
                    _ => {
                        ledger.latest.insert(entry.file.clone(), entry);
                    }
                }
            }
        }
        Ok(ledger)
    }

    /// The latest entry of a file name.
    pub fn get(&self, file: &str) -> Option<&LedgerEntry> {
        self.latest.get(file)
    }

    /// True when no file was ever taken in.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    /// Every file's latest entry, in no order.
    pub fn entries(&self) -> impl Iterator<Item = &LedgerEntry> {
        self.latest.values()
    }

    /// Records (or supersedes) a file's entry.
    pub fn record(&mut self, entry: LedgerEntry) {
        self.latest.insert(entry.file.clone(), entry);
    }
}

/// Hex SHA-256 of a file's bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest(&SHA256, bytes).as_ref())
}

/// Hex SHA-256 of a file, read in 1 MiB pieces; also returns the bytes read.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Context::new(&SHA256);
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hex(hasher.finish().as_ref()), total))
}

/// The start of the name of every lake data file that holds a feed file's rows (bronze,
/// rejects): a run that applies the file again replaces exactly these files.
pub fn file_prefix(file: &str) -> String {
    format!("f{}", &sha256_hex(file.as_bytes())[..20])
}

/// The kind whose feed name (`NON-FIN-BDL`, …) this is.
pub fn kind_from_feed_name(name: &str) -> Option<FileKind> {
    [FileKind::Snapshot, FileKind::Change, FileKind::Enrollment]
        .into_iter()
        .find(|k| k.feed_name() == name)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Ledger rows of these entries.
pub fn batch(entries: &[LedgerEntry]) -> RecordBatch {
    let mut file = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut file_date = Date32Builder::new();
    let mut size = Int64Builder::new();
    let mut modified = Int64Builder::new();
    let mut sha = StringBuilder::new();
    let mut status = StringBuilder::new();
    let mut reason = StringBuilder::new();
    let mut rows = [(); 4].map(|_| Int64Builder::new());
    let mut run = Int64Builder::new();
    let mut at = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut replaced = deltalake::arrow::array::BooleanBuilder::new();
    for e in entries {
        file.append_value(&e.file);
        kind.append_option(e.kind.map(|k| k.feed_name()));
        file_date.append_option(e.file_date.map(|d| d.days()));
        size.append_value(e.size as i64);
        modified.append_value(e.modified_ms);
        sha.append_value(&e.sha256);
        status.append_value(e.status.code());
        reason.append_option(e.reason.map(|r| r.code()));
        for (b, n) in rows.iter_mut().zip(e.rows) {
            b.append_value(n as i64);
        }
        run.append_value(e.run_id);
        at.append_value(e.applied_at_us);
        replaced.append_value(e.replaced);
    }
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(file.finish()),
        Arc::new(kind.finish()),
        Arc::new(file_date.finish()),
        Arc::new(size.finish()),
        Arc::new(modified.finish()),
        Arc::new(sha.finish()),
        Arc::new(status.finish()),
        Arc::new(reason.finish()),
    ];
    arrays.extend(rows.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    arrays.extend([
        Arc::new(run.finish()) as ArrayRef,
        Arc::new(at.finish()),
        Arc::new(replaced.finish()),
    ]);
    RecordBatch::try_new(schema::ingest_ledger(), arrays).expect("ledger batch matches its schema")
}

fn entries(b: &RecordBatch) -> Result<Vec<LedgerEntry>> {
    let bad = |why: String| Error::Invalid {
        what: "ledger".into(),
        why,
    };
    let col = |name: &str| {
        b.column_by_name(name)
            .cloned()
            .ok_or_else(|| bad(format!("no column {name}")))
    };
    let file = column_strings(b, "file")?;
    let kind = column_strings(b, "kind")?;
    let sha = column_strings(b, "sha256")?;
    let status = column_strings(b, "status")?;
    let reason = column_strings(b, "reason")?;
    let file_date = col("file_date")?;
    let file_date = file_date.as_primitive::<Date32Type>();
    let ints: Vec<ArrayRef> = [
        "size",
        "modified_ms",
        "rows_read",
        "rows_accepted",
        "rows_rejected",
        "duplicates",
        "run_id",
    ]
    .iter()
    .map(|n| col(n))
    .collect::<Result<_>>()?;
    let int = |c: usize, i: usize| ints[c].as_primitive::<Int64Type>().value(i);
    let at = col("applied_at")?;
    let at = at.as_primitive::<TimestampMicrosecondType>();
    let replaced = col("replaced")?;
    let replaced = replaced.as_boolean();
    let mut out = Vec::with_capacity(b.num_rows());
    for i in 0..b.num_rows() {
        let status_code = status[i].as_deref().unwrap_or_default();
        out.push(LedgerEntry {
            file: file[i].clone().unwrap_or_default(),
            kind: kind[i].as_deref().and_then(kind_from_feed_name),
            file_date: (!file_date.is_null(i)).then(|| Date::from_days(file_date.value(i))),
            size: int(0, i) as u64,
            modified_ms: int(1, i),
            sha256: sha[i].clone().unwrap_or_default(),
            status: FileStatus::from_code(status_code)
                .ok_or_else(|| bad(format!("unknown status {status_code:?}")))?,
            reason: reason[i]
                .as_deref()
                .and_then(|r| RejectReason::ALL.into_iter().find(|x| x.code() == r)),
            rows: [
                int(2, i) as u64,
                int(3, i) as u64,
                int(4, i) as u64,
                int(5, i) as u64,
            ],
            run_id: int(6, i),
            applied_at_us: at.value(i),
            replaced: replaced.value(i),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
