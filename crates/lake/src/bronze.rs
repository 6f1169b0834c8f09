//! Bronze: every accepted row, typed, with where it came from; every reject.

use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, Date32Builder, Int64Builder, RecordBatch, StringBuilder};
use phone_consent_core::{Date, FileKind, Provenance, Record, RejectReason, SnapshotBuilder};
use phone_consent_feed::{RowSink, contract};

use crate::pii::PiiHasher;
use crate::schema;

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

/// Collects one file's rows: bronze columns, rejects, and records for reconciliation.
pub struct BronzeSink<'a> {
    kind: FileKind,
    file: Arc<str>,
    file_date: Date,
    pii: &'a mut PiiHasher,
    pii_columns: Vec<bool>,
    /// Per column, the last PII value and its hash: rows of one account are adjacent and
    /// share SSN and names, so most rows skip the hasher's lookup.
    last_pii: Vec<(String, String)>,
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
    /// A sink for one file.
    pub fn new(
        kind: FileKind,
        file: Arc<str>,
        file_date: Date,
        pii: &'a mut PiiHasher,
        accepted: Accepted<'a>,
    ) -> Self {
        let cols = contract::columns(kind);
        BronzeSink {
            kind,
            file,
            file_date,
            pii,
            pii_columns: cols.iter().map(|c| c.pii).collect(),
            last_pii: cols.iter().map(|_| Default::default()).collect(),
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

    /// The bronze batch of the accepted rows (`None` when there are none).
    pub fn finish(mut self) -> Option<RecordBatch> {
        if self.rows == 0 {
            return None;
        }
        let n = self.rows;
        let mut arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let mut file = StringBuilder::with_capacity(n, n * self.file.len());
        let mut file_date = Date32Builder::with_capacity(n);
        for _ in 0..n {
            file.append_value(&*self.file);
            file_date.append_value(self.file_date.days());
        }
        arrays.extend([
            Arc::new(self.account.finish()) as ArrayRef,
            Arc::new(self.phone.finish()),
            Arc::new(self.event_date.finish()),
            Arc::new(file.finish()),
            Arc::new(file_date.finish()),
            Arc::new(self.line.finish()),
        ]);
        Some(
            RecordBatch::try_new(schema::bronze(self.kind), arrays)
                .expect("bronze batch matches its schema"),
        )
    }
}

impl RowSink for BronzeSink<'_> {
    fn accept(&mut self, line: u64, fields: &[&str], record: Record) {
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
        self.account.append_value(record.key.account.text());
        self.phone.append_value(record.key.phone.e164(&mut [0; 12]));
        self.event_date.append_value(record.date.days());
        self.line.append_value(line as i64);
        self.rows += 1;
        let provenance = Provenance {
            file: self.file.clone(),
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
    fn reject(&mut self, line: u64, raw: &str, fields: Option<&[&str]>, reason: RejectReason) {
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
            line: Some(line),
            raw: Some(raw),
            reason,
            detail,
            kind: Some(self.kind),
            file_date: Some(self.file_date),
        });
    }
}
