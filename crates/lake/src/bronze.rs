//! Bronze: every accepted row, typed, with where it came from; every reject.

use std::path::PathBuf;
use std::sync::Arc;

use deltalake::arrow::array::{
    ArrayRef, AsArray, Date32Array, Int64Array, RecordBatch, StringArray,
};
use deltalake::arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use deltalake::arrow::datatypes::{Date32Type, Int64Type};
use phone_consent_core::{
    Account, Date, FileKind, FileName, Provenance, Record, RejectReason, SnapshotBuilder,
};
use phone_consent_feed::{RowSink, contract};

use crate::delta::{LakeError, ParquetFileWriter, StagedFile, WriteOptions};
use crate::pii::PiiHasher;
use crate::schema;

/// Rows gathered before they are written to the file's parquet: bounds a worker's memory
/// to one batch, whatever the file's size.
const BATCH_ROWS: usize = 65_536;
/// Field bytes gathered before a batch is written, however few its rows: bounds memory
/// when rows are long, and keeps every column's offsets within `i32`.
const BATCH_BYTES: usize = 256 << 20;

/// A worker's bronze column buffers, handed from batch to batch and file to file: fresh
/// ones cost a page fault for every 4 KiB they fill and a copy at every doubling.
#[derive(Debug, Default)]
pub struct BronzeBuffers {
    texts: Vec<TextColumn>,
    days: Vec<Vec<i32>>,
    lines: Vec<Vec<i64>>,
}

impl BronzeBuffers {
    fn text(&mut self) -> TextColumn {
        self.texts.pop().unwrap_or_default()
    }
}

/// A string column being gathered: its values end to end and where each ends.
#[derive(Debug)]
struct TextColumn {
    values: Vec<u8>,
    /// Starts with 0; one more entry per value.
    offsets: Vec<i32>,
}

impl Default for TextColumn {
    fn default() -> Self {
        TextColumn {
            values: Vec::new(),
            offsets: vec![0],
        }
    }
}

impl TextColumn {
    /// Appends a value: the batch's byte bound keeps the column's end within `i32`.
    fn push(&mut self, value: &str) {
        self.push_bytes(value.as_bytes());
    }

    /// Bytes of text (ASCII digests): the array checks the column is UTF-8 when it is made.
    fn push_bytes(&mut self, value: &[u8]) {
        self.values.extend_from_slice(value);
        let end = i32::try_from(self.values.len()).expect("a batch's bytes fit in i32");
        self.offsets.push(end);
    }

    /// The column as an Arrow array, without copying its bytes.
    fn take_array(&mut self) -> ArrayRef {
        let TextColumn { values, offsets } = std::mem::take(self);
        let array = StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Buffer::from_vec(values),
            None,
        );
        Arc::new(array.expect("values appended as &str are UTF-8 between their offsets"))
    }

    /// The buffers of an array `take_array` made, emptied, when nothing else holds them.
    fn reclaim(array: ArrayRef) -> Option<TextColumn> {
        let strings = array.as_string_opt::<i32>()?.clone();
        drop(array);
        let (offsets, values, _) = strings.into_parts();
        let mut offsets = offsets.into_inner().into_inner().into_vec::<i32>().ok()?;
        let mut values = values.into_vec::<u8>().ok()?;
        values.clear();
        offsets.clear();
        offsets.push(0);
        Some(TextColumn { values, offsets })
    }
}

/// The buffer of a primitive array, emptied, when nothing else holds it.
fn reclaim_primitive<T: deltalake::arrow::datatypes::ArrowPrimitiveType>(
    array: ArrayRef,
) -> Option<Vec<T::Native>> {
    let values = array.as_primitive_opt::<T>()?.clone();
    drop(array);
    let mut values = values.into_parts().1.into_inner().into_vec().ok()?;
    values.clear();
    Some(values)
}

/// One rejected row or file, as bronze `rejects` keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectRow {
    /// The file name.
    pub file: Arc<str>,
    /// The row's line; `None` for a whole file.
    pub line: Option<u64>,
    /// The row's text; `None` for a whole file.
    pub raw: Option<String>,
    /// Why.
    pub reason: RejectReason,
    /// More detail (whole files).
    pub detail: Option<String>,
    /// The file's kind, when its name told it.
    pub kind: Option<FileKind>,
    /// The file's date, when its name told it.
    pub file_date: Option<Date>,
}

