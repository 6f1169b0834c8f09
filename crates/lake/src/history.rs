//! Reading the audit trail back: a key's stored events and the snapshot calendar from
//! silver, folded as of any date — the same fold that built gold (SEMANTICS §8).

use std::collections::HashMap;
use std::path::Path;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Date32Type, Int32Type, Int64Type};
use phone_consent_core::{
    Attributes, CalendarEntry, ConsentStatement, Date, DeleteType, Deletion, Event, EventKind,
    Evidence, FileName, Freshness, Key, PhoneNumber, PhoneState, Provenance, SnapshotCalendar,
    TimelineStep, can_send_sms, decide, fold, timeline,
};

use crate::{Error, Result, delta, schema};

/// A check's full answer: the decision, the state behind it and the key's events.
#[derive(Clone, Debug)]
pub struct CheckAnswer {
    /// The normalised key (`None` for invalid input).
    pub key: Option<Key>,
    /// The decision.
    pub decision: phone_consent_core::Decision,
    /// The key's state (as of the date asked), if it exists.
    pub state: Option<PhoneState>,
    /// The key's stored events visible as of the date asked, in event order.
    pub events: Vec<Event>,
}

/// The answer to input that does not normalise: FALSE, `invalid_input`.
fn invalid_input(account: &str, phone: &str) -> CheckAnswer {
    let (_, decision) = can_send_sms(account, phone, None, |_| None);
    CheckAnswer {
        key: None,
        decision: decision.into_owned(),
        state: None,
        events: vec![],
    }
}

/// Which versions of silver a read sees (`None`: the latest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SilverVersions {
    /// `silver/phone_events`' version.
    pub phone_events: Option<i64>,
    /// `silver/snapshots`' version.
    pub snapshots: Option<i64>,
}

/// `can_send_sms` against the lake: the key's events from silver, folded as of `as_of`.
pub async fn check(
    lake: &Path,
    account: &str,
    phone: &str,
    as_of: Option<Date>,
    max_snapshot_age_days: Option<u32>,
    today: Date,
) -> Result<CheckAnswer> {
    let latest = SilverVersions::default();
    check_at(
        lake,
        latest,
        account,
        phone,
        as_of,
        max_snapshot_age_days,
        today,
    )
    .await
}

/// [`check`] against the given versions of silver.
pub async fn check_at(
    lake: &Path,
    silver: SilverVersions,
    account: &str,
    phone: &str,
    as_of: Option<Date>,
    max_snapshot_age_days: Option<u32>,
    today: Date,
) -> Result<CheckAnswer> {
    let Some(key) = Key::parse_input(account, phone) else {
        return Ok(invalid_input(account, phone));
    };
    let calendar = load_calendar_at(lake, silver.snapshots).await?;
    let freshness = max_snapshot_age_days.map(|days| {
        let visible = calendar.visible(as_of);
        Freshness {
            max_snapshot_age_days: days,
            newest_snapshot: visible.last().map(|e| e.date),
            today: as_of.unwrap_or(today),
        }
    });
    let mut events = load_events_at(lake, silver.phone_events, Some(&key))
        .await?
        .remove(&key)
        .unwrap_or_default();
    let state = fold(&events, &calendar, as_of);
    let decision = can_send_sms(account, phone, freshness.as_ref(), |_| state.as_ref())
        .1
        .into_owned();
    events.retain(|e| e.visible(as_of));
    events.sort_by_key(|e| (e.date, e.kind.same_date_rank()));
    Ok(CheckAnswer {
        key: Some(key),
        decision,
        state,
        events,
    })
}

