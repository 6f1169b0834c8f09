//! What `serve` answers from: a published gold version, pinned to the silver versions it was
//! folded from, with every key's state in memory and decided by the rules of SEMANTICS §7.

use std::collections::HashMap;
use std::path::Path;

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use phone_consent_core::{
    Attributes, ConsentStatement, Date, DeleteType, Deletion, EventKind, Evidence, FileName,
    Freshness, Key, PhoneNumber, PhoneState, can_send_sms,
};
use serde_json::{Map, Value, json};

use crate::history::{SilverVersions, column_strings, dates, ints};
use crate::{Error, Result, delta, schema};

/// The silver versions a gold version was published from, recorded in gold's `commitInfo`
/// so that a reader can pin exactly the data behind a gold version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoldSources {
    /// `silver/phone_events`' version.
    pub phone_events: i64,
    /// `silver/phone_state`'s version.
    pub phone_state: i64,
    /// `silver/snapshots`' version (`None`: no snapshot table yet).
    pub snapshots: Option<i64>,
}

/// The `commitInfo` field that holds [`GoldSources`].
const SOURCES_NOTE: &str = "phoneConsentSources";

impl GoldSources {
    /// The notes gold's commit carries.
    pub(crate) fn notes(&self) -> Map<String, Value> {
        let sources = json!({
            "phone_events": self.phone_events,
            "phone_state": self.phone_state,
            "snapshots": self.snapshots,
        });
        Map::from_iter([(SOURCES_NOTE.to_owned(), sources)])
    }

    fn from_notes(notes: &Map<String, Value>) -> Option<Self> {
        let sources = notes.get(SOURCES_NOTE)?;
        Some(GoldSources {
            phone_events: sources.get("phone_events")?.as_i64()?,
            phone_state: sources.get("phone_state")?.as_i64()?,
            snapshots: sources.get("snapshots").and_then(Value::as_i64),
        })
    }

    /// The silver versions a check of this publication reads.
    pub fn silver(&self) -> SilverVersions {
        SilverVersions {
            phone_events: Some(self.phone_events),
            snapshots: self.snapshots,
        }
    }
}

/// A published gold version and the silver versions behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publication {
    /// Gold `phone_consent`'s version.
    pub gold_version: i64,
    /// Where it came from.
    pub sources: GoldSources,
}

/// Gold's latest version (`None`: nothing published yet). Cheap: reads the Delta log only.
pub async fn latest_gold_version(lake: &Path) -> Result<Option<i64>> {
    Ok(delta::table_version(lake.join(schema::PHONE_CONSENT)).await?)
}

/// The publication of gold version `gold_version`.
pub async fn publication(lake: &Path, gold_version: i64) -> Result<Publication> {
    let notes = delta::commit_notes(lake.join(schema::PHONE_CONSENT), gold_version).await?;
    let sources = GoldSources::from_notes(&notes).ok_or_else(|| Error::Invalid {
        what: format!("gold phone_consent version {gold_version}"),
        why: "its commit does not record the silver versions it was published from (an \
              older phone-consent published it); `phone-consent run <feed> --rebuild` \
              publishes it again"
            .into(),
    })?;
    Ok(Publication {
        gold_version,
        sources,
    })
}

/// Every key's state as a gold version published it, decided by [`can_send_sms`].
#[derive(Debug)]
pub struct Decisions {
    /// The publication the states are from.
    pub publication: Publication,
    /// The newest snapshot in the data behind it, for the data-age policy.
    pub newest_snapshot: Option<Date>,
    states: HashMap<Key, PhoneState, foldhash::fast::RandomState>,
}

impl Decisions {
    /// The number of keys.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Every key, in no order.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.states.keys()
    }

    /// A key's state.
    pub fn state(&self, key: &Key) -> Option<&PhoneState> {
        self.states.get(key)
    }

    /// SEMANTICS §7 for raw input, on `today` under a data-age policy of
    /// `max_snapshot_age_days` (if any).
    pub fn can_send_sms(
        &self,
        account: &str,
        phone: &str,
        max_snapshot_age_days: Option<u32>,
        today: Date,
    ) -> (Option<Key>, phone_consent_core::Decision<&Evidence>) {
        let freshness = max_snapshot_age_days.map(|days| Freshness {
            max_snapshot_age_days: days,
            newest_snapshot: self.newest_snapshot,
            today,
        });
        can_send_sms(account, phone, freshness.as_ref(), |key| {
            self.states.get(key)
        })
    }
}