/// Where a file's accepted rows go for reconciliation.
pub enum Accepted<'a> {
    /// NON-FIN rows: into their snapshot.
    Snapshot(&'a mut SnapshotBuilder),
    /// ENRLMT and SUPPLFWD rows: row events.
    Rows(&'a mut Vec<(Record, Provenance)>),
}

/// Collects one file's rows: bronze columns (streamed to one staged parquet file), rejects,
/// and records for reconciliation.
pub struct BronzeSink<'a> {
    kind: FileKind,
    batch_rows: usize,
    batch_bytes: usize,
    dir: PathBuf,
    writer: Option<ParquetFileWriter>,
    error: Option<LakeError>,
    file: Arc<str>,
    /// The file's name as its rows' provenance carries it.
    provenance_file: FileName,
    file_date: Date,
    pii: &'a mut PiiHasher,
    pii_columns: Vec<bool>,
    /// The last row's account and its text, for the same reason.
    last_account: (Option<Account>, String),
    buffers: &'a mut BronzeBuffers,
    columns: Vec<TextColumn>,
    account: TextColumn,
    phone: TextColumn,
    event_date: Vec<i32>,
    line: Vec<i64>,
    rows: usize,
    /// The gathered rows' field bytes.
    bytes: usize,
    accepted: Accepted<'a>,
    /// The file's rejected rows.
    pub rejects: Vec<RejectRow>,
}

impl<'a> BronzeSink<'a> {
    /// A sink for one file, staging its bronze rows in the lake's bronze table of `kind`,
    /// gathering them in (and leaving behind) the worker's `buffers`.
    pub fn new(
        lake: &std::path::Path,
        kind: FileKind,
        file: Arc<str>,
        file_date: Date,
        pii: &'a mut PiiHasher,
        buffers: &'a mut BronzeBuffers,
        accepted: Accepted<'a>,
    ) -> Self {
        let cols = contract::columns(kind);
        BronzeSink {
            kind,
            batch_rows: BATCH_ROWS,
            batch_bytes: BATCH_BYTES,
            dir: lake.join(schema::bronze_table(kind)),
            writer: None,
            error: None,
            provenance_file: FileName::new(&file),
            file,
            file_date,
            pii,
            pii_columns: cols.iter().map(|c| c.pii).collect(),
            last_account: Default::default(),
            columns: cols.iter().map(|_| buffers.text()).collect(),
            account: buffers.text(),
            phone: buffers.text(),
            event_date: buffers.days.pop().unwrap_or_default(),
            line: buffers.lines.pop().unwrap_or_default(),
            buffers,
            rows: 0,
            bytes: 0,
            accepted,
            rejects: Vec::new(),
        }
    }

    /// Makes room for the rows of a decoded file: `text`'s lines bound them.
    pub fn expect_rows_of(&mut self, text: &str) {
        let lines = phone_consent_feed::line_count(text);
        match &mut self.accepted {
            Accepted::Snapshot(s) => s.reserve(lines),
            Accepted::Rows(rows) => rows.reserve(lines),
        }
    }

    /// Closes the file's staged parquet (`None` when no row was accepted). Nothing is
    /// visible in the lake until it is committed.
    pub fn finish(mut self) -> Result<Option<StagedFile>, LakeError> {
        self.flush();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.writer
            .take()
            .map(ParquetFileWriter::finish)
            .transpose()
    }

    /// Writes the gathered rows to the staged file (the first error is kept for `finish`).
    fn flush(&mut self) {
        if self.rows == 0 || self.error.is_some() {
            return;
        }
        let batch = self.take_batch();
        let writer = match &mut self.writer {
            Some(w) => w,
            None => match ParquetFileWriter::create(
                &self.dir,
                schema::bronze(self.kind),
                &WriteOptions {
                    file_prefix: Some(crate::ledger::file_prefix(&self.file)),
                    ..schema::bronze_write_options()
                },
            ) {
                Ok(w) => self.writer.insert(w),
                Err(e) => {
                    self.error = Some(e);
                    return;
                }
            },
        };
        if let Err(e) = writer.write(&batch) {
            self.error = Some(e);
        }
        self.reclaim(batch);
    }