/// `can_send_sms` as gold version `version` published it: the key's row of that version,
/// decided by the same rules. Gold keeps no events, so the answer names none.
pub async fn check_gold_version(
    lake: &Path,
    account: &str,
    phone: &str,
    version: i64,
) -> Result<CheckAnswer> {
    let Some(key) = Key::parse_input(account, phone) else {
        return Ok(invalid_input(account, phone));
    };
    let dir = lake.join(schema::PHONE_CONSENT);
    let latest = delta::table_version(&dir).await?.unwrap_or(-1);
    if !(0..=latest).contains(&version) {
        return Err(Error::Invalid {
            what: format!("gold version {version}"),
            why: format!("gold phone_consent has versions 0 to {latest}"),
        });
    }
    let (account_text, phone_text) = (key.account.text().to_string(), key.phone.to_string());
    let mut state = None;
    for b in delta::read_table_version(&dir, version).await? {
        let accounts = column_strings(&b, "account_number")?;
        let phones = column_strings(&b, "phone_number")?;
        let Some(i) = (0..b.num_rows()).find(|&i| {
            accounts[i].as_deref() == Some(&account_text)
                && phones[i].as_deref() == Some(&phone_text)
        }) else {
            continue;
        };
        state = Some(gold_row_state(&b, i, version)?);
    }
    let mut decision = can_send_sms(account, phone, None, |_| state.as_ref())
        .1
        .into_owned();
    decision.decided_by = None;
    Ok(CheckAnswer {
        key: Some(key),
        decision,
        state,
        events: vec![],
    })
}

/// A gold row as a state the rules can decide on: its source, consent and deletion (the
/// other attributes and the evidence are not in gold).
fn gold_row_state(b: &RecordBatch, i: usize, version: i64) -> Result<PhoneState> {
    let source = column_strings(b, "phone_source")?[i]
        .clone()
        .unwrap_or_default();
    let consent = b
        .column_by_name("has_sms_consent")
        .ok_or_else(|| missing("has_sms_consent"))?
        .as_boolean()
        .clone();
    let consent_at = dates(b, "sms_consent_updated_at")?[i];
    let delete_type = column_strings(b, "delete_type")?[i].clone();
    let deleted_at = dates(b, "deleted_at")?[i];
    let evidence = Evidence {
        kind: EventKind::Observed,
        date: consent_at.or(deleted_at).unwrap_or(Date::from_days(0)),
        file: format!("gold phone_consent version {version}").into(),
        line: None,
    };
    let deletion = match (delete_type.as_deref(), deleted_at) {
        (Some(kind), Some(at)) => Some(Deletion {
            kind: if kind == "soft_delete" {
                DeleteType::Soft
            } else {
                DeleteType::Hard
            },
            at,
            evidence: evidence.clone(),
        }),
        _ => None,
    };
    Ok(PhoneState {
        attributes: Attributes::with_source(&source),
        attributes_from: evidence.clone(),
        consent: (!consent.is_null(i)).then(|| ConsentStatement {
            consent: consent.value(i),
            date: consent_at.unwrap_or(Date::from_days(0)),
        }),
        consent_from: None,
        deletion,
        first_seen_at: None,
        last_seen_at: None,
        last_event_at: evidence.date,
        missing_at: vec![],
        changes_after_delete: vec![],
    })
}

/// A key's timeline from silver: each event the fold applied, with the state and the
/// decision after it. `key` is `None` for input that does not normalise.
#[derive(Clone, Debug)]
pub struct HistoryAnswer {
    /// The normalised key.
    pub key: Option<Key>,
    /// Every step, in event order, with the decision after it.
    pub steps: Vec<(TimelineStep, phone_consent_core::Decision)>,
}

/// The timeline of one key, as of a date or with every file (SEMANTICS §8).
pub async fn history(
    lake: &Path,
    account: &str,
    phone: &str,
    as_of: Option<Date>,
) -> Result<HistoryAnswer> {
    history_at(lake, SilverVersions::default(), account, phone, as_of).await
}

