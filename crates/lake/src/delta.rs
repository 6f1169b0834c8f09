//! Delta Lake I/O for the bronze / silver / gold tables under a lake root.
//!
//! The write path is split in two so that CPU-heavy encoding can run on plain
//! (rayon) worker threads while the transaction log is only touched from
//! async code:
//!
//! 1. **Stage** — [`write_parquet`] (or the streaming [`ParquetFileWriter`])
//!    synchronously encodes Arrow [`RecordBatch`]es into one parquet data file
//!    inside the table directory and returns a [`StagedFile`] (relative path,
//!    size, row count, Delta statistics JSON). A staged file is invisible to
//!    every reader: readers only see files referenced by the Delta log.
//! 2. **Commit** — [`commit`] adds the staged files to the table in one atomic
//!    Delta commit, either appending or replacing all current files
//!    ([`CommitMode`]). The table is created (version 0) on first commit. The
//!    commit goes through deltalake's own transaction machinery
//!    (`CreateBuilder` / `CommitBuilder` with `Add` / `Remove` actions), so
//!    conflict checks, retries and checkpoints behave like any delta-rs write.
//!
//! Tables stay at protocol `minReaderVersion = 1`, `minWriterVersion = 2` (no
//! deletion vectors, no column mapping, no `timestampNtz`), which Spark,
//! Athena/Trino and Python `deltalake` all read. Arrow types map as: `Utf8` →
//! `string`, `Int64` → `long`, `Boolean` → `boolean`, `Date32` → `date`.
//!
//! Reading ([`read_table`], [`read_table_version`]) and SQL ([`sql_context`],
//! [`sql`]) use deltalake's DataFusion table provider, so only committed files
//! are ever read.
//!
//! Storage: commit, read and version look-ups go through the table's Delta
//! log store: a local folder (`file://`) or an S3 prefix (see [`crate::store`]).
//! For a table in S3, files are staged in a local folder and uploaded just
//! before the commit that names them, and [`data_files`] are read from a local
//! cache.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use deltalake::arrow::array::{BooleanArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::temporal_conversions::date32_to_datetime;
use deltalake::datafusion::catalog::MemorySchemaProvider;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::delta_datafusion::DeltaSessionContext;
use deltalake::kernel::engine::arrow_conversion::{TryIntoArrow, TryIntoKernel};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TableReference};
use deltalake::kernel::{Action, Add, MetadataExt, StructType};
use deltalake::operations::create::CreateBuilder;
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use deltalake::parquet::basic::{Compression, Encoding, ZstdLevel};
use deltalake::parquet::errors::ParquetError;
use deltalake::parquet::file::metadata::ParquetMetaData;
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::parquet::file::statistics::Statistics;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use serde_json::{Map, Value, json};
use url::Url;

use crate::store;

/// Name of the Delta transaction log directory inside a table directory.
const DELTA_LOG_DIR: &str = "_delta_log";

/// Delta's default `dataSkippingNumIndexedCols`: statistics are collected for
/// the first 32 leaf columns only.
const NUM_INDEXED_COLS: usize = 32;

/// Errors raised by the Delta I/O layer. Every variant names the table (or
/// file / lake root) it concerns.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// An error from deltalake (log replay, commit, conflict, ...).
    #[error("delta table {table}: {source}")]
    Delta {
        /// Table directory or URL.
        table: String,
        /// Underlying deltalake error.
        #[source]
        source: Box<DeltaTableError>,
    },
    /// Encoding a parquet data file failed.
    #[error("writing parquet file {file}: {source}")]
    Parquet {
        /// Path of the data file being written.
        file: String,
        /// Underlying parquet error.
        #[source]
        source: ParquetError,
    },
    /// Decoding a committed parquet data file failed.
    #[error("reading parquet file {file}: {source}")]
    ParquetRead {
        /// Path of the data file being read.
        file: String,
        /// Underlying parquet error.
        #[source]
        source: ParquetError,
    },
    /// A local file-system operation failed.
    #[error("i/o on {path}: {source}")]
    Io {
        /// Path the operation was applied to.
        path: String,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Converting or casting Arrow data failed.
    #[error("arrow data of table {table}: {source}")]
    Arrow {
        /// Table directory.
        table: String,
        /// Underlying arrow error.
        #[source]
        source: ArrowError,
    },
    /// Planning or running a DataFusion query failed.
    #[error("query over {context}: {source}")]
    Query {
        /// The table or lake root the query ran against.
        context: String,
        /// Underlying DataFusion error.
        #[source]
        source: Box<DataFusionError>,
    },
    /// A lake or feed location that cannot be used.
    #[error("{location}: {why}")]
    Location {
        /// The location as given.
        location: String,
        /// What is wrong with it.
        why: String,
    },
    /// An object store request failed.
    #[error("object store {location}: {source}")]
    Object {
        /// What was being read or written.
        location: String,
        /// Underlying object store error.
        #[source]
        source: Box<deltalake::logstore::object_store::Error>,
    },
    /// The path does not hold a Delta table.
    #[error("no delta table at {table}")]
    NotATable {
        /// Table directory.
        table: String,
    },
    /// A schema is unsupported, or does not match the table or the staged files.
    #[error("schema of delta table {table}: {message}")]
    Schema {
        /// Table directory.
        table: String,
        /// What is wrong.
        message: String,
    },
    /// A staged file does not belong to the table being committed.
    #[error("staged file {file} cannot be committed to {table}: {message}")]
    StagedFile {
        /// Table directory of the commit.
        table: String,
        /// Relative path of the offending staged file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// Result alias for this module.
pub type Result<T, E = LakeError> = std::result::Result<T, E>;

/// Parquet compression codec for staged data files.
///
/// All of them are readable by Spark 3.x, Athena (engine v3) and Python
/// `deltalake`; [`Codec::Snappy`] is the most universally supported and the
/// default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// Snappy (the Spark / Delta default).
    #[default]
    Snappy,
    /// LZ4 raw block format (`LZ4_RAW`, parquet-format 2.9+). Older parquet-mr
    /// readers (before 1.13 / Spark 3.5) cannot read it.
    Lz4Raw,
    /// Zstandard at the given level (1 = fastest).
    Zstd(i32),
    /// No compression.
    Uncompressed,
}

impl Codec {
    fn compression(self) -> Result<Compression, ParquetError> {
        Ok(match self {
            Codec::Snappy => Compression::SNAPPY,
            Codec::Lz4Raw => Compression::LZ4_RAW,
            Codec::Zstd(level) => Compression::ZSTD(ZstdLevel::try_new(level)?),
            Codec::Uncompressed => Compression::UNCOMPRESSED,
        })
    }

    /// File-name infix, following Spark's `part-…-c000.<codec>.parquet`.
    fn file_infix(self) -> &'static str {
        match self {
            Codec::Snappy => ".snappy",
            Codec::Lz4Raw => ".lz4raw",
            Codec::Zstd(_) => ".zstd",
            Codec::Uncompressed => "",
        }
    }
}

/// Options for staging parquet data files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// Compression codec.
    pub codec: Codec,
    /// Maximum rows per parquet row group.
    pub max_row_group_rows: usize,
    /// Columns written without dictionary encoding. Worth setting for
    /// high-cardinality strings (phone numbers, account ids): parquet
    /// otherwise builds a dictionary, overflows it and falls back to plain
    /// encoding, which cost ~15% of the CPU of a 16-column write in tests.
    pub plain_columns: Vec<String>,
    /// Columns of random-looking text (UUIDs, hex hashes), stored without compression and
    /// without min/max statistics: a codec cannot shrink them and their bounds prune nothing,
    /// so both would only cost time.
    pub random_columns: Vec<String>,
    /// Columns stored without min/max statistics: values no query selects a range of, whose
    /// bounds would cost a comparison per value and prune nothing.
    pub unbounded_columns: Vec<String>,
    /// Columns of keys, ids and line numbers whose neighbours share prefixes or differ by a
    /// little, written with parquet's delta encodings (text `DELTA_BYTE_ARRAY`, integers
    /// `DELTA_BINARY_PACKED`), without dictionary or codec: as small as plain with snappy,
    /// and cheaper to write.
    pub delta_columns: Vec<String>,
    /// Start of the data file's name (default `part`): files staged with one prefix can be
    /// replaced together by [`CommitMode::Replace`]. Letters, digits, `-` and `_` only.
    pub file_prefix: Option<String>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            codec: Codec::default(),
            max_row_group_rows: 1024 * 1024,
            plain_columns: Vec::new(),
            random_columns: Vec::new(),
            unbounded_columns: Vec::new(),
            delta_columns: Vec::new(),
            file_prefix: None,
        }
    }
}

/// A parquet data file written into a table directory but not yet committed.
///
/// Pass it to [`commit`] to make it part of the table. Until then no reader
/// sees it; if it is never committed it is an orphan that `VACUUM` removes.
#[derive(Debug, Clone)]
pub struct StagedFile {
    /// Table directory the file was written for.
    pub table_dir: PathBuf,
    /// Where the file's bytes are: in the table directory, or (for a table in an object
    /// store) in a local staging folder until the commit uploads them.
    pub written_to: PathBuf,
    /// Path of the file relative to the table directory, `/`-separated
    /// (what goes into the Delta `add.path`).
    pub path: String,
    /// File size in bytes.
    pub size: i64,
    /// Number of rows in the file.
    pub num_rows: i64,
    /// Last-modified time in milliseconds since the Unix epoch.
    pub modification_time: i64,
    /// Delta per-file statistics JSON (`numRecords`, `minValues`,
    /// `maxValues`, `nullCount`), derived from the parquet footer.
    pub stats: Option<String>,
    /// Arrow schema of the rows in the file.
    pub schema: SchemaRef,
}

