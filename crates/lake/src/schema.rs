//! The lake's tables: where each lives and its Arrow schema. DATE columns are `Date32`, no
//! timestamps, so Athena, Spark, Trino, DuckDB and Polars read them as they are.

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use phone_consent_core::FileKind;

use crate::delta::{Codec, WriteOptions};
use phone_consent_feed::contract;

/// Bronze `rejects`.
pub const REJECTS: &str = "bronze/rejects";
/// Silver `phone_events`, the audit trail.
pub const PHONE_EVENTS: &str = "silver/phone_events";
/// Silver `phone_state`.
pub const PHONE_STATE: &str = "silver/phone_state";
/// Silver `change_after_delete`: change records that met a deleted key.
pub const CHANGE_AFTER_DELETE: &str = "silver/change_after_delete";
/// Silver `snapshots`, the snapshot calendar.
pub const SNAPSHOTS: &str = "silver/snapshots";
/// Gold `phone_consent`.
pub const PHONE_CONSENT: &str = "gold/phone_consent";
/// Audit `ingest_ledger`: every feed file each run took in.
pub const INGEST_LEDGER: &str = "audit/ingest_ledger";
/// Audit `runs`: one row per run.
pub const RUNS: &str = "audit/runs";
/// Audit `quality_checks`: every data-quality check of every run.
pub const QUALITY_CHECKS: &str = "audit/quality_checks";

/// The lake path of a kind's bronze table.
pub fn bronze_table(kind: FileKind) -> String {
    format!("bronze/{}", kind.bronze_table())
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn date(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Date32, nullable)
}

fn boolean(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Boolean, nullable)
}

fn timestamp(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        nullable,
    )
}

fn float64(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Float64, nullable)
}

fn int64(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Int64, nullable)
}

/// The name of a bronze column: PII columns hold a keyed hash and say so.
pub fn bronze_column_name(c: &contract::Column) -> String {
    if c.pii {
        format!("{}_hash", c.name)
    } else {
        c.name.to_owned()
    }
}

/// Bronze columns that hold (nearly) one value per row: written without a parquet
/// dictionary, which would only overflow and fall back to plain encoding.
const BRONZE_UNIQUE_COLUMNS: &[&str] = &[
    "cnsmr_phn_id",
    "cnsmr_phn_hst_id",
    "cnsmr_idntfr_lgcy_txt",
    "cnsmr_idntfr_agncy_id",
    "cnsmr_idntfr_ssn_txt_hash",
    "cnsmr_phn_nmbr_txt",
    "account_number",
    "consumer_legacy_identifier",
    "agency_id",
    "ssn_hash",
    "phone_number",
    "key_account",
    "key_phone",
    "_line",
];

/// Bronze's random UUIDs: snappy cannot shrink them (measured: to 0.90 of their size).
const BRONZE_RANDOM_COLUMNS: &[&str] = &["cnsmr_phn_id", "cnsmr_phn_hst_id"];

/// Bronze columns that keep no min/max statistics: ids, hashes, line numbers, and the codes
/// (type, status, source, technology, score, flags) that every file holds most values of.
/// Bronze is read whole (rebuilds) or by key, and the keys, dates and file name keep theirs.
/// The codes' bounds cost 5 % of a run's CPU (measured on 64 files of the benchmark feed).
const BRONZE_UNBOUNDED_COLUMNS: &[&str] = &[
    "cnsmr_phn_typ_val_txt",
    "cnsmr_phn_stts_val_txt",
    "cnsmr_phn_src_val_txt",
    "cnsmr_phn_tchnlgy_typ_val_txt",
    "cnsmr_phn_qlty_score_nmbr",
    "cnsmr_phn_cnsnt_flg",
    "cnsmr_phn_sft_dlt_flg",
    "phone_type",
    "phone_technology",
    "phone_status",
    "phone_source",
    "quality_score",
    "cnsmr_idntfr_lgcy_txt",
    "cnsmr_idntfr_agncy_id",
    "cnsmr_idntfr_ssn_txt_hash",
    "cnsmr_nm_frst_txt_hash",
    "cnsmr_nm_lst_txt_hash",
    "cnsmr_phn_nmbr_txt",
    "account_number",
    "consumer_legacy_identifier",
    "agency_id",
    "ssn_hash",
    "first_name_hash",
    "last_name_hash",
    "phone_number",
    "_line",
];