/// [`history`] against the given versions of silver.
pub async fn history_at(
    lake: &Path,
    silver: SilverVersions,
    account: &str,
    phone: &str,
    as_of: Option<Date>,
) -> Result<HistoryAnswer> {
    let Some(key) = Key::parse_input(account, phone) else {
        return Ok(HistoryAnswer {
            key: None,
            steps: vec![],
        });
    };
    let calendar = load_calendar_at(lake, silver.snapshots).await?;
    let events = load_events_at(lake, silver.phone_events, Some(&key))
        .await?
        .remove(&key)
        .unwrap_or_default();
    let steps = timeline(&events, &calendar, as_of)
        .into_iter()
        .map(|step| {
            let decision = decide(Some(&step.state));
            (step, decision)
        })
        .collect();
    Ok(HistoryAnswer {
        key: Some(key),
        steps,
    })
}

/// Gold `phone_consent` as of a date, from silver's audit trail, sorted by key.
pub async fn gold_as_of(lake: &Path, as_of: Option<Date>) -> Result<RecordBatch> {
    let calendar = load_calendar(lake).await?;
    let events = load_events(lake, None).await?;
    let mut states: Vec<(Key, PhoneState)> = events
        .into_iter()
        .filter_map(|(k, ev)| fold(&ev, &calendar, as_of).map(|s| (k, s)))
        .collect();
    states.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(crate::publish::gold_batch(
        states.iter().map(|(k, s)| (k, s)),
    ))
}

/// The snapshot calendar from silver `snapshots`; empty for a lake without one.
pub async fn load_calendar_if_any(lake: &Path) -> Result<SnapshotCalendar> {
    if delta::table_version(lake.join(schema::SNAPSHOTS))
        .await?
        .is_none()
    {
        return Ok(SnapshotCalendar::default());
    }
    load_calendar(lake).await
}

/// The snapshot calendar from silver `snapshots`.
pub async fn load_calendar(lake: &Path) -> Result<SnapshotCalendar> {
    load_calendar_at(lake, None).await
}

/// The snapshot calendar from version `version` of silver `snapshots` (`None`: the latest).
pub async fn load_calendar_at(lake: &Path, version: Option<i64>) -> Result<SnapshotCalendar> {
    let dir = lake.join(schema::SNAPSHOTS);
    let batches = match version {
        Some(v) => delta::read_table_version(&dir, v).await?,
        None => delta::read_table(&dir).await?,
    };
    let mut entries = Vec::new();
    for b in batches {
        let date = b
            .column_by_name("snapshot_date")
            .expect("snapshot_date")
            .as_primitive::<Date32Type>()
            .clone();
        let complete = b
            .column_by_name("complete")
            .expect("complete")
            .as_boolean()
            .clone();
        let file = column_strings(&b, "first_file")?;
        for (i, file) in file.into_iter().enumerate() {
            entries.push(CalendarEntry {
                date: Date::from_days(date.value(i)),
                complete: complete.value(i),
                file: file.unwrap_or_default().into(),
            });
        }
    }
    Ok(SnapshotCalendar::new(entries))
}

/// Stored events (derived `missing` events left out: the fold derives them) per key, for one
/// key or all. Streams silver batch by batch; file names are shared, not copied per row.
pub async fn load_events(lake: &Path, key: Option<&Key>) -> Result<HashMap<Key, Vec<Event>>> {
    load_events_at(lake, None, key).await
}

/// [`load_events`] of version `version` of silver `phone_events` (`None`: the latest).
pub async fn load_events_at(
    lake: &Path,
    version: Option<i64>,
    key: Option<&Key>,
) -> Result<HashMap<Key, Vec<Event>>> {
    let filter = match key {
        // Both values are normalised digits (and `+`), safe to quote.
        Some(k) => format!(
            "event <> 'missing' AND account_number = '{}' AND phone_number = '{}'",
            k.account, k.phone
        ),
        None => "event <> 'missing'".to_owned(),
    };
    let mut out: HashMap<Key, Vec<Event>> = HashMap::new();
    let dir = lake.join(schema::PHONE_EVENTS);
    delta::scan_table_version(
        &dir,
        version,
        Some(&filter),
        |b: RecordBatch| -> Result<()> {
            for (key, events) in decode_events(&b)? {
                out.entry(key).or_default().extend(events);
            }
            Ok(())
        },
    )
    .await?;
    Ok(out)
}