impl StagedFile {
    fn to_add(&self) -> Add {
        Add {
            path: self.path.clone(),
            partition_values: HashMap::new(),
            size: self.size,
            modification_time: self.modification_time,
            data_change: true,
            stats: self.stats.clone(),
            ..Default::default()
        }
    }
}

/// How [`commit`] combines the staged files with the table's current files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitMode {
    /// Add the staged files; current files stay. The schema must equal the
    /// table's schema.
    Append,
    /// Remove every current file and add the staged files, in one commit.
    /// A different schema replaces the table's schema.
    Overwrite,
    /// Remove every current file whose name starts with one of these prefixes (see
    /// [`WriteOptions::file_prefix`]) and add the staged files, in one commit. The schema
    /// must equal the table's schema.
    Replace(Vec<String>),
}

impl fmt::Display for CommitMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommitMode::Append => "append",
            CommitMode::Overwrite => "overwrite",
            CommitMode::Replace(_) => "replace",
        })
    }
}

/// A Delta table found under the lake root by [`find_tables`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableEntry {
    /// Table directory.
    pub dir: PathBuf,
    /// Directory names from the lake root down to the table, e.g.
    /// `["bronze", "nonfin"]`.
    pub components: Vec<String>,
}

impl TableEntry {
    /// The table's name: its directory name (`nonfin`).
    pub fn name(&self) -> &str {
        self.components.last().map(String::as_str).unwrap_or("")
    }

    /// `layer.name` (e.g. `bronze.nonfin`) when the table sits directly in a
    /// layer directory under the lake root, else `None`.
    pub fn qualified_name(&self) -> Option<String> {
        match self.components.as_slice() {
            [layer, name] => Some(format!("{layer}.{name}")),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Staging parquet files (synchronous; callable from any thread)
// ---------------------------------------------------------------------------

/// Streaming writer of one staged parquet data file.
///
/// Synchronous and `Send`: create one per output file on a worker thread,
/// [`write`](Self::write) batches as they are produced, then
/// [`finish`](Self::finish). Dropping it without finishing leaves a partial,
/// never-committed file behind.
pub struct ParquetFileWriter {
    table_dir: PathBuf,
    rel_path: String,
    file_path: PathBuf,
    schema: SchemaRef,
    writer: ArrowWriter<BufWriter<File>>,
}

impl fmt::Debug for ParquetFileWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParquetFileWriter")
            .field("file", &self.file_path)
            .finish_non_exhaustive()
    }
}

impl ParquetFileWriter {
    /// Start a new data file with a unique name in `table_dir` (created if
    /// missing). Fails if `schema` cannot be stored in a protocol (1, 2) table.
    pub fn create(
        table_dir: impl AsRef<Path>,
        schema: SchemaRef,
        options: &WriteOptions,
    ) -> Result<Self> {
        let table_dir = table_dir.as_ref().to_path_buf();
        let table = table_dir.display().to_string();
        to_kernel_schema(&schema, &table)?;
        let write_dir = match store::remote_url(&table_dir)? {
            Some(url) => store::local_folder("staging", &url),
            None => table_dir.clone(),
        };
        std::fs::create_dir_all(&write_dir).map_err(|source| LakeError::Io {
            path: write_dir.display().to_string(),
            source,
        })?;
        let prefix = options.file_prefix.as_deref().unwrap_or("part");
        if prefix.is_empty()
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(LakeError::Schema {
                table,
                message: format!("file prefix {prefix:?} must be letters, digits, - or _"),
            });
        }
        let rel_path = format!(
            "{prefix}-00000-{}-c000{}.parquet",
            uuid::Uuid::new_v4(),
            options.codec.file_infix()
        );
        let file_path = write_dir.join(&rel_path);
        let parquet_err = |source| LakeError::Parquet {
            file: file_path.display().to_string(),
            source,
        };
        let mut props = WriterProperties::builder()
            .set_compression(options.codec.compression().map_err(parquet_err)?)
            .set_max_row_group_row_count(Some(options.max_row_group_rows.max(1)));
        for column in &options.plain_columns {
            props = props.set_column_dictionary_enabled(column.as_str().into(), false);
        }
        for column in &options.random_columns {
            props = props
                .set_column_compression(column.as_str().into(), Compression::UNCOMPRESSED)
                .set_column_statistics_enabled(column.as_str().into(), EnabledStatistics::None);
        }
        for column in &options.unbounded_columns {
            props = props
                .set_column_statistics_enabled(column.as_str().into(), EnabledStatistics::None);
        }
        for column in &options.delta_columns {
            // A table's options may name columns of its other kinds' schemas.
            let Ok(field) = schema.field_with_name(column) else {
                continue;
            };
            let encoding = match field.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Binary | DataType::LargeBinary => {
                    Encoding::DELTA_BYTE_ARRAY
                }
                DataType::Int32 | DataType::Int64 => Encoding::DELTA_BINARY_PACKED,
                other => {
                    return Err(LakeError::Schema {
                        table,
                        message: format!("column {column} of type {other} has no delta encoding"),
                    });
                }
            };
            props = props
                .set_column_dictionary_enabled(column.as_str().into(), false)
                .set_column_encoding(column.as_str().into(), encoding)
                .set_column_compression(column.as_str().into(), Compression::UNCOMPRESSED);
        }
        let props = props.build();
        let file = File::create(&file_path).map_err(|source| LakeError::Io {
            path: file_path.display().to_string(),
            source,
        })?;
        let sink = BufWriter::with_capacity(1 << 20, file);
        let writer =
            ArrowWriter::try_new(sink, schema.clone(), Some(props)).map_err(parquet_err)?;
        Ok(Self {
            table_dir,
            rel_path,
            file_path,
            schema,
            writer,
        })
    }

    /// Path of the file being written.
    pub fn file_path(&self) -> &Path {
        &self.file_path
    }

    /// Append a batch; its schema must equal the writer's schema.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(LakeError::Schema {
                table: self.table_dir.display().to_string(),
                message: format!(
                    "batch schema {:?} differs from the file's schema {:?}",
                    batch.schema(),
                    self.schema
                ),
            });
        }
        self.writer
            .write(batch)
            .map_err(|source| LakeError::Parquet {
                file: self.file_path.display().to_string(),
                source,
            })
    }

    /// Flush, close the file and describe it for [`commit`].
    pub fn finish(self) -> Result<StagedFile> {
        let file_name = self.file_path.display().to_string();
        let parquet_err = |source| LakeError::Parquet {
            file: file_name.clone(),
            source,
        };
        // Writes the footer, flushes the BufWriter and closes the file.
        let metadata = self.writer.close().map_err(parquet_err)?;
        let fs_meta = std::fs::metadata(&self.file_path).map_err(|source| LakeError::Io {
            path: file_name.clone(),
            source,
        })?;
        let modification_time = fs_meta
            .modified()
            .unwrap_or_else(|_| SystemTime::now())
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let num_rows = metadata.file_metadata().num_rows();
        Ok(StagedFile {
            table_dir: self.table_dir,
            written_to: self.file_path,
            path: self.rel_path,
            size: fs_meta.len() as i64,
            num_rows,
            modification_time,
            stats: Some(delta_stats(&metadata, &self.schema).to_string()),
            schema: self.schema,
        })
    }
}

/// Write `batches` (all with the same schema, at least one batch) into a new
/// parquet data file in `table_dir` with the default [`WriteOptions`].
///
/// Synchronous; safe to call concurrently from several threads. Nothing is
/// visible in the table until the returned file is passed to [`commit`].
pub fn write_parquet(table_dir: impl AsRef<Path>, batches: &[RecordBatch]) -> Result<StagedFile> {
    write_parquet_with(table_dir, batches, &WriteOptions::default())
}

/// [`write_parquet`] with explicit [`WriteOptions`].
pub fn write_parquet_with(
    table_dir: impl AsRef<Path>,
    batches: &[RecordBatch],
    options: &WriteOptions,
) -> Result<StagedFile> {
    let table_dir = table_dir.as_ref();
    let Some(first) = batches.first() else {
        return Err(LakeError::Schema {
            table: table_dir.display().to_string(),
            message: "write_parquet needs at least one batch to know the schema".into(),
        });
    };
    let mut writer = ParquetFileWriter::create(table_dir, first.schema(), options)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()
}

// ---------------------------------------------------------------------------
// Commit
// ---------------------------------------------------------------------------

/// Atomically commit `files` to the Delta table at `table_dir` and return the
/// new table version.
///
/// * [`CommitMode::Append`] adds the files (a blind append, so concurrent
///   appends do not conflict). `schema` must equal the table's schema.
/// * [`CommitMode::Overwrite`] removes all current files and adds `files` in
///   the same commit; a different `schema` replaces the table schema.
///
/// If there is no table yet it is created at version 0 with `schema`,
/// containing `files`, whatever the mode. Every staged file must have been
/// written into `table_dir` with a schema equal to `schema`. `files` may be
/// empty (an overwrite then empties the table).
pub async fn commit(
    table_dir: impl AsRef<Path>,
    schema: &Schema,
    files: Vec<StagedFile>,
    mode: CommitMode,
) -> Result<i64> {
    commit_noting(table_dir, schema, files, mode, Map::new()).await
}

