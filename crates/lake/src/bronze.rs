//! Bronze: every accepted row, typed, with where it came from; every reject.

use std::path::PathBuf;
use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, Date32Builder, Int64Builder, RecordBatch, StringBuilder,
};
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
    dir: PathBuf,
    writer: Option<ParquetFileWriter>,
    error: Option<LakeError>,
    file: Arc<str>,
    /// The file's name as its rows' provenance carries it.
    provenance_file: FileName,
    file_date: Date,
    pii: &'a mut PiiHasher,
    pii_columns: Vec<bool>,
    /// Per column, the last PII value and its hash: rows of one account are adjacent and
    /// share SSN and names, so most rows skip the hasher's lookup.
    last_pii: Vec<(String, String)>,
    /// The last row's account and its text, for the same reason.
    last_account: (Option<Account>, String),
    columns: Vec<StringBuilder>,
    account: StringBuilder,
    phone: StringBuilder,
    event_date: Date32Builder,
    line: Int64Builder,
    rows: usize,
    accepted: Accepted<'a>,
    /// The file's rejected rows.
    pub rejects: Vec<RejectRow>,
}

impl<'a> BronzeSink<'a> {
    /// A sink for one file, staging its bronze rows in the lake's bronze table of `kind`.
    pub fn new(
        lake: &std::path::Path,
        kind: FileKind,
        file: Arc<str>,
        file_date: Date,
        pii: &'a mut PiiHasher,
        accepted: Accepted<'a>,
    ) -> Self {
        let cols = contract::columns(kind);
        BronzeSink {
            kind,
            batch_rows: BATCH_ROWS,
            dir: lake.join(schema::bronze_table(kind)),
            writer: None,
            error: None,
            provenance_file: FileName::new(&file),
            file,
            file_date,
            pii,
            pii_columns: cols.iter().map(|c| c.pii).collect(),
            last_pii: cols.iter().map(|_| Default::default()).collect(),
            last_account: Default::default(),
            columns: cols.iter().map(|_| StringBuilder::new()).collect(),
            account: StringBuilder::new(),
            phone: StringBuilder::new(),
            event_date: Date32Builder::new(),
            line: Int64Builder::new(),
            rows: 0,
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
        if let Some(e) = self.error {
            return Err(e);
        }
        self.writer.map(ParquetFileWriter::finish).transpose()
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
    }

    fn take_batch(&mut self) -> RecordBatch {
        let n = std::mem::take(&mut self.rows);
        let mut arrays: Vec<ArrayRef> = self.columns.iter_mut().map(finish_presized).collect();
        let mut file = StringBuilder::with_capacity(n, n * self.file.len());
        let mut file_date = Date32Builder::with_capacity(n);
        for _ in 0..n {
            file.append_value(&*self.file);
            file_date.append_value(self.file_date.days());
        }
        arrays.extend([
            finish_presized(&mut self.account),
            finish_presized(&mut self.phone),
            Arc::new(self.event_date.finish()),
            Arc::new(file.finish()),
            Arc::new(file_date.finish()),
            Arc::new(self.line.finish()),
        ]);
        RecordBatch::try_new(schema::bronze(self.kind), arrays)
            .expect("bronze batch matches its schema")
    }
}

/// The builder's column, the builder left with room for as many rows and bytes: the next
/// batch is as large, and growing it again by doubling copied every value once more.
fn finish_presized(builder: &mut StringBuilder) -> ArrayRef {
    let array = builder.finish();
    *builder = StringBuilder::with_capacity(array.len(), array.value_data().len());
    Arc::new(array)
}

impl RowSink for BronzeSink<'_> {
    fn accept(&mut self, line: u32, fields: &[&str], record: Record) {
        let columns = self.columns.iter_mut().zip(fields).zip(&self.pii_columns);
        for (((builder, value), pii), last) in columns.zip(&mut self.last_pii) {
            if !*pii {
                builder.append_value(value);
                continue;
            }
            if last.0 != *value {
                last.0.clear();
                last.0.push_str(value);
                last.1.clear();
                last.1.push_str(self.pii.hash(value));
            }
            builder.append_value(&last.1);
        }
        let (last, text) = &mut self.last_account;
        if last.as_ref() != Some(&record.key.account) {
            text.clear();
            text.push_str(&record.key.account.text());
            *last = Some(record.key.account.clone());
        }
        self.account.append_value(text);
        self.phone.append_value(record.key.phone.e164(&mut [0; 12]));
        self.event_date.append_value(record.date.days());
        self.line.append_value(i64::from(line));
        self.rows += 1;
        if self.rows >= self.batch_rows {
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
                            self.pii.hash(f).to_owned()
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
        let mut builder = SnapshotBuilder::default();
        let date = Date::parse("2024-01-01").unwrap();
        let mut sink = BronzeSink::new(
            &lake,
            FileKind::Snapshot,
            "f.csv".into(),
            date,
            &mut pii,
            Accepted::Snapshot(&mut builder),
        );
        sink.batch_rows = 3;
        // Rows of one account are usually adjacent, not always: each keeps its own account.
        let accounts = [1, 1, 2, 2, 2, 1, 3, 3, 1, 1];
        let mut key_accounts = Vec::new();
        for i in 0..10u32 {
            let phone = format!("212555{i:04}");
            let account = format!("10000000000000{:02}P", accounts[i as usize]);
            let fields = [
                "id",
                &account,
                "AG",
                "900112222",
                "Ann",
                "Lee",
                &phone,
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
            key_accounts.push(record.key.account.text().to_string());
            sink.accept(i + 2, &fields, record);
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
}