    fn take_batch(&mut self) -> RecordBatch {
        let n = std::mem::take(&mut self.rows);
        self.bytes = 0;
        let mut arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(TextColumn::take_array)
            .collect();
        let mut file = self.buffers.text();
        for _ in 0..n {
            file.push(&self.file);
        }
        let mut file_date = self.buffers.days.pop().unwrap_or_default();
        file_date.resize(n, self.file_date.days());
        arrays.extend([
            self.account.take_array(),
            self.phone.take_array(),
            Arc::new(Date32Array::new(
                std::mem::take(&mut self.event_date).into(),
                None,
            )),
            file.take_array(),
            Arc::new(Date32Array::new(file_date.into(), None)),
            Arc::new(Int64Array::new(std::mem::take(&mut self.line).into(), None)),
        ]);
        RecordBatch::try_new(schema::bronze(self.kind), arrays)
            .expect("bronze batch matches its schema")
    }

    /// Takes back a written batch's buffers, in `take_batch`'s column order, so the next
    /// batch fills them again.
    fn reclaim(&mut self, batch: RecordBatch) {
        let (_, arrays, _) = batch.into_parts();
        let mut arrays = arrays.into_iter();
        let text = |column: &mut TextColumn, arrays: &mut std::vec::IntoIter<ArrayRef>| {
            *column = arrays
                .next()
                .and_then(TextColumn::reclaim)
                .unwrap_or_default();
        };
        for column in &mut self.columns {
            text(column, &mut arrays);
        }
        text(&mut self.account, &mut arrays);
        text(&mut self.phone, &mut arrays);
        let days = |arrays: &mut std::vec::IntoIter<ArrayRef>| {
            arrays
                .next()
                .and_then(reclaim_primitive::<Date32Type>)
                .unwrap_or_default()
        };
        self.event_date = days(&mut arrays);
        let mut file = TextColumn::default();
        text(&mut file, &mut arrays);
        self.buffers.texts.push(file);
        let file_date = days(&mut arrays);
        self.buffers.days.push(file_date);
        self.line = arrays
            .next()
            .and_then(reclaim_primitive::<Int64Type>)
            .unwrap_or_default();
    }
}

/// The sink's buffers go back to the worker for its next file.
impl Drop for BronzeSink<'_> {
    fn drop(&mut self) {
        let buffers = &mut *self.buffers;
        buffers.lines.push(std::mem::take(&mut self.line));
        buffers.days.push(std::mem::take(&mut self.event_date));
        buffers.texts.push(std::mem::take(&mut self.phone));
        buffers.texts.push(std::mem::take(&mut self.account));
        // In reverse, so that the next sink's columns take them back in order.
        buffers.texts.extend(self.columns.drain(..).rev());
    }
}