/// [`commit`], with `notes` added to the commit's `commitInfo` (read back with
/// [`commit_notes`]).
pub async fn commit_noting(
    table_dir: impl AsRef<Path>,
    schema: &Schema,
    files: Vec<StagedFile>,
    mode: CommitMode,
    notes: Map<String, Value>,
) -> Result<i64> {
    let table_dir = table_dir.as_ref();
    let table = table_dir.display().to_string();
    let kernel_schema = to_kernel_schema(schema, &table)?;
    let remote = store::remote_url(table_dir)?;
    let (url, table_name) = match &remote {
        Some(url) => {
            for file in &files {
                check_staged(file, table_dir, &kernel_schema, &table)?;
            }
            let name = url
                .path_segments()
                .and_then(|mut s| s.rfind(|s| !s.is_empty()));
            (url.clone(), name.map(str::to_owned))
        }
        None => {
            std::fs::create_dir_all(table_dir).map_err(|source| LakeError::Io {
                path: table.clone(),
                source,
            })?;
            let canonical_dir = canonical(table_dir)?;
            for file in &files {
                check_staged(file, &canonical_dir, &kernel_schema, &table)?;
            }
            let name = canonical_dir.file_name().and_then(|n| n.to_str());
            (dir_url(&canonical_dir, &table)?, name.map(str::to_owned))
        }
    };

    let delta_err = |e| delta_error(&table, e);
    let mut delta = DeltaTableBuilder::from_url(url)
        .and_then(|b| b.build())
        .map_err(delta_err)?;
    if remote.is_some() {
        // The data files go up before the commit that names them.
        let objects = delta.log_store().object_store(None);
        for file in &files {
            let to = deltalake::Path::from(file.path.as_str());
            store::upload(objects.as_ref(), &file.written_to, &to, &table).await?;
        }
    }
    let exists = delta
        .verify_deltatable_existence()
        .await
        .map_err(delta_err)?;

    let metrics = json!({
        "numFiles": files.len().to_string(),
        "numOutputRows": files.iter().map(|f| f.num_rows).sum::<i64>().to_string(),
        "numOutputBytes": files.iter().map(|f| f.size).sum::<i64>().to_string(),
    });
    let properties = CommitProperties::default()
        .with_metadata(std::iter::once(("operationMetrics".to_string(), metrics)).chain(notes));
    let adds = files.iter().map(|f| Action::Add(f.to_add()));

    if !exists {
        let mut create = CreateBuilder::new()
            .with_log_store(delta.log_store())
            .with_columns(kernel_schema.fields().cloned())
            .with_actions(adds)
            .with_save_mode(SaveMode::ErrorIfExists)
            .with_commit_properties(properties);
        if let Some(name) = &table_name {
            create = create.with_table_name(name);
        }
        let created = create.await.map_err(delta_err)?;
        remove_uploaded(remote.is_some(), &files);
        return Ok(created.version().unwrap_or(0) as i64);
    }

    delta.load().await.map_err(delta_err)?;
    let state = delta.snapshot().map_err(delta_err)?;
    let mut actions = Vec::new();
    if !same_schema(&state.schema(), &kernel_schema) {
        match &mode {
            CommitMode::Append | CommitMode::Replace(_) => {
                return Err(LakeError::Schema {
                    table,
                    message: format!(
                        "cannot append with schema {} to a table with schema {}",
                        describe_schema(&kernel_schema),
                        describe_schema(&state.schema())
                    ),
                });
            }
            CommitMode::Overwrite => {
                let metadata = state
                    .metadata()
                    .clone()
                    .with_schema(&kernel_schema)
                    .map_err(|e| delta_err(e.into()))?;
                actions.push(Action::Metadata(metadata));
            }
        }
    }
    match &mode {
        CommitMode::Append => {}
        CommitMode::Overwrite => actions.extend(
            state
                .log_data()
                .into_iter()
                .map(|file| Action::Remove(file.remove_action(true))),
        ),
        CommitMode::Replace(prefixes) => actions.extend(
            state
                .log_data()
                .into_iter()
                .filter(|file| {
                    let path = file.path();
                    let name = path.rsplit('/').next().unwrap_or_default();
                    prefixes.iter().any(|p| {
                        name.strip_prefix(p.as_str())
                            .is_some_and(|r| r.starts_with('-'))
                    })
                })
                .map(|file| Action::Remove(file.remove_action(true))),
        ),
    }
    actions.extend(adds);
    let operation = DeltaOperation::Write {
        mode: match mode {
            CommitMode::Append | CommitMode::Replace(_) => SaveMode::Append,
            CommitMode::Overwrite => SaveMode::Overwrite,
        },
        partition_by: None,
        predicate: None,
    };
    let finalized = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(
            Some(state as &dyn TableReference),
            delta.log_store(),
            operation,
        )
        .await
        .map_err(delta_err)?;
    remove_uploaded(remote.is_some(), &files);
    Ok(finalized.version() as i64)
}

/// Once committed, the local copies of uploaded files are not needed.
fn remove_uploaded(uploaded: bool, files: &[StagedFile]) {
    if uploaded {
        for file in files {
            let _ = std::fs::remove_file(&file.written_to);
        }
    }
}