/// Loads every key's state of `publication` from the `phone_state` version it was published
/// with (the evidence of each state is the event that decided it).
pub async fn load_decisions(lake: &Path, publication: Publication) -> Result<Decisions> {
    let calendar = crate::history::load_calendar_at(lake, publication.sources.snapshots).await?;
    let newest_snapshot = calendar.visible(None).last().map(|e| e.date);
    let batches = delta::read_table_version(
        lake.join(schema::PHONE_STATE),
        publication.sources.phone_state,
    )
    .await?;
    let rows = batches.iter().map(RecordBatch::num_rows).sum();
    let mut states = HashMap::with_capacity_and_hasher(rows, Default::default());
    for b in &batches {
        for (key, state) in decode_states(b)? {
            states.insert(key, state);
        }
    }
    Ok(Decisions {
        publication,
        newest_snapshot,
        states,
    })
}

/// The states of a batch of `phone_state` rows. A row keeps one piece of evidence, the event
/// that decided it, so every part of the state names that event: deciding the state again
/// names it too.
fn decode_states(b: &RecordBatch) -> Result<Vec<(Key, PhoneState)>> {
    let text = |name| column_strings(b, name);
    let (accounts, phones) = (text("account_number")?, text("phone_number")?);
    let fields = schema::ATTRIBUTE_COLUMNS.map(text);
    let fields: Vec<Vec<Option<String>>> = fields.into_iter().collect::<Result<_>>()?;
    let consent = b
        .column_by_name("has_sms_consent")
        .ok_or_else(|| invalid("no column has_sms_consent".into()))?
        .as_boolean()
        .clone();
    let consent_at = dates(b, "sms_consent_updated_at")?;
    let delete_type = text("delete_type")?;
    let deleted_at = dates(b, "deleted_at")?;
    let (first_seen, last_seen) = (dates(b, "first_seen_at")?, dates(b, "last_seen_at")?);
    let last_event = dates(b, "last_event_at")?;
    let decided_kind = text("decided_by_event")?;
    let decided_date = dates(b, "decided_by_date")?;
    let decided_file = text("decided_by_file")?;
    let decided_line = ints(b, "decided_by_line")?;
    let mut out = Vec::with_capacity(b.num_rows());
    for i in 0..b.num_rows() {
        let account = accounts[i].as_deref().unwrap_or_default();
        let phone = phones[i].as_deref().unwrap_or_default();
        let phone = PhoneNumber::parse(phone)
            .ok_or_else(|| invalid(format!("bad phone_number {phone:?}")))?;
        let evidence = match (&decided_kind[i], decided_date[i]) {
            (Some(kind), Some(date)) => Some(Evidence {
                kind: EventKind::from_name(kind)
                    .ok_or_else(|| invalid(format!("unknown decided_by_event {kind:?}")))?,
                date,
                file: FileName::new(decided_file[i].as_deref().unwrap_or_default()),
                line: decided_line[i].map(|l| l as u64),
            }),
            _ => None,
        };
        let last_event_at =
            last_event[i].ok_or_else(|| invalid("last_event_at is empty".into()))?;
        let anchor = evidence.clone().unwrap_or_else(|| Evidence {
            kind: EventKind::Observed,
            date: last_event_at,
            file: FileName::new(""),
            line: None,
        });
        let deletion = match (delete_type[i].as_deref(), deleted_at[i]) {
            (Some(kind), Some(at)) => Some(Deletion {
                kind: DeleteType::from_code(kind)
                    .ok_or_else(|| invalid(format!("unknown delete_type {kind:?}")))?,
                at,
                evidence: anchor.clone(),
            }),
            _ => None,
        };
        let statement = match (consent.is_null(i), consent_at[i]) {
            (false, Some(date)) => Some(ConsentStatement {
                consent: consent.value(i),
                date,
            }),
            (false, None) => return Err(invalid("sms_consent_updated_at is empty".into())),
            (true, _) => None,
        };
        let attributes = [0, 1, 2, 3, 4, 5].map(|c| fields[c][i].as_deref().unwrap_or_default());
        let state = PhoneState {
            attributes: Attributes::new(attributes),
            attributes_from: anchor,
            consent: statement,
            consent_from: evidence,
            deletion,
            first_seen_at: first_seen[i],
            last_seen_at: last_seen[i],
            last_event_at,
            missing_at: vec![],
            changes_after_delete: vec![],
        };
        out.push((Key::new(account, phone), state));
    }
    Ok(out)
}

fn invalid(why: String) -> Error {
    Error::Invalid {
        what: "silver phone_state".into(),
        why,
    }
}
