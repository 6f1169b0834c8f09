//! Silver `phone_events` on disk: which files hold which events, so that a run rewrites only
//! what it changes, and reading back the stored events of the keys a run touches.
//!
//! Three kinds of data file, told apart by name:
//! - `rows-run<N>-…`: row events (enrolled, changed, soft_deleted) written by run N. Facts
//!   that never change once applied, so a run only appends its own.
//! - `observed-…`: the observed runs. A new snapshot extends them, so they are rewritten
//!   when one arrives, and only then.
//! - `missing-…`: the derived `missing` events, rewritten by every run (a late change file
//!   can change which snapshots a key was present before).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;
use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use deltalake::arrow::compute::kernels::boolean::not;
use deltalake::arrow::compute::{cast, filter_record_batch};
use deltalake::arrow::datatypes::{DataType, SchemaRef};
use deltalake::arrow::error::ArrowError;
use phone_consent_core::{Event, Key, KeyMap};

use crate::delta::{self, DataFile, RowMask, RowPredicate};
use crate::history::decode_events;
use crate::{Result, schema};

/// File prefix of the observed runs.
pub const OBSERVED: &str = "observed";
/// File prefix of the derived `missing` events.
pub const MISSING: &str = "missing";
const ROWS: &str = "rows-run";

/// File prefix of the row events written by run `run_id`.
pub fn rows_prefix(run_id: i64) -> String {
    format!("{ROWS}{run_id}")
}

/// A set of keys, matched against the `account_number` and `phone_number` columns as stored.
#[derive(Debug, Default)]
pub struct KeySet {
    phones_by_account: HashMap<Box<str>, Vec<Box<str>>, foldhash::fast::RandomState>,
    len: usize,
}

impl KeySet {
    /// The set of these keys.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a Key>) -> Self {
        let mut set = KeySet::default();
        for k in keys {
            let phones = set
                .phones_by_account
                .entry(k.account.text().to_string().into())
                .or_default();
            let phone: Box<str> = k.phone.e164(&mut [0; 12]).into();
            if !phones.contains(&phone) {
                phones.push(phone);
                set.len += 1;
            }
        }
        set
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for the empty set.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the key stored as (`account`, `phone`) is in the set.
    pub fn contains(&self, account: &str, phone: &str) -> bool {
        self.phones_by_account
            .get(account)
            .is_some_and(|phones| phones.iter().any(|p| &**p == phone))
    }

    /// Row by row, whether a batch's key is in the set (`member`) or not (`!member`).
    pub fn mask(&self, b: &RecordBatch, member: bool) -> Result<BooleanArray, ArrowError> {
        let (accounts, phones) = (strings(b, "account_number")?, strings(b, "phone_number")?);
        let (accounts, phones) = (accounts.as_string::<i32>(), phones.as_string::<i32>());
        Ok((0..b.num_rows())
            .map(|i| {
                let found = accounts.is_valid(i)
                    && phones.is_valid(i)
                    && self.contains(accounts.value(i), phones.value(i));
                Some(found == member)
            })
            .collect())
    }

    /// Row by row, whether a batch's account has a key in the set.
    fn account_mask(&self, b: &RecordBatch) -> Result<BooleanArray, ArrowError> {
        let accounts = strings(b, "account_number")?;
        let accounts = accounts.as_string::<i32>();
        Ok((0..b.num_rows())
            .map(|i| {
                Some(accounts.is_valid(i) && self.phones_by_account.contains_key(accounts.value(i)))
            })
            .collect())
    }

    /// The predicate that reads the rows of these keys (`member`) or of every other key. The
    /// members' accounts are matched first, so most rows' phones are never decoded.
    fn predicate(self: &Arc<Self>, member: bool) -> RowPredicate {
        let key_columns = vec!["account_number".to_owned(), "phone_number".to_owned()];
        let keys = self.clone();
        let by_key: Arc<RowMask> = Arc::new(move |b| keys.mask(b, member));
        let mut stages = vec![(key_columns, by_key)];
        if member {
            let keys = self.clone();
            let by_account: Arc<RowMask> = Arc::new(move |b| keys.account_mask(b));
            stages.insert(0, (vec!["account_number".to_owned()], by_account));
        }
        RowPredicate { stages }
    }
}

