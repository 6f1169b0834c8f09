//! Re-deriving every key's history from bronze, without the feed: for a snapshot that
//! arrives out of date order (or a part of one already applied), a replaced file, a run
//! that died half way, or `run --rebuild`. Bronze keeps each accepted row as it was read
//! (PII hashed — no rule reads PII), so the same rules give the same records.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::datatypes::{Date32Type, Int64Type};
use phone_consent_core::{Date, FileKind, FileName, Provenance, Reconciler, SnapshotBuilder};
use phone_consent_feed::{contract, interpret_canonical};

use crate::ledger::{FileStatus, Ledger};
use crate::{Error, Result, delta, schema};

/// One snapshot of the calendar as the ledger knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SnapshotFiles {
    complete: bool,
    first_file: FileName,
}

/// The histories and calendar of every file the ledger holds as applied, from bronze.
pub async fn from_bronze(lake: &Path, ledger: &Ledger) -> Result<Reconciler> {
    let applied: HashSet<&str> = ledger
        .entries()
        .filter(|e| e.status == FileStatus::Applied)
        .map(|e| e.file.as_str())
        .collect();
    let mut snapshots: BTreeMap<Date, SnapshotFiles> = BTreeMap::new();
    for e in ledger.entries() {
        let (Some(FileKind::Snapshot), Some(date)) = (e.kind, e.file_date) else {
            continue;
        };
        let ok = e.status == FileStatus::Applied;
        snapshots
            .entry(date)
            .and_modify(|s| {
                s.complete &= ok;
                if *e.file < *s.first_file {
                    s.first_file = e.file.as_str().into();
                }
            })
            .or_insert_with(|| SnapshotFiles {
                complete: ok,
                first_file: e.file.as_str().into(),
            });
    }

    let mut reconciler = Reconciler::new();
    for kind in [FileKind::Enrollment, FileKind::Change] {
        if !has_table(lake, kind).await? {
            continue;
        }
        scan(
            lake,
            kind,
            None,
            &applied,
            |record, file_date, provenance| reconciler.add_row_event(record, file_date, provenance),
        )
        .await?;
    }
    let has_snapshots = has_table(lake, FileKind::Snapshot).await?;
    for (date, files) in snapshots {
        let mut builder = SnapshotBuilder::default();
        let filter = format!("_file_date = DATE '{date}'");
        if has_snapshots {
            scan(
                lake,
                FileKind::Snapshot,
                Some(&filter),
                &applied,
                |record, _, provenance| builder.add(record, provenance),
            )
            .await?;
        }
        reconciler
            .add_snapshot(date, files.complete, files.first_file, builder)
            .map_err(|e| Error::Invalid {
                what: "snapshot order".into(),
                why: e.to_string(),
            })?;
    }
    Ok(reconciler)
}

/// True when the kind's bronze table exists (a lake whose files were all of other kinds has
/// none).
async fn has_table(lake: &Path, kind: FileKind) -> Result<bool> {
    Ok(delta::table_version(lake.join(schema::bronze_table(kind)))
        .await?
        .is_some())
}

/// Streams a bronze table's rows of applied files (optionally filtered) through `each` as
/// records. A row the rules no longer accept means bronze was not written by these rules.
async fn scan(
    lake: &Path,
    kind: FileKind,
    filter: Option<&str>,
    applied: &HashSet<&str>,
    mut each: impl FnMut(phone_consent_core::Record, Date, Provenance),
) -> Result<()> {
    let dir = lake.join(schema::bronze_table(kind));
    let width = contract::columns(kind).len();
    let mut file = FileName::new("");
    delta::scan_table(&dir, filter, |b: RecordBatch| -> Result<()> {
        let text: Vec<_> = (0..width).map(|i| b.column(i).as_string::<i32>()).collect();
        let source = column(&b, "_source_file")?;
        let source = source.as_string::<i32>();
        let file_date = column(&b, "_file_date")?;
        let file_date = file_date.as_primitive::<Date32Type>();
        let line = column(&b, "_line")?;
        let line = line.as_primitive::<Int64Type>();
        let mut fields: Vec<&str> = Vec::with_capacity(width);
        for i in 0..b.num_rows() {
            let name = source.value(i);
            if !applied.contains(name) {
                continue;
            }
            if *file != *name {
                file = name.into();
            }
            fields.clear();
            fields.extend(
                text.iter()
                    .map(|c| if c.is_null(i) { "" } else { c.value(i) }),
            );
            let date = Date::from_days(file_date.value(i));
            let record =
                interpret_canonical(kind, date, &fields).map_err(|reason| Error::Invalid {
                    what: format!(
                        "bronze {} row {name}:{}",
                        kind.bronze_table(),
                        line.value(i)
                    ),
                    why: format!("the rules now reject it ({reason}): rebuild from the feed"),
                })?;
            let provenance = Provenance {
                file,
                line: u32::try_from(line.value(i)).map_err(|_| Error::Invalid {
                    what: format!("bronze {} row {name}", kind.bronze_table()),
                    why: format!("_line {} is no line number", line.value(i)),
                })?,
            };
            each(record, date, provenance);
        }
        Ok(())
    })
    .await
}

fn column(b: &RecordBatch, name: &str) -> Result<deltalake::arrow::array::ArrayRef> {
    b.column_by_name(name)
        .cloned()
        .ok_or_else(|| Error::Invalid {
            what: "bronze".into(),
            why: format!("no column {name}"),
        })
}