fn check_staged(
    file: &StagedFile,
    canonical_dir: &Path,
    schema: &StructType,
    table: &str,
) -> Result<()> {
    let staged_err = |message: String| LakeError::StagedFile {
        table: table.to_string(),
        file: file.path.clone(),
        message,
    };
    let file_dir = match store::remote_url(canonical_dir)? {
        Some(_) => file.table_dir.clone(),
        None => canonical(&file.table_dir)?,
    };
    if file_dir != canonical_dir {
        return Err(staged_err(format!(
            "it was written into {}",
            file.table_dir.display()
        )));
    }
    if file.path.is_empty() || file.path.starts_with('/') || file.path.contains("..") {
        return Err(staged_err("its path is not relative to the table".into()));
    }
    let file_schema = to_kernel_schema(&file.schema, table)?;
    if !same_schema(&file_schema, schema) {
        return Err(staged_err(format!(
            "its schema {} differs from the commit schema {}",
            describe_schema(&file_schema),
            describe_schema(schema)
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// Current version of the Delta table at `table_dir`, or `None` when there is
/// no table there (missing directory or no `_delta_log`).
pub async fn table_version(table_dir: impl AsRef<Path>) -> Result<Option<i64>> {
    let table_dir = table_dir.as_ref();
    let table = table_dir.display().to_string();
    let url = match store::remote_url(table_dir)? {
        Some(url) => url,
        None if !table_dir.is_dir() => return Ok(None),
        None => dir_url(&canonical(table_dir)?, &table)?,
    };
    let delta_err = |e| delta_error(&table, e);
    let delta = DeltaTableBuilder::from_url(url)
        .and_then(|b| b.build())
        .map_err(delta_err)?;
    if !delta
        .verify_deltatable_existence()
        .await
        .map_err(delta_err)?
    {
        return Ok(None);
    }
    Ok(Some(
        delta.get_latest_version().await.map_err(delta_err)? as i64
    ))
}

/// The `commitInfo` of version `version` of the table at `table_dir`: every field, those
/// [`commit_noting`] added included.
pub async fn commit_notes(table_dir: impl AsRef<Path>, version: i64) -> Result<Map<String, Value>> {
    use futures::TryStreamExt;
    let table_dir = table_dir.as_ref();
    let table = table_dir.display().to_string();
    let delta = open(table_dir, Some(version_number(&table, version)?)).await?;
    let infos: Vec<_> = delta
        .history(Some(1))
        .try_collect()
        .await
        .map_err(|e| delta_error(&table, e))?;
    let info = infos.into_iter().next().ok_or_else(|| LakeError::Schema {
        table: table.clone(),
        message: format!("version {version} has no commitInfo"),
    })?;
    match serde_json::to_value(info) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Ok(Map::new()),
    }
}

/// Every row of the latest version of the table at `table_dir`, or none when there is no
/// table there yet.
pub async fn read_table_if_any(table_dir: impl AsRef<Path>) -> Result<Vec<RecordBatch>> {
    let table_dir = table_dir.as_ref();
    match table_version(table_dir).await? {
        Some(_) => read_table(table_dir).await,
        None => Ok(vec![]),
    }
}

/// Arrow schema of the latest version of the table at `table_dir`.
pub async fn table_schema(table_dir: impl AsRef<Path>) -> Result<SchemaRef> {
    let table_dir = table_dir.as_ref();
    let delta = open(table_dir, None).await?;
    arrow_schema_of(&delta, &table_dir.display().to_string())
}

/// Read every row of the latest version of the table at `table_dir`.
///
/// Batches carry the table's Arrow schema (`Utf8`, `Int64`, `Boolean`,
/// `Date32`, ...). Row order across files is unspecified.
pub async fn read_table(table_dir: impl AsRef<Path>) -> Result<Vec<RecordBatch>> {
    let table_dir = table_dir.as_ref();
    let delta = open(table_dir, None).await?;
    read_all(&delta, &table_dir.display().to_string()).await
}

/// Read every row of version `version` of the table at `table_dir` (time
/// travel).
pub async fn read_table_version(
    table_dir: impl AsRef<Path>,
    version: i64,
) -> Result<Vec<RecordBatch>> {
    let table_dir = table_dir.as_ref();
    let table = table_dir.display().to_string();
    let delta = open(table_dir, Some(version_number(&table, version)?)).await?;
    read_all(&delta, &table).await
}

async fn open(table_dir: &Path, version: Option<u64>) -> Result<DeltaTable> {
    let table = table_dir.display().to_string();
    let remote = store::remote_url(table_dir)?;
    let url = match remote.clone() {
        Some(url) => url,
        None if !table_dir.join(DELTA_LOG_DIR).is_dir() => {
            return Err(LakeError::NotATable { table });
        }
        None => dir_url(&canonical(table_dir)?, &table)?,
    };
    let mut builder = DeltaTableBuilder::from_url(url).map_err(|e| delta_error(&table, e))?;
    if let Some(version) = version {
        builder = builder.with_version(version);
    }
    // A remote table is loaded without a first look for its log: one listing, not three.
    builder.load().await.map_err(|e| match e {
        DeltaTableError::NotATable(_) if remote.is_some() => LakeError::NotATable { table },
        e => delta_error(&table, e),
    })
}

/// A data file of a table's latest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Its path on disk.
    pub path: PathBuf,
    /// Its name (the last part of its path).
    pub name: String,
    /// Its rows, from the log's statistics (`None` when the log has none).
    pub rows: Option<u64>,
}

impl DataFile {
    /// Whether the file was staged with this [`WriteOptions::file_prefix`].
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.name
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('-'))
    }
}

/// The data files of the latest version of the table at `table_dir` (none when there is no
/// table there yet), for readers that decode parquet themselves.
pub async fn data_files(table_dir: impl AsRef<Path>) -> Result<Vec<DataFile>> {
    let table_dir = table_dir.as_ref();
    if table_version(table_dir).await?.is_none() {
        return Ok(vec![]);
    }
    let table = table_dir.display().to_string();
    let delta = open(table_dir, None).await?;
    let state = delta.snapshot().map_err(|e| delta_error(&table, e))?;
    let files: Vec<(String, i64, Option<u64>)> = state
        .log_data()
        .into_iter()
        .map(|file| {
            let rows = file.num_records().map(|n| n as u64);
            (file.path().into_owned(), file.size(), rows)
        })
        .collect();
    let name_of = |path: &str| path.rsplit('/').next().unwrap_or_default().to_owned();
    let local_dir = match store::remote_url(table_dir)? {
        Some(url) => {
            let cache = store::local_folder("cache", &url);
            fetch_data_files(&delta, &files, &cache, &table).await?;
            Some(cache)
        }
        None => None,
    };
    Ok(files
        .into_iter()
        .map(|(path, _, rows)| DataFile {
            // A remote file is cached under its name (a table's data files sit at its root).
            path: match &local_dir {
                Some(cache) => cache.join(name_of(&path)),
                None => table_dir.join(&path),
            },
            name: name_of(&path),
            rows,
        })
        .collect())
}

/// Downloads the data files of a remote table that `cache` does not hold yet (a data
/// file's name is never reused, so a cached copy of the right size is that file).
async fn fetch_data_files(
    delta: &DeltaTable,
    files: &[(String, i64, Option<u64>)],
    cache: &Path,
    table: &str,
) -> Result<()> {
    use deltalake::logstore::object_store::ObjectStoreExt;
    let log_store = delta.log_store();
    let table_prefix = log_store.root_url().path().trim_start_matches('/');
    for (path, size, _) in files {
        let name = path.rsplit('/').next().unwrap_or_default();
        let local = cache.join(name);
        if std::fs::metadata(&local).is_ok_and(|m| m.len() as i64 == *size) {
            continue;
        }
        // delta-rs hands a remote table's paths back from the bucket's root.
        let objects = if path.starts_with(table_prefix) {
            log_store.root_object_store(None)
        } else {
            log_store.object_store(None)
        };
        let location = deltalake::Path::from(path.as_str());
        let meta = objects
            .head(&location)
            .await
            .map_err(|e| store::object_error(&format!("{table}: {path}"), e))?;
        store::download(objects.as_ref(), &location, &meta, &local, table).await?;
    }
    Ok(())
}

/// Which rows of a file [`read_files`] decodes: each stage sees a batch of its named
/// columns only, for the rows the stages before kept, and answers row by row; the file's
/// other columns are decoded for the rows every stage kept.
pub struct RowPredicate {
    /// The columns each stage needs, and the stage.
    pub stages: Vec<(Vec<String>, Arc<RowMask>)>,
}

/// Answers, row by row, whether to keep the rows of a batch.
pub type RowMask = dyn Fn(&RecordBatch) -> Result<BooleanArray, ArrowError> + Send + Sync;

/// Decodes parquet data files (every column, in the files' own Arrow types) on `threads`
/// threads, largest file first, handing each batch to `each` with the file's index. With a
/// predicate, only the rows it keeps are materialised. The `Utf8` columns named in
/// `dictionary` come as `Dictionary(Int32, Utf8)`: a column of few distinct values (file
/// names, kinds) then decodes each value once per batch, not once per row. Returns what
/// `each` returned, in no particular order.
pub fn read_files<T: Send>(
    files: &[DataFile],
    predicate: Option<&RowPredicate>,
    dictionary: &[&str],
    threads: usize,
    each: impl Fn(usize, RecordBatch) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    use deltalake::parquet::arrow::ProjectionMask;
    use deltalake::parquet::arrow::arrow_reader::{
        ArrowPredicate, ArrowPredicateFn, ParquetRecordBatchReaderBuilder, RowFilter,
    };
    use std::sync::atomic::{AtomicUsize, Ordering};

    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(files[i].rows.unwrap_or(0)));
    let next = AtomicUsize::new(0);
    let read_one = |i: usize, out: &mut Vec<T>| -> Result<()> {
        let file = &files[i];
        let read_err = |source| LakeError::ParquetRead {
            file: file.path.display().to_string(),
            source,
        };
        let handle = File::open(&file.path).map_err(|source| LakeError::Io {
            path: file.path.display().to_string(),
            source,
        })?;
        let metadata = reader_metadata(&handle, dictionary).map_err(read_err)?;
        let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, metadata)
            .with_batch_size(16 * 1024);
        if let Some(p) = predicate {
            let mut stages: Vec<Box<dyn ArrowPredicate>> = Vec::new();
            for (columns, keep) in &p.stages {
                let indices = columns
                    .iter()
                    .map(|c| {
                        builder
                            .schema()
                            .index_of(c)
                            .map_err(|source| LakeError::Arrow {
                                table: file.path.display().to_string(),
                                source,
                            })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
                let keep = keep.clone();
                stages.push(Box::new(ArrowPredicateFn::new(mask, move |batch| {
                    keep(&batch)
                })));
            }
            builder = builder.with_row_filter(RowFilter::new(stages));
        }
        for batch in builder.build().map_err(read_err)? {
            let batch = batch.map_err(|source| LakeError::Arrow {
                table: file.path.display().to_string(),
                source,
            })?;
            out.push(each(i, batch)?);
        }
        Ok(())
    };
    let parts = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1).min(files.len().max(1)))
            .map(|_| {
                scope.spawn(|| -> Result<Vec<T>> {
                    let mut out = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = order.get(n) else {
                            return Ok(out);
                        };
                        read_one(i, &mut out)?;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("parquet reader panicked"))
            .collect::<Vec<_>>()
    });
    let mut out = Vec::new();
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// A parquet file's metadata for reading, its `Utf8` columns named in `dictionary` read as
/// `Dictionary(Int32, Utf8)`.
fn reader_metadata(
    file: &File,
    dictionary: &[&str],
) -> std::result::Result<ArrowReaderMetadata, ParquetError> {
    let metadata = ArrowReaderMetadata::load(file, ArrowReaderOptions::new())?;
    let as_dictionary =
        |f: &Field| f.data_type() == &DataType::Utf8 && dictionary.contains(&f.name().as_str());
    if !metadata.schema().fields().iter().any(|f| as_dictionary(f)) {
        return Ok(metadata);
    }
    let fields: Vec<Field> = metadata
        .schema()
        .fields()
        .iter()
        .map(|f| match as_dictionary(f) {
            true => f.as_ref().clone().with_data_type(DataType::Dictionary(
                Box::new(DataType::Int32),
                Box::new(DataType::Utf8),
            )),
            false => f.as_ref().clone(),
        })
        .collect();
    let schema = Schema::new_with_metadata(fields, metadata.schema().metadata().clone());
    ArrowReaderMetadata::try_new(
        metadata.metadata().clone(),
        ArrowReaderOptions::new().with_schema(Arc::new(schema)),
    )
}

/// Stream every row of the latest version of the table at `table_dir` through `each`, one
/// batch at a time (memory stays at a few batches, whatever the table's size). `filter` is
/// an optional SQL predicate over the table's columns, used to prune files by statistics.
pub async fn scan_table<E: From<LakeError>>(
    table_dir: impl AsRef<Path>,
    filter: Option<&str>,
    each: impl FnMut(RecordBatch) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    scan_table_version(table_dir, None, filter, each).await
}

/// [`scan_table`] of version `version` (`None`: the latest).
pub async fn scan_table_version<E: From<LakeError>>(
    table_dir: impl AsRef<Path>,
    version: Option<i64>,
    filter: Option<&str>,
    mut each: impl FnMut(RecordBatch) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    use futures::StreamExt;
    let table_dir = table_dir.as_ref();
    let table = table_dir.display().to_string();
    let version = version.map(|v| version_number(&table, v)).transpose()?;
    let delta = open(table_dir, version).await?;
    let query_err = |e| LakeError::Query {
        context: table.clone(),
        source: Box::new(e),
    };
    let target = arrow_schema_of(&delta, &table)?;
    let (ctx, provider) = provider(&delta, &table).await?;
    let mut frame = ctx.read_table(provider).map_err(query_err)?;
    if let Some(filter) = filter {
        let expr = frame.parse_sql_expr(filter).map_err(query_err)?;
        frame = frame.filter(expr).map_err(query_err)?;
    }
    let mut stream = frame.execute_stream().await.map_err(query_err)?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(query_err)?;
        each(conform(batch, &target, &table)?)?;
    }
    Ok(())
}

async fn provider(
    delta: &DeltaTable,
    table: &str,
) -> Result<(
    SessionContext,
    Arc<dyn deltalake::datafusion::catalog::TableProvider>,
)> {
    let query_err = |e| LakeError::Query {
        context: table.to_string(),
        source: Box::new(e),
    };
    let overrides = HashMap::from([(
        "datafusion.execution.parquet.schema_force_view_types".to_string(),
        "false".to_string(),
    )]);
    let ctx = DeltaSessionContext::new_with_session_overrides(&overrides)
        .map_err(|e| delta_error(table, e))?
        .into_inner();
    let state = ctx.state();
    delta
        .update_datafusion_session(&state)
        .map_err(|e| delta_error(table, e))?;
    let provider = delta
        .table_provider()
        .with_session(Arc::new(state))
        .await
        .map_err(query_err)?;
    Ok((ctx, provider))
}