/// How bronze data files are written.
pub fn bronze_write_options() -> WriteOptions {
    WriteOptions {
        // A writer holds its row group's encoded pages until the group ends: a whole snapshot
        // file per group held ~30 MB per worker (measured: 40 MB less peak RSS at 128k rows).
        max_row_group_rows: 128 * 1024,
        plain_columns: to_strings(BRONZE_UNIQUE_COLUMNS),
        random_columns: to_strings(BRONZE_RANDOM_COLUMNS),
        unbounded_columns: to_strings(BRONZE_UNBOUNDED_COLUMNS),
        // The other unique columns are keys, ids, hashes, phones (an account's rows are
        // neighbours, so neighbouring values share prefixes) and line numbers (which count
        // up): delta-encoded with no codec, bronze is as small as with plain and snappy
        // (2,248 against 2,225 MB on the 1 GB run) and the run 5.3 s of CPU cheaper (mean of
        // ten runs, each alternating with the old).
        delta_columns: to_strings(BRONZE_UNIQUE_COLUMNS)
            .into_iter()
            .filter(|c| !BRONZE_RANDOM_COLUMNS.contains(&c.as_str()))
            .collect(),
        ..WriteOptions::default()
    }
}

fn to_strings(columns: &[&str]) -> Vec<String> {
    columns.iter().map(|c| c.to_string()).collect()
}

/// Write options of the silver and gold tables: their key columns are nearly unique per
/// row, so a dictionary would only be built to be thrown away. Silver, which every run reads
/// back and rewrites, is left uncompressed (its dictionaries already shrink it; a codec cost
/// a fifth of a weekly run's CPU); gold keeps snappy.
pub fn keyed_write_options(table: &str) -> WriteOptions {
    WriteOptions {
        codec: match table.starts_with("silver/") {
            true => Codec::Uncompressed,
            false => Codec::Snappy,
        },
        plain_columns: vec!["account_number".into(), "phone_number".into()],
        // A writer holds a row group's encoded pages until it ends: uncompressed, a million
        // rows of the audit trail would be ~80 MB per writer.
        max_row_group_rows: 256 * 1024,
        ..WriteOptions::default()
    }
}

/// Bronze schema of a kind: every contract column as written (PII as keyed hashes), the
/// normalised key (`key_account`, `key_phone`) and event date, and where the row came from.
pub fn bronze(kind: FileKind) -> SchemaRef {
    let mut fields: Vec<Field> = contract::columns(kind)
        .iter()
        .map(|c| utf8(&bronze_column_name(c), true))
        .collect();
    fields.extend([
        utf8("key_account", false),
        utf8("key_phone", false),
        date("event_date", false),
        utf8("_source_file", false),
        date("_file_date", false),
        int64("_line", false),
    ]);
    Arc::new(Schema::new(fields))
}

/// Bronze `rejects`: one row per rejected row or file.
pub fn rejects() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("file", false),
        int64("line", true),
        utf8("raw", true),
        utf8("reason", false),
        utf8("detail", true),
        utf8("kind", true),
        date("_file_date", true),
    ]))
}

/// The attribute columns of silver `phone_events` and `phone_state`, in
/// [`phone_consent_core::Attributes`]' order.
pub const ATTRIBUTE_COLUMNS: [&str; 6] = [
    "phone_source",
    "phone_type",
    "phone_status",
    "phone_technology",
    "quality_score",
    "record_id",
];

/// Silver `phone_events`: every stored event (observed runs included) and every derived
/// `missing` event, with the file and line behind it.
pub fn phone_events() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("account_number", false),
        utf8("phone_number", false),
        utf8("event", false),
        date("event_date", false),
        date("last_date", false),
        date("file_date", false),
        utf8("source_file", false),
        int64("line", true),
        utf8("last_source_file", false),
        int64("last_line", true),
        utf8("phone_source", true),
        utf8("phone_type", true),
        utf8("phone_status", true),
        utf8("phone_technology", true),
        utf8("quality_score", true),
        utf8("record_id", true),
        boolean("consent", true),
        date("consent_date", true),
        int64("run_id", true),
    ]))
}

/// `phone_events` columns of few distinct values, read back as dictionaries.
pub const PHONE_EVENTS_REPEATED: &[&str] = &[
    "event",
    "source_file",
    "last_source_file",
    "phone_source",
    "phone_type",
    "phone_status",
    "phone_technology",
    "quality_score",
];