/// The stored events of a batch of silver `phone_events` rows, grouped by key: rows of one
/// key that follow each other (silver is written sorted by key) make one group, and share
/// their attributes when they repeat them.
pub(crate) fn decode_events(b: &RecordBatch) -> Result<Vec<(Key, Vec<Event>)>> {
    let names = [
        "account_number",
        "phone_number",
        "event",
        "source_file",
        "last_source_file",
    ]
    .into_iter()
    .chain(schema::ATTRIBUTE_COLUMNS);
    let columns: Vec<ArrayRef> = names
        .map(|name| text_column(b, name))
        .collect::<Result<_>>()?;
    let mut strings: Vec<Strings> = columns.iter().map(Strings::of).collect();
    for column in &mut strings[3..5] {
        if let Strings::Dictionary { values, names, .. } = column {
            *names = (0..values.len())
                .map(|k| {
                    FileName::new(if values.is_valid(k) {
                        values.value(k)
                    } else {
                        ""
                    })
                })
                .collect();
        }
    }
    let value = |c: usize, i: usize| -> &str { strings[c].value(i) };
    let d = |name: &str| dates(b, name);
    let (date, last_date, file_date, consent_date) = (
        d("event_date")?,
        d("last_date")?,
        d("file_date")?,
        d("consent_date")?,
    );
    let line = ints(b, "line")?;
    let last_line = ints(b, "last_line")?;
    let consent = b
        .column_by_name("consent")
        .ok_or_else(|| missing("consent"))?
        .as_boolean()
        .clone();
    let invalid = |why: String| Error::Invalid {
        what: "silver phone_events".into(),
        why,
    };
    let mut out: Vec<(Key, Vec<Event>)> = Vec::new();
    for i in 0..b.num_rows() {
        let (account, phone) = (value(0, i), value(1, i));
        let same_key = i > 0 && value(0, i - 1) == account && value(1, i - 1) == phone;
        if !same_key || out.is_empty() {
            let phone =
                PhoneNumber::parse(phone).ok_or_else(|| invalid(format!("bad phone {phone}")))?;
            out.push((Key::new(account, phone), Vec::new()));
        }
        let events = &mut out.last_mut().expect("a group").1;
        let kind = EventKind::from_name(value(2, i))
            .ok_or_else(|| invalid(format!("unknown event {}", value(2, i))))?;
        let required =
            |v: Option<Date>, name: &str| v.ok_or_else(|| invalid(format!("{name} is empty")));
        let line_no = |v: Option<i64>, name: &str| {
            let v = v.unwrap_or(0);
            u32::try_from(v).map_err(|_| invalid(format!("{name} {v} is no line number")))
        };
        let fields = [5, 6, 7, 8, 9, 10].map(|c| value(c, i));
        let attributes = match events.last() {
            Some(previous) => previous.attributes.followed_by(fields),
            None => Attributes::new(fields),
        };
        events.push(Event {
            kind,
            date: required(date[i], "event_date")?,
            last_date: required(last_date[i], "last_date")?,
            file_date: required(file_date[i], "file_date")?,
            provenance: Provenance {
                file: strings[3].file_name(i),
                line: line_no(line[i], "line")?,
            },
            last_provenance: Provenance {
                file: strings[4].file_name(i),
                line: line_no(last_line[i], "last_line")?,
            },
            attributes,
            consent: match consent.is_null(i) {
                true => None,
                false => Some(ConsentStatement {
                    consent: consent.value(i),
                    date: required(consent_date[i], "consent_date")?,
                }),
            },
        });
    }
    Ok(out)
}

