//! Printing query results as a table, CSV or JSON.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use phone_consent_lake::arrow::array::RecordBatch;
use phone_consent_lake::arrow::compute::cast;
use phone_consent_lake::arrow::datatypes::{DataType, Field, Schema};

/// How to print rows.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// CSV with a header; booleans true/false, NULL empty, dates YYYY-MM-DD.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// Prints batches to standard output.
pub fn print(batches: &[RecordBatch], format: Format) -> Result<()> {
    let batches: Vec<RecordBatch> = batches.iter().map(plain_strings).collect::<Result<_>>()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Table => {
            let table = phone_consent_lake::arrow::util::pretty::pretty_format_batches(&batches)
                .context("formatting the table")?;
            writeln!(out, "{table}")?;
        }
        Format::Csv => {
            let mut w = phone_consent_lake::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in &batches {
                w.write(b).context("writing CSV")?;
            }
        }
        Format::Json => {
            let mut w = phone_consent_lake::arrow::json::ArrayWriter::new(&mut out);
            for b in &batches {
                w.write(b).context("writing JSON")?;
            }
            w.finish().context("writing JSON")?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// DataFusion reads strings as `Utf8View`; writers and readers of this output want `Utf8`.
fn plain_strings(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if matches!(f.data_type(), DataType::Utf8View | DataType::LargeUtf8) {
            fields.push(Field::new(f.name(), DataType::Utf8, f.is_nullable()));
            columns.push(cast(c, &DataType::Utf8)?);
        } else {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