impl RowSink for BronzeSink<'_> {
    fn accept(&mut self, line: u32, fields: &[&str], record: Record) {
        let row_bytes: usize = fields.iter().map(|f| f.len()).sum();
        if row_bytes > self.batch_bytes && self.error.is_none() {
            self.error = Some(LakeError::Location {
                location: format!("{}, line {line}", self.file),
                why: format!(
                    "a row of {row_bytes} bytes; bronze takes rows of up to {} bytes",
                    self.batch_bytes
                ),
            });
        }
        if self.error.is_some() {
            return;
        }
        let columns = self.columns.iter_mut().zip(fields).zip(&self.pii_columns);
        for (i, ((column, value), pii)) in columns.enumerate() {
            match pii {
                true => column.push_bytes(self.pii.hex(i, value)),
                false => column.push(value),
            }
        }
        let (last, text) = &mut self.last_account;
        if last.as_ref() != Some(&record.key.account) {
            text.clear();
            text.push_str(&record.key.account.text());
            *last = Some(record.key.account.clone());
        }
        self.account.push(text);
        self.phone
            .push_bytes(record.key.phone.e164_ascii(&mut [0; 12]));
        self.event_date.push(record.date.days());
        self.line.push(i64::from(line));
        self.rows += 1;
        self.bytes += row_bytes;
        if self.rows >= self.batch_rows || self.bytes >= self.batch_bytes {
            self.flush();
        }
        let provenance = Provenance {
            file: self.provenance_file,
            line,
        };
        match &mut self.accepted {
            Accepted::Snapshot(s) => s.add(record, provenance),
            Accepted::Rows(rows) => rows.push((record, provenance)),
        }
    }

    /// PII never reaches bronze in clear: a rejected row keeps its fields (canonical order)
    /// with PII columns as keyed hashes; a row of the wrong width cannot be aligned with the
    /// header, so its text is withheld and only its keyed hash and field count are kept.
    fn reject(&mut self, line: u32, raw: &str, fields: Option<&[&str]>, reason: RejectReason) {
        let (raw, detail) = match fields {
            Some(fields) => {
                let masked: Vec<String> = fields
                    .iter()
                    .zip(&self.pii_columns)
                    .map(|(f, pii)| {
                        if *pii {
                            self.pii.hash(f)
                        } else {
                            (*f).to_owned()
                        }
                    })
                    .collect();
                (masked.join("|"), None)
            }
            None => (
                format!("withheld:{}", self.pii.hash(raw)),
                Some(format!(
                    "{} fields; the text is withheld because PII cannot be located in it",
                    raw.split('|').count()
                )),
            ),
        };
        self.rejects.push(RejectRow {
            file: self.file.clone(),
            line: Some(u64::from(line)),
            raw: Some(raw),
            reason,
            detail,
            kind: Some(self.kind),
            file_date: Some(self.file_date),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::{CommitMode, commit, read_table};
    use deltalake::arrow::array::StringArray;
    use phone_consent_core::{Date, interpret};

    #[tokio::test]
    async fn a_file_larger_than_a_batch_is_staged_whole_in_one_file() {
        let lake = std::env::temp_dir().join(format!("pc-bronze-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&lake);
        let mut pii = PiiHasher::new([7; 32]);
        let mut buffers = BronzeBuffers::default();
        let mut builder = SnapshotBuilder::default();
        let date = Date::parse("2024-01-01").unwrap();
        let mut sink = snapshot_sink(&lake, "f.csv", date, &mut pii, &mut buffers, &mut builder);
        sink.batch_rows = 3;
        // Rows of one account are usually adjacent, not always: each keeps its own account.
        let accounts = [1, 1, 2, 2, 2, 1, 3, 3, 1, 1];
        let mut key_accounts = Vec::new();
        for i in 0..10u32 {
            let phone = format!("212555{i:04}");
            let account = format!("10000000000000{:02}P", accounts[i as usize]);
            key_accounts.push(accept_row(&mut sink, date, i + 2, &account, &phone));
        }
        assert_eq!(key_accounts[2], "1000000000000002");
        let staged = sink.finish().unwrap().expect("rows were accepted");
        let dir = lake.join(schema::bronze_table(FileKind::Snapshot));
        commit(
            &dir,
            &schema::bronze(FileKind::Snapshot),
            vec![staged],
            CommitMode::Overwrite,
        )
        .await
        .unwrap();
        let batches = read_table(&dir).await.unwrap();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 10);
        assert_eq!(builder.len(), 10);
        let written: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                let column = b.column_by_name("key_account").unwrap();
                let column = column.as_any().downcast_ref::<StringArray>().unwrap();
                column
                    .iter()
                    .map(|v| v.unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(written, key_accounts);
        let _ = std::fs::remove_dir_all(&lake);
    }

    /// A sink for the NON-FIN file `file` dated `date`.
    fn snapshot_sink<'a>(
        lake: &std::path::Path,
        file: &str,
        date: Date,
        pii: &'a mut PiiHasher,
        buffers: &'a mut BronzeBuffers,
        builder: &'a mut SnapshotBuilder,
    ) -> BronzeSink<'a> {
        let accepted = Accepted::Snapshot(builder);
        BronzeSink::new(
            lake,
            FileKind::Snapshot,
            file.into(),
            date,
            pii,
            buffers,
            accepted,
        )
    }

    /// Accepts a NON-FIN row; returns its key account's text.
    fn accept_row(
        sink: &mut BronzeSink,
        date: Date,
        line: u32,
        account: &str,
        phone: &str,
    ) -> String {
        let fields = [
            "id",
            account,
            "AG",
            "900112222",
            "Ann",
            "Lee",
            phone,
            "CELL",
            "ACTIVE",
            "CLIENT",
            "WIRELESS",
            "80",
            "",
            "",
        ];
        let raw = phone_consent_core::RawRow {
            account: fields[1],
            phone: fields[6],
            source: fields[9],
            ..Default::default()
        };
        let record = interpret(FileKind::Snapshot, date, &raw).unwrap();
        let key_account = record.key.account.text().to_string();
        sink.accept(line, &fields, record);
        key_account
    }

    #[tokio::test]
    async fn buffers_handed_on_from_batch_to_batch_and_file_to_file_keep_every_row_its_own() {
        let lake = std::env::temp_dir().join(format!("pc-bronze-reuse-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&lake);
        let mut pii = PiiHasher::new([7; 32]);
        let mut buffers = BronzeBuffers::default();
        let date = Date::parse("2024-01-01").unwrap();
        let mut staged = Vec::new();
        let mut expected = Vec::new();
        // Batches cut by rows, by bytes (a row is ~70 bytes of fields), and not at all.
        for (file, rows, batch_rows, batch_bytes) in [
            ("f.csv", 7, 2, BATCH_BYTES),
            ("g.csv", 5, BATCH_ROWS, 100),
            ("h.csv", 3, BATCH_ROWS, BATCH_BYTES),
        ] {
            let mut builder = SnapshotBuilder::default();
            let mut sink = snapshot_sink(&lake, file, date, &mut pii, &mut buffers, &mut builder);
            sink.batch_rows = batch_rows;
            sink.batch_bytes = batch_bytes;
            for i in 0..rows {
                let phone = format!("21255{:05}", expected.len());
                accept_row(
                    &mut sink,
                    date,
                    i + 2,
                    &format!("10000000000000{i:02}P"),
                    &phone,
                );
                expected.push((file.to_string(), i64::from(i + 2), phone));
            }
            staged.push(sink.finish().unwrap().expect("rows were accepted"));
            let kept = buffers.texts.iter().map(|t| t.values.capacity()).max();
            assert!(
                kept > Some(0),
                "{file}: the columns' buffers come back for the next file"
            );
        }
        let dir = lake.join(schema::bronze_table(FileKind::Snapshot));
        commit(
            &dir,
            &schema::bronze(FileKind::Snapshot),
            staged,
            CommitMode::Overwrite,
        )
        .await
        .unwrap();
        let mut written = Vec::new();
        for batch in read_table(&dir).await.unwrap() {
            let text = |name: &str| {
                batch
                    .column_by_name(name)
                    .unwrap()
                    .as_string::<i32>()
                    .clone()
            };
            let (file, phone) = (text("_source_file"), text("cnsmr_phn_nmbr_txt"));
            let line = batch.column_by_name("_line").unwrap();
            let line = line.as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                let phone = phone.value(row).to_string();
                written.push((file.value(row).to_string(), line.value(row), phone));
            }
        }
        written.sort();
        expected.sort();
        assert_eq!(written, expected);
        let _ = std::fs::remove_dir_all(&lake);
    }

    #[test]
    fn a_row_larger_than_a_batch_may_hold_fails_the_file_naming_its_line() {
        let lake = std::env::temp_dir().join(format!("pc-bronze-huge-{}", std::process::id()));
        let mut pii = PiiHasher::new([7; 32]);
        let mut buffers = BronzeBuffers::default();
        let mut builder = SnapshotBuilder::default();
        let date = Date::parse("2024-01-01").unwrap();
        let mut sink = snapshot_sink(&lake, "f.csv", date, &mut pii, &mut buffers, &mut builder);
        sink.batch_bytes = 50;
        accept_row(&mut sink, date, 2, "1000000000000001P", "2125550001");
        let error = sink
            .finish()
            .expect_err("the row cannot be held")
            .to_string();
        assert!(error.contains("f.csv, line 2"), "{error}");
        assert!(
            builder.is_empty(),
            "nothing of the file reaches reconciliation"
        );
        let _ = std::fs::remove_dir_all(&lake);
    }
}