async fn read_all(delta: &DeltaTable, table: &str) -> Result<Vec<RecordBatch>> {
    let query_err = |e| LakeError::Query {
        context: table.to_string(),
        source: Box::new(e),
    };
    let target = arrow_schema_of(delta, table)?;
    let (ctx, provider) = provider(delta, table).await?;
    let batches = ctx
        .read_table(provider)
        .map_err(query_err)?
        .collect()
        .await
        .map_err(query_err)?;
    batches
        .into_iter()
        .map(|batch| conform(batch, &target, table))
        .collect()
}

/// Cast `batch` to `target` (same column order and names) when its types
/// differ, e.g. `Utf8View` → `Utf8`.
fn conform(batch: RecordBatch, target: &SchemaRef, table: &str) -> Result<RecordBatch> {
    if batch.schema().fields() == target.fields() {
        return Ok(batch);
    }
    let arrow_err = |source| LakeError::Arrow {
        table: table.to_string(),
        source,
    };
    if batch.num_columns() != target.fields().len() {
        return Err(arrow_err(ArrowError::SchemaError(format!(
            "scan returned {} columns, table has {}",
            batch.num_columns(),
            target.fields().len()
        ))));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(target.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else {
                cast(column, field.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(arrow_err)?;
    RecordBatch::try_new(target.clone(), columns).map_err(arrow_err)
}

fn arrow_schema_of(delta: &DeltaTable, table: &str) -> Result<SchemaRef> {
    let state = delta.snapshot().map_err(|e| delta_error(table, e))?;
    let schema: Schema =
        state
            .schema()
            .as_ref()
            .try_into_arrow()
            .map_err(|source| LakeError::Arrow {
                table: table.to_string(),
                source,
            })?;
    Ok(Arc::new(schema))
}

// ---------------------------------------------------------------------------
// SQL over the lake
// ---------------------------------------------------------------------------

/// Find the Delta tables under `lake_root` (directories holding a
/// `_delta_log`), sorted by path. Directories whose name starts with `_` or
/// `.` are not searched, nor are table directories themselves. A missing
/// root yields an empty list.
pub async fn find_tables(lake_root: impl AsRef<Path>) -> Result<Vec<TableEntry>> {
    let root = lake_root.as_ref();
    match store::remote_url(root)? {
        Some(url) => find_remote_tables(root, &url).await,
        None => find_local_tables(root),
    }
}

/// [`find_tables`] in an object store: every prefix holding a `_delta_log/`.
async fn find_remote_tables(root: &Path, url: &Url) -> Result<Vec<TableEntry>> {
    let mut tables = std::collections::BTreeSet::new();
    for object in store::list(url).await? {
        let mut parts: Vec<String> = object
            .location
            .parts()
            .map(|p| p.as_ref().to_owned())
            .collect();
        let Some(log) = parts.iter().position(|p| p == DELTA_LOG_DIR) else {
            continue;
        };
        parts.truncate(log);
        if parts.is_empty()
            || parts
                .iter()
                .any(|c| c.starts_with('_') || c.starts_with('.'))
        {
            continue;
        }
        tables.insert(parts);
    }
    // A table inside another table is not searched for, as on disk.
    let all: Vec<Vec<String>> = tables.into_iter().collect();
    Ok(all
        .iter()
        .filter(|t| !all.iter().any(|o| o.len() < t.len() && t.starts_with(o)))
        .map(|components| TableEntry {
            dir: components.iter().fold(root.to_path_buf(), |d, c| d.join(c)),
            components: components.clone(),
        })
        .collect())
}

fn find_local_tables(lake_root: &Path) -> Result<Vec<TableEntry>> {
    fn walk(dir: &Path, components: &mut Vec<String>, out: &mut Vec<TableEntry>) -> Result<()> {
        if dir.join(DELTA_LOG_DIR).is_dir() {
            out.push(TableEntry {
                dir: dir.to_path_buf(),
                components: components.clone(),
            });
            return Ok(());
        }
        let io_err = |source| LakeError::Io {
            path: dir.display().to_string(),
            source,
        };
        let mut children = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            if entry.file_type().map_err(io_err)?.is_dir() {
                children.push(name);
            }
        }
        children.sort();
        for name in children {
            components.push(name.clone());
            walk(&dir.join(&name), components, out)?;
            components.pop();
        }
        Ok(())
    }

    let root = lake_root;
    let mut out = Vec::new();
    if root.is_dir() {
        walk(root, &mut Vec::new(), &mut out)?;
    }
    // The root itself is a table: name it after its directory.
    for entry in &mut out {
        if entry.components.is_empty() {
            let name = canonical(&entry.dir)?
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("table")
                .to_string();
            entry.components.push(name);
        }
    }
    Ok(out)
}

/// Build a DataFusion [`SessionContext`] (with deltalake's settings: Delta
/// planner, case-sensitive identifiers) in which every Delta table under
/// `lake_root` is registered through deltalake's table provider.
///
/// Each table is registered under its directory name (`nonfin`) when that
/// name is unique in the lake, and as `layer.name` (`bronze.nonfin`) when it
/// sits directly in a layer directory. Names are case-sensitive; quote names
/// that are not plain lower-case identifiers. String columns come back as
/// `Utf8View`.
pub async fn sql_context(lake_root: impl AsRef<Path>) -> Result<SessionContext> {
    let lake_root = lake_root.as_ref();
    let root = lake_root.display().to_string();
    let tables = find_tables(lake_root).await?;
    let ctx = empty_context();
    let query_err = |source| LakeError::Query {
        context: root.clone(),
        source: Box::new(source),
    };

    let mut name_counts: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in &tables {
        *name_counts.entry(entry.name()).or_default() += 1;
    }
    let catalog_name = ctx
        .state()
        .config()
        .options()
        .catalog
        .default_catalog
        .clone();
    let catalog = ctx.catalog(&catalog_name).ok_or_else(|| {
        query_err(DataFusionError::Plan(format!(
            "default catalog {catalog_name} missing"
        )))
    })?;

    for entry in &tables {
        let provider = provider_in(&ctx, &entry.dir, None).await?;
        if name_counts.get(entry.name()) == Some(&1) {
            ctx.register_table(entry.name(), provider.clone())
                .map_err(query_err)?;
        }
        if let [layer, name] = entry.components.as_slice() {
            if catalog.schema(layer).is_none() {
                catalog
                    .register_schema(layer, Arc::new(MemorySchemaProvider::new()))
                    .map_err(query_err)?;
            }
            let reference = deltalake::datafusion::common::TableReference::partial(
                layer.as_str(),
                name.as_str(),
            );
            ctx.register_table(reference, provider).map_err(query_err)?;
        }
    }
    Ok(ctx)
}

/// Run one SQL query over all Delta tables under `lake_root` (see
/// [`sql_context`]) and collect the result.
pub async fn sql(lake_root: impl AsRef<Path>, query: &str) -> Result<Vec<RecordBatch>> {
    let lake_root = lake_root.as_ref();
    let ctx = sql_context(lake_root).await?;
    run_query(&ctx, query, &lake_root.display().to_string()).await
}

/// Run one SQL query in a context made by [`sql_context`] and collect the result.
pub async fn query(ctx: &SessionContext, query: &str) -> Result<Vec<RecordBatch>> {
    run_query(ctx, query, "query").await
}

async fn run_query(ctx: &SessionContext, query: &str, context: &str) -> Result<Vec<RecordBatch>> {
    let query_err = |source| LakeError::Query {
        context: context.to_string(),
        source: Box::new(source),
    };
    ctx.sql(query)
        .await
        .map_err(query_err)?
        .collect()
        .await
        .map_err(query_err)
}

/// A SQL context with no table registered (see [`register_table`]).
pub fn empty_context() -> SessionContext {
    DeltaSessionContext::new().into_inner()
}

/// Register the table at `table_dir` in `ctx` as `name`: version `version` (time travel
/// inside a query), else the latest.
pub async fn register_table(
    ctx: &SessionContext,
    name: &str,
    table_dir: &Path,
    version: Option<i64>,
) -> Result<()> {
    let table = table_dir.display().to_string();
    let version = version.map(|v| version_number(&table, v)).transpose()?;
    let provider = provider_in(ctx, table_dir, version).await?;
    ctx.register_table(name, provider)
        .map_err(|source| LakeError::Query {
            context: table,
            source: Box::new(source),
        })?;
    Ok(())
}

/// The table at `table_dir` (at `version`, else the latest) as a provider of `ctx`'s session.
async fn provider_in(
    ctx: &SessionContext,
    table_dir: &Path,
    version: Option<u64>,
) -> Result<Arc<dyn deltalake::datafusion::catalog::TableProvider>> {
    let table = table_dir.display().to_string();
    let delta = open(table_dir, version).await?;
    delta
        .update_datafusion_session(&ctx.state())
        .map_err(|e| delta_error(&table, e))?;
    delta
        .table_provider()
        .await
        .map_err(|source| LakeError::Query {
            context: table,
            source: Box::new(source),
        })
}

fn version_number(table: &str, version: i64) -> Result<u64> {
    u64::try_from(version).map_err(|_| {
        delta_error(
            table,
            DeltaTableError::Generic(format!("invalid table version {version}")),
        )
    })
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn delta_error(table: &str, source: DeltaTableError) -> LakeError {
    LakeError::Delta {
        table: table.to_string(),
        source: Box::new(source),
    }
}

fn canonical(dir: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(dir).map_err(|source| LakeError::Io {
        path: dir.display().to_string(),
        source,
    })
}

fn dir_url(canonical_dir: &Path, table: &str) -> Result<Url> {
    let url = Url::from_directory_path(canonical_dir).map_err(|()| {
        delta_error(
            table,
            DeltaTableError::InvalidTableLocation(format!(
                "cannot turn {} into a file URL",
                canonical_dir.display()
            )),
        )
    })?;
    Ok(deltalake::table::normalize_table_url(&url))
}

/// Convert an Arrow schema to a Delta schema, refusing types that would need
/// table features beyond protocol (1, 2).
fn to_kernel_schema(schema: &Schema, table: &str) -> Result<StructType> {
    fn check(field: &Field, table: &str) -> Result<()> {
        match field.data_type() {
            DataType::Timestamp(_, None) => Err(LakeError::Schema {
                table: table.to_string(),
                message: format!(
                    "column {} is a timestamp without time zone, which needs the \
                     timestampNtz table feature (protocol 3/7); use a UTC timestamp or Date32",
                    field.name()
                ),
            }),
            DataType::Struct(fields) => fields.iter().try_for_each(|f| check(f, table)),
            DataType::List(f) | DataType::LargeList(f) | DataType::Map(f, _) => check(f, table),
            _ => Ok(()),
        }
    }
    schema.fields().iter().try_for_each(|f| check(f, table))?;
    // Field metadata would end up in the Delta schema; keep the schema plain.
    let plain = Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_metadata(HashMap::new()))
            .collect::<Vec<_>>(),
    );
    (&plain)
        .try_into_kernel()
        .map_err(|source| LakeError::Schema {
            table: table.to_string(),
            message: source.to_string(),
        })
}

fn same_schema(a: &StructType, b: &StructType) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields().zip(b.fields()).all(|(x, y)| {
            x.name() == y.name()
                && x.data_type() == y.data_type()
                && x.is_nullable() == y.is_nullable()
        })
}

fn describe_schema(schema: &StructType) -> String {
    let fields: Vec<String> = schema
        .fields()
        .map(|f| {
            format!(
                "{}: {}{}",
                f.name(),
                f.data_type(),
                if f.is_nullable() { "" } else { " not null" }
            )
        })
        .collect();
    format!("({})", fields.join(", "))
}

// ---------------------------------------------------------------------------
// Delta file statistics from the parquet footer
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum StatKind {
    Int,
    Date,
    Float,
    Str,
    /// Only `nullCount` (booleans, timestamps, decimals, binary, ...).
    NullsOnly,
}

#[derive(Clone, PartialEq, PartialOrd)]
enum Bound {
    Int(i64),
    Float(f64),
    Bytes(Vec<u8>),
}

struct ColumnStats {
    name: String,
    kind: StatKind,
    min: Option<Bound>,
    max: Option<Bound>,
    bounds_valid: bool,
    null_count: Option<u64>,
}

impl ColumnStats {
    fn update(&mut self, stats: Option<&Statistics>, rg_rows: i64) {
        let Some(stats) = stats else {
            self.bounds_valid = false;
            self.null_count = None;
            return;
        };
        let nulls = stats.null_count_opt();
        self.null_count = match (self.null_count, nulls) {
            (Some(total), Some(n)) => Some(total + n),
            _ => None,
        };
        if self.kind == StatKind::NullsOnly || !self.bounds_valid {
            return;
        }
        let bounds = match (self.kind, stats) {
            (StatKind::Int | StatKind::Date, Statistics::Int32(s)) => s
                .min_opt()
                .zip(s.max_opt())
                .map(|(a, b)| (Bound::Int(*a as i64), Bound::Int(*b as i64))),
            (StatKind::Int, Statistics::Int64(s)) => s
                .min_opt()
                .zip(s.max_opt())
                .map(|(a, b)| (Bound::Int(*a), Bound::Int(*b))),
            (StatKind::Float, Statistics::Float(s)) => s
                .min_opt()
                .zip(s.max_opt())
                .map(|(a, b)| (Bound::Float(*a as f64), Bound::Float(*b as f64))),
            (StatKind::Float, Statistics::Double(s)) => s
                .min_opt()
                .zip(s.max_opt())
                .map(|(a, b)| (Bound::Float(*a), Bound::Float(*b))),
            (StatKind::Str, Statistics::ByteArray(s)) if s.min_is_exact() && s.max_is_exact() => {
                s.min_opt().zip(s.max_opt()).map(|(a, b)| {
                    (
                        Bound::Bytes(a.data().to_vec()),
                        Bound::Bytes(b.data().to_vec()),
                    )
                })
            }
            _ => None,
        };
        match bounds {
            Some((lo, hi)) => {
                if self.min.as_ref().is_none_or(|m| lo < *m) {
                    self.min = Some(lo);
                }
                if self.max.as_ref().is_none_or(|m| hi > *m) {
                    self.max = Some(hi);
                }
            }
            // An all-null row group has no bounds, which is fine.
            None if nulls == Some(rg_rows as u64) => {}
            None => self.bounds_valid = false,
        }
    }

    fn json(&self, bound: &Bound) -> Option<Value> {
        match (self.kind, bound) {
            (StatKind::Int, Bound::Int(v)) => Some(json!(v)),
            (StatKind::Date, Bound::Int(v)) => date32_to_datetime(i32::try_from(*v).ok()?)
                .map(|d| Value::String(d.format("%Y-%m-%d").to_string())),
            (StatKind::Float, Bound::Float(v)) => {
                serde_json::Number::from_f64(*v).map(Value::Number)
            }
            (StatKind::Str, Bound::Bytes(b)) => std::str::from_utf8(b)
                .ok()
                .map(|s| Value::String(s.to_string())),
            _ => None,
        }
    }
}

/// Delta `add.stats` for a file, from the row-group statistics parquet
/// already computed while writing. Covers top-level primitive columns (the
/// first 32 leaves); strings get bounds only when parquet kept them exact
/// (values up to 64 bytes).
fn delta_stats(metadata: &ParquetMetaData, schema: &Schema) -> Value {
    let descr = metadata.file_metadata().schema_descr();
    let mut columns: Vec<(usize, ColumnStats)> = Vec::new();
    for leaf in 0..descr.num_columns().min(NUM_INDEXED_COLS) {
        let column = descr.column(leaf);
        let [name] = column.path().parts() else {
            continue;
        };
        let Ok(field) = schema.field_with_name(name) else {
            continue;
        };
        let kind = match field.data_type() {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => StatKind::Int,
            DataType::Date32 => StatKind::Date,
            DataType::Float32 | DataType::Float64 => StatKind::Float,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => StatKind::Str,
            DataType::Boolean
            | DataType::Timestamp(_, _)
            | DataType::Decimal128(_, _)
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView => StatKind::NullsOnly,
            _ => continue,
        };
        columns.push((
            leaf,
            ColumnStats {
                name: name.clone(),
                kind,
                min: None,
                max: None,
                bounds_valid: true,
                null_count: Some(0),
            },
        ));
    }
    for rg in metadata.row_groups() {
        for (leaf, column) in &mut columns {
            column.update(rg.column(*leaf).statistics(), rg.num_rows());
        }
    }

    let mut min_values = Map::new();
    let mut max_values = Map::new();
    let mut null_count = Map::new();
    for (_, column) in &columns {
        if let Some(n) = column.null_count {
            null_count.insert(column.name.clone(), json!(n));
        }
        if !column.bounds_valid {
            continue;
        }
        if let (Some(lo), Some(hi)) = (&column.min, &column.max)
            && let (Some(lo), Some(hi)) = (column.json(lo), column.json(hi))
        {
            min_values.insert(column.name.clone(), lo);
            max_values.insert(column.name.clone(), hi);
        }
    }
    json!({
        "numRecords": metadata.file_metadata().num_rows(),
        "minValues": min_values,
        "maxValues": max_values,
        "nullCount": null_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{
        Array, ArrayRef, BooleanArray, Date32Array, Int64Array, StringArray,
    };
    use deltalake::arrow::compute::concat_batches;
    use std::time::Instant;

    /// A unique scratch directory under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "phone-consent-lake-{label}-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("day", DataType::Date32, true),
            Field::new("flag", DataType::Boolean, true),
        ]))
    }

    /// Rows `start..start+n`; every 3rd row has null name/day/flag.
    fn batch(start: i64, n: i64) -> RecordBatch {
        let ids: Vec<i64> = (start..start + n).collect();
        let null = |i: &i64| i % 3 == 0;
        let names: StringArray = ids
            .iter()
            .map(|i| (!null(i)).then(|| format!("name-{i}")))
            .collect();
        let days: Date32Array = ids
            .iter()
            .map(|i| (!null(i)).then_some(19_000 + (*i % 400) as i32))
            .collect();
        let flags: BooleanArray = ids
            .iter()
            .map(|i| (!null(i)).then_some(i % 2 == 0))
            .collect();
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(ids)) as ArrayRef,
                Arc::new(names),
                Arc::new(days),
                Arc::new(flags),
            ],
        )
        .unwrap()
    }

    fn ids_of(batches: &[RecordBatch]) -> Vec<i64> {
        let mut ids: Vec<i64> = batches
            .iter()
            .flat_map(|b| {
                let col = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                col.values().to_vec()
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    fn count(batches: &[RecordBatch]) -> usize {
        batches.iter().map(|b| b.num_rows()).sum()
    }

    fn scalar_i64(batches: &[RecordBatch]) -> i64 {
        let b = &batches[0];
        b.column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_staging_then_append_and_versions() {
        let scratch = Scratch::new("append");
        let table = scratch.path().join("bronze").join("events");
        assert_eq!(table_version(&table).await.unwrap(), None);

        // Two worker threads stage one file each.
        let staged: Vec<StagedFile> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|t| {
                    let table = &table;
                    s.spawn(move || {
                        write_parquet(table, &[batch(t * 1000, 500), batch(t * 1000 + 500, 500)])
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(staged.iter().all(|f| f.num_rows == 1000 && f.size > 0));
        assert_ne!(staged[0].path, staged[1].path);
        // Staged but uncommitted: still no table.
        assert_eq!(table_version(&table).await.unwrap(), None);

        let v0 = commit(&table, &schema(), staged, CommitMode::Append)
            .await
            .unwrap();
        assert_eq!(v0, 0);
        assert_eq!(table_version(&table).await.unwrap(), Some(0));
        let rows = read_table(&table).await.unwrap();
        assert_eq!(ids_of(&rows), (0..2000).collect::<Vec<_>>());

        let more = write_parquet(&table, &[batch(5000, 10)]).unwrap();
        let v1 = commit(&table, &schema(), vec![more], CommitMode::Append)
            .await
            .unwrap();
        assert_eq!(v1, 1);
        assert_eq!(table_version(&table).await.unwrap(), Some(1));
        assert_eq!(count(&read_table(&table).await.unwrap()), 2010);
        // Time travel still sees version 0.
        assert_eq!(count(&read_table_version(&table, 0).await.unwrap()), 2000);

        // Protocol stays at (1, 2).
        let delta = open(&table, None).await.unwrap();
        let protocol = delta.snapshot().unwrap().protocol().clone();
        assert_eq!(protocol.min_reader_version(), 1);
        assert_eq!(protocol.min_writer_version(), 2);
    }

    #[test]
    fn read_files_decodes_named_string_columns_as_dictionaries() {
        let scratch = Scratch::new("dictionary");
        let staged = write_parquet(scratch.path(), &[batch(0, 100)]).unwrap();
        let file = DataFile {
            path: staged.written_to.clone(),
            name: staged.path.clone(),
            rows: Some(100),
        };
        let read = |dictionary: &[&str]| {
            read_files(std::slice::from_ref(&file), None, dictionary, 2, |_, b| {
                Ok(b)
            })
            .unwrap()
        };
        let plain = concat_batches(&schema(), &read(&[])).unwrap();
        assert_eq!(plain, batch(0, 100));
        let batches = read(&["name", "day"]);
        let b = &batches[0];
        assert!(matches!(b.column(1).data_type(), DataType::Dictionary(..)));
        assert_eq!(
            b.column(2).data_type(),
            &DataType::Date32,
            "not a string column"
        );
        let names = cast(b.column(1), &DataType::Utf8).unwrap();
        assert_eq!(
            names.as_ref(),
            plain.column(1).as_ref(),
            "same values and nulls"
        );
    }

    #[test]
    fn delta_columns_are_delta_encoded_without_codec_and_read_back_unchanged() {
        let scratch = Scratch::new("delta-encoded");
        let options = WriteOptions {
            delta_columns: vec!["id".into(), "name".into(), "not_here".into()],
            ..WriteOptions::default()
        };
        let staged = write_parquet_with(scratch.path(), &[batch(0, 1000)], &options).unwrap();
        let file = File::open(&staged.written_to).unwrap();
        let reader = deltalake::parquet::file::reader::SerializedFileReader::new(file).unwrap();
        let group = deltalake::parquet::file::reader::FileReader::metadata(&reader).row_group(0);
        let chunk = |i: usize| group.column(i);
        for (i, encoding) in [
            (0, Encoding::DELTA_BINARY_PACKED),
            (1, Encoding::DELTA_BYTE_ARRAY),
        ] {
            assert!(chunk(i).encodings().any(|e| e == encoding), "column {i}");
            assert!(!chunk(i).encodings().any(|e| e == Encoding::RLE_DICTIONARY));
            assert_eq!(chunk(i).compression(), Compression::UNCOMPRESSED);
        }
        assert_eq!(
            chunk(3).compression(),
            Compression::SNAPPY,
            "others keep theirs"
        );
        let file = DataFile {
            path: staged.written_to.clone(),
            name: staged.path.clone(),
            rows: Some(1000),
        };
        let read = read_files(&[file], None, &[], 1, |_, b| Ok(b)).unwrap();
        assert_eq!(concat_batches(&schema(), &read).unwrap(), batch(0, 1000));

        let dated = WriteOptions {
            delta_columns: vec!["day".into()],
            ..WriteOptions::default()
        };
        let error = write_parquet_with(scratch.path(), &[batch(0, 10)], &dated).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("column day of type Date32 has no delta encoding"),
            "{error}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn overwrite_replaces_all_files() {
        let scratch = Scratch::new("overwrite");
        let table = scratch.path().join("silver").join("consent");
        // Overwrite on a missing table creates it at version 0.
        let f = write_parquet(&table, &[batch(0, 100)]).unwrap();
        assert_eq!(
            commit(&table, &schema(), vec![f], CommitMode::Overwrite)
                .await
                .unwrap(),
            0
        );
        let f = write_parquet(&table, &[batch(100, 100)]).unwrap();
        commit(&table, &schema(), vec![f], CommitMode::Append)
            .await
            .unwrap();
        assert_eq!(count(&read_table(&table).await.unwrap()), 200);

        let a = write_parquet(&table, &[batch(1000, 7)]).unwrap();
        let b = write_parquet(&table, &[batch(2000, 3)]).unwrap();
        let v = commit(&table, &schema(), vec![a, b], CommitMode::Overwrite)
            .await
            .unwrap();
        assert_eq!(v, 2);
        let ids = ids_of(&read_table(&table).await.unwrap());
        let expected: Vec<i64> = (1000..1007).chain(2000..2003).collect();
        assert_eq!(ids, expected);

        // Overwrite with nothing empties the table.
        let v = commit(&table, &schema(), vec![], CommitMode::Overwrite)
            .await
            .unwrap();
        assert_eq!(v, 3);
        assert_eq!(count(&read_table(&table).await.unwrap()), 0);
        assert_eq!(count(&read_table_version(&table, 2).await.unwrap()), 10);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn uncommitted_staged_file_is_invisible() {
        let scratch = Scratch::new("uncommitted");
        let table = scratch.path().join("bronze").join("nonfin");
        let f = write_parquet(&table, &[batch(0, 50)]).unwrap();
        commit(&table, &schema(), vec![f], CommitMode::Append)
            .await
            .unwrap();
        let orphan = write_parquet(&table, &[batch(100, 25)]).unwrap();
        assert!(table.join(&orphan.path).is_file());

        assert_eq!(count(&read_table(&table).await.unwrap()), 50);
        let n = sql(scratch.path(), "SELECT count(*) FROM nonfin")
            .await
            .unwrap();
        assert_eq!(scalar_i64(&n), 50);
        assert_eq!(table_version(&table).await.unwrap(), Some(0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn arrow_types_round_trip_exactly() {
        let scratch = Scratch::new("types");
        let table = scratch.path().join("gold").join("typed");
        let input = batch(0, 30);
        let f = write_parquet(&table, std::slice::from_ref(&input)).unwrap();

        let stats: Value = serde_json::from_str(f.stats.as_deref().unwrap()).unwrap();
        assert_eq!(stats["numRecords"], json!(30));
        assert_eq!(stats["minValues"]["id"], json!(0));
        assert_eq!(stats["maxValues"]["id"], json!(29));
        assert_eq!(stats["nullCount"]["name"], json!(10));
        assert_eq!(stats["nullCount"]["flag"], json!(10));
        // 19001 days after 1970-01-01 is 2022-01-09.
        assert_eq!(stats["minValues"]["day"], json!("2022-01-09"));
        assert_eq!(stats["minValues"]["name"], json!("name-1"));
        assert!(stats["minValues"].get("flag").is_none());

        commit(&table, &schema(), vec![f], CommitMode::Append)
            .await
            .unwrap();
        let out = read_table(&table).await.unwrap();
        assert_eq!(
            table_schema(&table).await.unwrap().fields(),
            schema().fields()
        );
        let out = concat_batches(&schema(), &out).unwrap();
        assert_eq!(out.schema().fields(), schema().fields());
        for field in out.schema().fields() {
            let expected = match field.name().as_str() {
                "id" => DataType::Int64,
                "name" => DataType::Utf8,
                "day" => DataType::Date32,
                _ => DataType::Boolean,
            };
            assert_eq!(field.data_type(), &expected);
        }
        // Same rows (sort by id to compare).
        let order = deltalake::arrow::compute::sort_to_indices(out.column(0), None, None).unwrap();
        let sorted = deltalake::arrow::compute::take_record_batch(&out, &order).unwrap();
        assert_eq!(sorted, input);
        assert_eq!(sorted.column(2).null_count(), 10);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sql_over_registered_tables() {
        let scratch = Scratch::new("sql");
        let root = scratch.path();
        let nonfin = root.join("bronze").join("nonfin");
        let consent = root.join("gold").join("phone_consent");
        let f = write_parquet(&nonfin, &[batch(0, 100)]).unwrap();
        commit(&nonfin, &schema(), vec![f], CommitMode::Append)
            .await
            .unwrap();
        let f = write_parquet(&consent, &[batch(50, 100)]).unwrap();
        commit(&consent, &schema(), vec![f], CommitMode::Append)
            .await
            .unwrap();
        // A directory that is not a table is ignored.
        std::fs::create_dir_all(root.join("silver").join("empty")).unwrap();

        let tables = find_tables(root).await.unwrap();
        let names: Vec<_> = tables.iter().map(|t| t.qualified_name().unwrap()).collect();
        assert_eq!(names, ["bronze.nonfin", "gold.phone_consent"]);

        let joined = sql(
            root,
            "SELECT count(*) AS n FROM nonfin a JOIN phone_consent b ON a.id = b.id",
        )
        .await
        .unwrap();
        assert_eq!(scalar_i64(&joined), 50);
        let qualified = sql(
            root,
            "SELECT count(*) FROM bronze.nonfin a JOIN gold.phone_consent b \
             ON a.id = b.id WHERE a.flag",
        )
        .await
        .unwrap();
        // ids 50..100 that are even and not divisible by 3.
        let expected = (50..100).filter(|i| i % 2 == 0 && i % 3 != 0).count() as i64;
        assert_eq!(scalar_i64(&qualified), expected);

        let ctx = sql_context(root).await.unwrap();
        let by_day = ctx
            .sql("SELECT count(DISTINCT day) FROM phone_consent WHERE day >= DATE '2022-01-01'")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert!(scalar_i64(&by_day) > 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rejects_mismatched_schemas_and_foreign_files() {
        let scratch = Scratch::new("reject");
        let table = scratch.path().join("t");
        let other = scratch.path().join("u");
        let f = write_parquet(&table, &[batch(0, 5)]).unwrap();
        commit(&table, &schema(), vec![f], CommitMode::Append)
            .await
            .unwrap();

        let foreign = write_parquet(&other, &[batch(0, 5)]).unwrap();
        let err = commit(&table, &schema(), vec![foreign], CommitMode::Append)
            .await
            .unwrap_err();
        assert!(matches!(err, LakeError::StagedFile { .. }), "{err}");

        let narrow = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let b = RecordBatch::try_new(
            narrow.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef],
        )
        .unwrap();
        let f = write_parquet(&table, std::slice::from_ref(&b)).unwrap();
        let err = commit(&table, &narrow, vec![f.clone()], CommitMode::Append)
            .await
            .unwrap_err();
        assert!(matches!(err, LakeError::Schema { .. }), "{err}");
        assert!(err.to_string().contains(&table.display().to_string()));
        // A staged file whose schema differs from the commit schema.
        let err = commit(&table, &schema(), vec![f.clone()], CommitMode::Append)
            .await
            .unwrap_err();
        assert!(matches!(err, LakeError::StagedFile { .. }), "{err}");
        // Overwrite may change the schema.
        let v = commit(&table, &narrow, vec![f], CommitMode::Overwrite)
            .await
            .unwrap();
        assert_eq!(v, 1);
        let out = read_table(&table).await.unwrap();
        assert_eq!(out[0].schema().fields(), narrow.fields());
        assert_eq!(ids_of(&out), vec![1, 2]);

        let ntz = Arc::new(Schema::new(vec![Field::new(
            "ts",
            DataType::Timestamp(deltalake::arrow::datatypes::TimeUnit::Microsecond, None),
            true,
        )]));
        let err = ParquetFileWriter::create(&table, ntz, &WriteOptions::default()).unwrap_err();
        assert!(matches!(err, LakeError::Schema { .. }), "{err}");

        assert!(matches!(
            read_table(scratch.path().join("missing"))
                .await
                .unwrap_err(),
            LakeError::NotATable { .. }
        ));
        assert_eq!(table_version(&other).await.unwrap(), None);
    }

    // -----------------------------------------------------------------------
    // One-off tools (run with --ignored)
    // -----------------------------------------------------------------------

    /// Writes a small two-version table to `$LAKE_SAMPLE_DIR` for checking
    /// with external readers (Python `deltalake`, Spark). Not cleaned up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn write_sample_table_for_external_readers() {
        let Ok(dir) = std::env::var("LAKE_SAMPLE_DIR") else {
            eprintln!("LAKE_SAMPLE_DIR not set; nothing written");
            return;
        };
        let table = PathBuf::from(dir);
        let f = write_parquet(&table, &[batch(0, 1000)]).unwrap();
        commit(&table, &schema(), vec![f], CommitMode::Overwrite)
            .await
            .unwrap();
        let f = write_parquet(&table, &[batch(1000, 500)]).unwrap();
        let v = commit(&table, &schema(), vec![f], CommitMode::Append)
            .await
            .unwrap();
        eprintln!("wrote {} at version {v}", table.display());
    }

    /// Deterministic xorshift generator for synthetic benchmark data.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn bench_schema() -> SchemaRef {
        let s = |n: &str| Field::new(n, DataType::Utf8, true);
        let d = |n: &str| Field::new(n, DataType::Date32, true);
        Arc::new(Schema::new(vec![
            s("msisdn"),
            s("customer_id"),
            s("account_id"),
            s("channel"),
            s("consent_type"),
            s("status"),
            s("source_system"),
            s("region"),
            s("product"),
            s("campaign"),
            s("reason_code"),
            d("event_date"),
            d("effective_from"),
            d("effective_to"),
            Field::new("is_active", DataType::Boolean, true),
            Field::new("seq", DataType::Int64, false),
        ]))
    }

    fn bench_batch(seed: u64, rows: usize) -> RecordBatch {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut hi = |prefix: &str, digits: u32| -> ArrayRef {
            let m = 10u64.pow(digits);
            let v: StringArray = (0..rows)
                .map(|_| Some(format!("{prefix}{:0w$}", rng.below(m), w = digits as usize)))
                .collect();
            Arc::new(v)
        };
        let msisdn = hi("07", 9);
        let customer = hi("C", 8);
        let account = hi("A", 9);
        let mut rng = Rng(seed.wrapping_add(7) | 1);
        let mut lo = |prefix: &str, card: u64| -> ArrayRef {
            let v: StringArray = (0..rows)
                .map(|_| Some(format!("{prefix}{}", rng.below(card))))
                .collect();
            Arc::new(v)
        };
        let low = [
            lo("CH", 5),
            lo("CT", 4),
            lo("ST", 3),
            lo("SRC", 6),
            lo("REG", 12),
            lo("PRD", 20),
            lo("CMP", 50),
            lo("RC", 10),
        ];
        let mut rng = Rng(seed.wrapping_add(99) | 1);
        let mut date = |null_pct: u64| -> ArrayRef {
            let v: Date32Array = (0..rows)
                .map(|_| (rng.below(100) >= null_pct).then(|| 18_000 + rng.below(2_500) as i32))
                .collect();
            Arc::new(v)
        };
        let dates = [date(0), date(5), date(70)];
        let mut rng = Rng(seed.wrapping_add(12345) | 1);
        let active: BooleanArray = (0..rows).map(|_| Some(rng.below(4) != 0)).collect();
        let seq =
            Int64Array::from_iter_values((0..rows as i64).map(|i| i + seed as i64 * 1_000_000));
        let mut columns = vec![msisdn, customer, account];
        columns.extend(low);
        columns.extend(dates);
        columns.push(Arc::new(active));
        columns.push(Arc::new(seq));
        RecordBatch::try_new(bench_schema(), columns).unwrap()
    }

    /// Write 20M rows x 16 columns as 8 files on 2 threads, once per codec.
    /// `cargo test --release -p phone-consent-lake -- --ignored --nocapture bench_write`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn bench_write_20m_rows() {
        const TOTAL_ROWS: usize = 20_000_000;
        const FILES: usize = 8;
        const BATCH: usize = 65_536;
        let rows_per_file = TOTAL_ROWS / FILES;
        let pool: Vec<RecordBatch> = (0..8).map(|i| bench_batch(i + 1, BATCH)).collect();
        let mem: usize = pool.iter().map(|b| b.get_array_memory_size()).sum();
        eprintln!(
            "batch pool: {} x {BATCH} rows, {:.1} MiB in memory",
            pool.len(),
            mem as f64 / 1048576.0
        );
        let only = std::env::var("LAKE_BENCH_ONLY").unwrap_or_default();
        let plain = ["msisdn", "customer_id", "account_id"]
            .map(String::from)
            .to_vec();
        let variants = [
            ("snappy", Codec::Snappy, vec![]),
            ("lz4raw", Codec::Lz4Raw, vec![]),
            ("zstd1", Codec::Zstd(1), vec![]),
            ("uncompressed", Codec::Uncompressed, vec![]),
            ("snappy+plain", Codec::Snappy, plain.clone()),
            ("zstd1+plain", Codec::Zstd(1), plain),
        ];
        for (label, codec, plain_columns) in variants {
            if !only.is_empty() && !only.split(',').any(|o| o == label) {
                continue;
            }
            let scratch = Scratch::new("bench");
            let table = scratch.path().join("bronze").join("bench");
            let options = WriteOptions {
                codec,
                plain_columns,
                ..WriteOptions::default()
            };
            let options = &options;
            let start = Instant::now();
            let staged: Vec<StagedFile> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..2)
                    .map(|t| {
                        let (table, pool) = (&table, &pool);
                        s.spawn(move || {
                            let mut out = Vec::new();
                            for file in (t..FILES).step_by(2) {
                                let mut w =
                                    ParquetFileWriter::create(table, bench_schema(), options)
                                        .unwrap();
                                let mut left = rows_per_file;
                                let mut k = file;
                                while left > 0 {
                                    let b = &pool[k % pool.len()];
                                    let n = left.min(b.num_rows());
                                    w.write(&b.slice(0, n)).unwrap();
                                    left -= n;
                                    k += 1;
                                }
                                out.push(w.finish().unwrap());
                            }
                            out
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap())
                    .collect()
            });
            let write_secs = start.elapsed().as_secs_f64();
            let rows: i64 = staged.iter().map(|f| f.num_rows).sum();
            let bytes: i64 = staged.iter().map(|f| f.size).sum();
            let start = Instant::now();
            let v = commit(&table, &bench_schema(), staged, CommitMode::Overwrite)
                .await
                .unwrap();
            let commit_secs = start.elapsed().as_secs_f64();
            let start = Instant::now();
            let n = sql(scratch.path(), "SELECT count(*) FROM bench")
                .await
                .unwrap();
            let count_secs = start.elapsed().as_secs_f64();
            assert_eq!(scalar_i64(&n), rows);
            eprintln!(
                "{label}: {rows} rows in {write_secs:.2}s ({:.2} M rows/s), {:.1} MiB on disk; \
                 commit v{v} {commit_secs:.3}s; count(*) {count_secs:.2}s",
                rows as f64 / write_secs / 1e6,
                bytes as f64 / 1048576.0
            );
        }
    }
}