/// A string column of a batch as `Utf8`.
fn strings(b: &RecordBatch, name: &str) -> Result<ArrayRef, ArrowError> {
    let c = b
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("no column {name} to match keys on")))?;
    cast(c, &DataType::Utf8)
}

/// The stored events (row events and observed runs; the fold derives `missing` ones) of the
/// keys in `keys`, or of every key, read on `threads` threads. Only the rows of those keys
/// are decoded past their key columns.
pub async fn load_stored(
    lake: &Path,
    keys: Option<&Arc<KeySet>>,
    threads: usize,
) -> Result<KeyMap<Vec<Event>>> {
    read_stored(&stored_files(lake).await?, keys, threads)
}

/// The data files of silver `phone_events` that hold stored events (not `missing` ones).
pub async fn stored_files(lake: &Path) -> Result<Vec<DataFile>> {
    Ok(delta::data_files(lake.join(schema::PHONE_EVENTS))
        .await?
        .into_iter()
        .filter(|f| !f.has_prefix(MISSING))
        .collect())
}

/// [`load_stored`] from these files of [`stored_files`].
pub fn read_stored(
    files: &[DataFile],
    keys: Option<&Arc<KeySet>>,
    threads: usize,
) -> Result<KeyMap<Vec<Event>>> {
    let predicate = keys.map(|k| k.predicate(true));
    let parts = delta::read_files(
        files,
        predicate.as_ref(),
        schema::PHONE_EVENTS_REPEATED,
        threads,
        |_, b| Ok(decode_events(&b)),
    )?;
    let mut out: KeyMap<Vec<Event>> = KeyMap::default();
    for part in parts {
        for (key, events) in part? {
            match out.entry(key) {
                Entry::Occupied(mut e) => e.get_mut().extend(events),
                Entry::Vacant(e) => {
                    e.insert(events);
                }
            }
        }
    }
    Ok(out)
}

/// The rows of these data files whose key is not in `keys`: what a run that re-folded
/// `keys` carries over unchanged. Batches are cast to `schema`, which must be the table's.
pub fn rows_of_other_keys(
    files: &[DataFile],
    schema: &SchemaRef,
    keys: &Arc<KeySet>,
    threads: usize,
) -> Result<Vec<RecordBatch>> {
    let predicate = keys.predicate(false);
    let batches = delta::read_files(files, Some(&predicate), &[], threads, |i, b| {
        conform(b, schema).map_err(|source| delta::LakeError::Arrow {
            table: files[i].path.display().to_string(),
            source,
        })
    })?;
    Ok(batches.into_iter().filter(|b| b.num_rows() > 0).collect())
}

/// The rows of these data files split by key: those of every key but `keys`, and those of
/// `keys`. Batches are cast to `schema`, which must be the table's.
pub fn rows_by_keys(
    files: &[DataFile],
    schema: &SchemaRef,
    keys: &Arc<KeySet>,
    threads: usize,
) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>)> {
    let parts = delta::read_files(files, None, &[], threads, |i, b| {
        let arrow_err = |source| delta::LakeError::Arrow {
            table: files[i].path.display().to_string(),
            source,
        };
        let b = conform(b, schema).map_err(arrow_err)?;
        let members = keys.mask(&b, true).map_err(arrow_err)?;
        let others = not(&members).map_err(arrow_err)?;
        Ok((
            filter_record_batch(&b, &others).map_err(arrow_err)?,
            filter_record_batch(&b, &members).map_err(arrow_err)?,
        ))
    })?;
    let (mut others, mut members) = (Vec::new(), Vec::new());
    for (o, m) in parts {
        others.extend((o.num_rows() > 0).then_some(o));
        members.extend((m.num_rows() > 0).then_some(m));
    }
    Ok((others, members))
}

/// The batch with `schema` (same columns in the same order; types cast where they differ).
fn conform(b: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let c = b.column_by_name(f.name()).ok_or_else(|| {
                ArrowError::SchemaError(format!("stored rows lack column {}", f.name()))
            })?;
            cast(c, f.data_type())
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}