/// A string column as `Utf8`, or as it is when it is a `Dictionary(Int32, Utf8)`.
fn text_column(b: &RecordBatch, name: &str) -> Result<ArrayRef> {
    let col = b.column_by_name(name).ok_or_else(|| missing(name))?;
    if let DataType::Dictionary(key, value) = col.data_type()
        && **key == DataType::Int32
        && **value == DataType::Utf8
    {
        return Ok(col.clone());
    }
    cast(col, &DataType::Utf8).map_err(|e| Error::Invalid {
        what: name.into(),
        why: e.to_string(),
    })
}

/// A column of [`text_column`], read row by row (null reads as empty).
enum Strings<'a> {
    Plain(&'a StringArray),
    Dictionary {
        keys: &'a Int32Array,
        values: &'a StringArray,
        /// The values as shared file names (file-name columns only).
        names: Vec<FileName>,
    },
}

impl<'a> Strings<'a> {
    fn of(column: &'a ArrayRef) -> Self {
        match column.as_dictionary_opt::<Int32Type>() {
            Some(d) => Strings::Dictionary {
                keys: d.keys(),
                values: d.values().as_string::<i32>(),
                names: Vec::new(),
            },
            None => Strings::Plain(column.as_string::<i32>()),
        }
    }

    /// The dictionary key of row `i`, when the column is a dictionary and the row not null.
    fn key(&self, i: usize) -> Option<usize> {
        match *self {
            Strings::Dictionary { keys, .. } if keys.is_valid(i) => Some(keys.value(i) as usize),
            _ => None,
        }
    }

    fn value(&self, i: usize) -> &'a str {
        match (self, self.key(i)) {
            (Strings::Plain(a), _) if a.is_valid(i) => a.value(i),
            (Strings::Dictionary { values, .. }, Some(k)) if values.is_valid(k) => values.value(k),
            _ => "",
        }
    }

    /// Row `i` as a shared file name: from `names` when they were made, else interned.
    fn file_name(&self, i: usize) -> FileName {
        match (self, self.key(i)) {
            (Strings::Dictionary { names, .. }, Some(k)) if !names.is_empty() => names[k],
            _ => FileName::new(self.value(i)),
        }
    }
}

fn missing(name: &str) -> Error {
    Error::Invalid {
        what: "silver phone_events".into(),
        why: format!("no column {name}"),
    }
}

/// The first row of a counting query's result, every column BIGINT (`what` names the query
/// in the error when it returned no row).
pub(crate) fn count_row(batches: &[RecordBatch], what: &str) -> Result<Vec<Option<i64>>> {
    let b = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(|| Error::Invalid {
            what: what.to_owned(),
            why: "the counting query returned no row".into(),
        })?;
    Ok(b.columns()
        .iter()
        .map(|c| {
            let c = c.as_primitive::<Int64Type>();
            (!c.is_null(0)).then(|| c.value(0))
        })
        .collect())
}

/// A string column of any string type (Utf8, Utf8View, …), as owned values.
pub fn column_strings(b: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let col = b.column_by_name(name).ok_or_else(|| missing(name))?;
    let col = cast(col, &DataType::Utf8).map_err(|e| Error::Invalid {
        what: name.into(),
        why: e.to_string(),
    })?;
    Ok(col
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect())
}

pub(crate) fn dates(b: &RecordBatch, name: &str) -> Result<Vec<Option<Date>>> {
    let col = b.column_by_name(name).ok_or_else(|| missing(name))?;
    Ok(col
        .as_primitive::<Date32Type>()
        .iter()
        .map(|v| v.map(Date::from_days))
        .collect())
}

pub(crate) fn ints(b: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>> {
    let col = b.column_by_name(name).ok_or_else(|| missing(name))?;
    Ok(col.as_primitive::<Int64Type>().iter().collect())
}