/// Silver `phone_state`: one row per key, its state, attributes and evidence.
pub fn phone_state() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("account_number", false),
        utf8("phone_number", false),
        utf8("phone_source", false),
        utf8("phone_type", false),
        utf8("phone_status", false),
        utf8("phone_technology", false),
        utf8("quality_score", false),
        utf8("record_id", false),
        boolean("has_sms_consent", true),
        date("sms_consent_updated_at", true),
        boolean("is_deleted", false),
        utf8("delete_type", true),
        date("deleted_at", true),
        date("first_seen_at", true),
        date("last_seen_at", true),
        date("last_event_at", false),
        boolean("can_send_sms", false),
        utf8("reason", false),
        utf8("decided_by_event", true),
        date("decided_by_date", true),
        utf8("decided_by_file", true),
        int64("decided_by_line", true),
        int64("changes_after_delete", false),
    ]))
}

/// Silver `change_after_delete` (SEMANTICS §3): one row per change record that met a
/// deleted key — the conflict the rules log and otherwise ignore.
pub fn change_after_delete() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("account_number", false),
        utf8("phone_number", false),
        date("event_date", false),
        utf8("source_file", false),
        int64("line", true),
    ]))
}

/// Silver `snapshots`: the snapshot calendar, with the keys each snapshot listed and dropped.
pub fn snapshots() -> SchemaRef {
    Arc::new(Schema::new(vec![
        date("snapshot_date", false),
        boolean("complete", false),
        utf8("first_file", false),
        int64("phones_listed", false),
        int64("phones_vanished", false),
    ]))
}

/// Gold `phone_consent`: exactly SPEC.md's columns.
pub fn phone_consent() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("account_number", false),
        utf8("phone_number", false),
        utf8("phone_source", false),
        boolean("has_sms_consent", true),
        date("sms_consent_updated_at", true),
        boolean("is_deleted", false),
        utf8("delete_type", true),
        date("deleted_at", true),
    ]))
}

/// Audit `ingest_ledger`: one row per file per run that took it in.
pub fn ingest_ledger() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("file", false),
        utf8("kind", true),
        date("file_date", true),
        int64("size", false),
        int64("modified_ms", false),
        utf8("sha256", false),
        utf8("status", false),
        utf8("reason", true),
        int64("rows_read", false),
        int64("rows_accepted", false),
        int64("rows_rejected", false),
        int64("duplicates", false),
        int64("run_id", false),
        timestamp("applied_at", false),
        boolean("replaced", false),
    ]))
}

/// Audit `runs`: what each run applied, its counts, duration, mode and the versions it
/// published.
pub fn runs() -> SchemaRef {
    Arc::new(Schema::new(vec![
        int64("run_id", false),
        timestamp("started_at", false),
        int64("duration_ms", false),
        utf8("mode", false),
        utf8("data_dir", false),
        int64("files_applied", false),
        int64("files_rejected", false),
        int64("files_skipped", false),
        int64("files_refused", false),
        int64("feed_bytes_read", false),
        int64("rows_read", false),
        int64("rows_accepted", false),
        int64("rows_rejected", false),
        int64("duplicates", false),
        int64("keys", false),
        int64("can_send", false),
        date("newest_snapshot", true),
        int64("phone_events_version", true),
        int64("gold_version", true),
        date("feed_date", true),
        int64("snapshot_age_days", true),
        int64("uncovered_days", true),
        int64("checks_warned", false),
        int64("checks_failed", false),
    ]))
}

/// Audit `quality_checks`: one row per check per run.
pub fn quality_checks() -> SchemaRef {
    Arc::new(Schema::new(vec![
        int64("run_id", false),
        utf8("check", false),
        utf8("severity", false),
        utf8("status", false),
        float64("value", true),
        float64("threshold", false),
        utf8("detail", false),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bronze_write_options_name_bronze_columns() {
        let kinds = [FileKind::Snapshot, FileKind::Change, FileKind::Enrollment];
        let names: Vec<String> = kinds
            .iter()
            .flat_map(|k| {
                bronze(*k)
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        let options = bronze_write_options();
        let listed = [
            &options.plain_columns,
            &options.random_columns,
            &options.unbounded_columns,
            &options.delta_columns,
        ];
        for column in listed.into_iter().flatten() {
            assert!(names.contains(column), "{column} is no bronze column");
        }
        let delta = |c: &str| options.delta_columns.iter().any(|d| d == c);
        assert!(delta("key_account") && delta("_line") && !delta("cnsmr_phn_id"));
    }

    #[test]
    fn repeated_phone_events_columns_are_its_text_columns() {
        let schema = phone_events();
        for column in PHONE_EVENTS_REPEATED {
            let field = schema
                .field_with_name(column)
                .expect("a phone_events column");
            assert_eq!(field.data_type(), &DataType::Utf8, "{column}");
        }
    }
}
