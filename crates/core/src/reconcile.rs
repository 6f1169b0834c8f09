//! Streaming reconciliation: accepted records in, one history per key, then the fold.

use std::collections::HashMap;
use std::hash::BuildHasher;

use crate::calendar::{CalendarEntry, SnapshotCalendar};
use crate::date::Date;
use crate::event::{Event, EventKind, FileName, Provenance};
use crate::fold::{PhoneState, fold};
use crate::history::{KeyHistory, SnapshotObservation};
use crate::key::Key;
use crate::record::Record;

/// Errors of the reconciler's contract.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReconcileError {
    /// Snapshots must be given in ascending date order.
    #[error("snapshot {got} given after snapshot {after}: snapshots must come in date order")]
    SnapshotOutOfOrder {
        /// The snapshot given.
        got: Date,
        /// The newest snapshot already applied.
        after: Date,
    },
}

/// A map keyed by [`Key`], hashed with foldhash: a snapshot touches every key, so the
/// hash is on the hot path (std's SipHash cost 8 % of a full run).
pub type KeyMap<V> = HashMap<Key, V, foldhash::fast::RandomState>;

/// One snapshot being assembled from its files' accepted rows, in the order they were read.
/// A snapshot carries every key, so this is a run's largest transient structure: a list
/// sized from the file's line count, 88 bytes a row (a UUID record id as its 16 bytes).
/// Rows of one key are combined when the snapshot is applied, where each row's key history
/// is found anyway (a map of the snapshot's own keys cost a probe per row here).
#[derive(Debug, Default)]
pub struct SnapshotBuilder {
    observations: Vec<(Key, SnapshotObservation)>,
}

impl SnapshotBuilder {
    /// Makes room for `rows` more rows (e.g. a file's line count), so that the list does
    /// not grow by doubling.
    pub fn reserve(&mut self, rows: usize) {
        self.observations.reserve_exact(rows);
    }

    /// Adds an accepted NON-FIN row of this snapshot.
    pub fn add(&mut self, record: Record, provenance: Provenance) {
        debug_assert_eq!(record.kind, EventKind::Observed);
        let obs = SnapshotObservation {
            date: record.date,
            provenance,
            attributes: record.attributes,
            consent: record.consent,
        };
        self.observations.push((record.key, obs));
    }

    /// The number of rows added.
    pub fn len(&self) -> usize {
        self.observations.len()
    }

    /// True when no row was added.
    pub fn is_empty(&self) -> bool {
        self.observations.is_empty()
    }
}

/// Every key's history and the snapshot calendar, built from accepted records.
///
/// Histories are kept in a list in the order their keys were first seen, found by key
/// through an index of positions. A snapshot lists nearly the same keys in nearly the same
/// order as the one before it, so each of its keys is first compared with the key at its
/// place in the previous snapshot's list of positions: a sequential read instead of a hash
/// probe into a table far larger than the cache.
#[derive(Debug, Default)]
pub struct Reconciler {
    histories: Vec<Slot>,
    index: hashbrown::HashTable<usize>,
    hasher: foldhash::fast::RandomState,
    /// Where the previous snapshot's keys are in `histories`, in that snapshot's order.
    previous_snapshot: Vec<usize>,
    calendar: SnapshotCalendar,
}

/// A key, its history, and where the snapshot being applied lists it.
#[derive(Debug)]
struct Slot {
    key: Key,
    history: KeyHistory,
    /// `(n, row)`: the calendar's `n`th snapshot lists the key first at this row.
    listed: (usize, usize),
}

/// How far ahead in the previous snapshot's order a key not found at its place is looked
/// for: past keys the previous snapshot listed there and this one drops.
const RESYNC_WINDOW: usize = 8;

impl Reconciler {
    /// An empty reconciler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a reconciler from stored histories and calendar (the lake's silver).
    pub fn from_parts(histories: KeyMap<KeyHistory>, calendar: SnapshotCalendar) -> Self {
        let mut reconciler = Reconciler {
            calendar,
            ..Reconciler::default()
        };
        reconciler.histories.reserve_exact(histories.len());
        for (key, history) in histories {
            let slot = reconciler.slot(key);
            reconciler.histories[slot].history = history;
        }
        reconciler
    }

    /// The position of `key`'s history, an empty one added when the key is new.
    fn slot(&mut self, key: Key) -> usize {
        let hash = self.hasher.hash_one(&key);
        let (histories, hasher) = (&self.histories, &self.hasher);
        let entry = self.index.entry(
            hash,
            |&i| histories[i].key == key,
            |&i| hasher.hash_one(&histories[i].key),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(e) => *e.get(),
            hashbrown::hash_table::Entry::Vacant(e) => {
                let slot = self.histories.len();
                e.insert(slot);
                self.histories.push(Slot {
                    key,
                    history: KeyHistory::default(),
                    listed: (0, 0),
                });
                slot
            }
        }
    }

    /// The position of `key`'s history, if the key was seen.
    fn find(&self, key: &Key) -> Option<usize> {
        let hash = self.hasher.hash_one(key);
        self.index
            .find(hash, |&i| self.histories[i].key == *key)
            .copied()
    }

    /// Puts each key's stored events (read back from the lake) ahead of the events added
    /// since; keys with no new event are left out.
    pub fn add_stored_of_known_keys(&mut self, stored: KeyMap<Vec<Event>>) {
        for (key, events) in stored {
            if let Some(slot) = self.find(&key) {
                self.histories[slot].history.prepend_stored(events);
            }
        }
    }

    /// Adds an accepted ENRLMT or SUPPLFWD row from a file dated `file_date`.
    pub fn add_row_event(&mut self, record: Record, file_date: Date, provenance: Provenance) {
        let event = Event::row(
            record.kind,
            record.date,
            file_date,
            provenance,
            record.attributes,
            record.consent,
        );
        let slot = self.slot(record.key);
        self.histories[slot].history.add_row_event(event);
    }

    /// Applies a whole snapshot dated `date` (SEMANTICS §2). `complete` is false when any of
    /// its files was rejected; `file` names its first file. Snapshots come in date order.
    pub fn add_snapshot(
        &mut self,
        date: Date,
        complete: bool,
        file: FileName,
        snapshot: SnapshotBuilder,
    ) -> Result<(), ReconcileError> {
        if let Some(newest) = self.calendar.newest()
            && newest >= date
        {
            return Err(ReconcileError::SnapshotOutOfOrder {
                got: date,
                after: newest,
            });
        }
        let previous = self.calendar.newest();
        self.calendar.insert(CalendarEntry {
            date,
            complete,
            file,
        });
        // Snapshots come in date order, so the calendar's size numbers this one.
        let this = self.calendar.entries().len();
        let before = std::mem::take(&mut self.previous_snapshot);
        let mut observations = snapshot.observations;
        // Each row's slot; `None` for a row combined into an earlier row of its key.
        let mut slots: Vec<Option<usize>> = Vec::with_capacity(observations.len());
        let mut cursor = 0;
        for row in 0..observations.len() {
            let key = &observations[row].0;
            let slot = match before.get(cursor) {
                Some(&slot) if self.histories[slot].key == *key => {
                    cursor += 1;
                    slot
                }
                _ => {
                    let slot = self.slot(key.clone());
                    let mut ahead = before[cursor..].iter().take(RESYNC_WINDOW);
                    if let Some(skipped) = ahead.position(|&s| s == slot) {
                        cursor += skipped + 1;
                    }
                    slot
                }
            };
            match self.histories[slot].listed {
                (n, first) if n == this => {
                    // SEMANTICS §5: several rows of one key in one snapshot make one observation.
                    let (earlier, later) = observations.split_at_mut(row);
                    earlier[first].1.merge(later[0].1.clone());
                    slots.push(None);
                }
                _ => {
                    self.histories[slot].listed = (this, row);
                    slots.push(Some(slot));
                }
            }
        }
        let mut listed = Vec::with_capacity(slots.len());
        for ((_, obs), slot) in observations.into_iter().zip(slots) {
            if let Some(slot) = slot {
                self.histories[slot].history.observe(obs, previous);
                listed.push(slot);
            }
        }
        self.previous_snapshot = listed;
        Ok(())
    }

    /// The snapshot calendar.
    pub fn calendar(&self) -> &SnapshotCalendar {
        &self.calendar
    }

    /// Every key with its history, in the order the keys were first seen.
    pub fn histories(&self) -> impl ExactSizeIterator<Item = (&Key, &KeyHistory)> {
        self.histories.iter().map(|s| (&s.key, &s.history))
    }

    /// One key's history, if the key was seen.
    pub fn history(&self, key: &Key) -> Option<&KeyHistory> {
        self.find(key).map(|slot| &self.histories[slot].history)
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.histories.len()
    }

    /// True when no key was seen.
    pub fn is_empty(&self) -> bool {
        self.histories.is_empty()
    }

    /// The state of one key, as of a date or with every file.
    pub fn state(&self, key: &Key, as_of: Option<Date>) -> Option<PhoneState> {
        fold(self.history(key)?.events(), &self.calendar, as_of)
    }

    /// Every key's state (keys with no visible event are left out), sorted by key.
    pub fn states(&self, as_of: Option<Date>) -> Vec<(&Key, &KeyHistory, PhoneState)> {
        let mut out: Vec<_> = self
            .histories()
            .filter_map(|(k, h)| fold(h.events(), &self.calendar, as_of).map(|s| (k, h, s)))
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Attributes, ConsentStatement};
    use crate::normalise::PhoneNumber;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    struct Obs {
        key: u8,
        source: bool,
        consent: Option<(bool, i32)>,
        record_id: u8,
    }

    #[derive(Clone, Debug)]
    struct Row {
        key: u8,
        kind: u8,
        date: i32,
        lag: i32,
        source: bool,
        consent: Option<(bool, i32)>,
    }

    fn key(k: u8) -> Key {
        Key::new(&format!("{k}"), PhoneNumber::parse("2125550101").unwrap())
    }

    fn attrs(client: bool, record_id: u8) -> Attributes {
        let source = if client { "CLIENT" } else { "THIRD_PARTY" };
        Attributes::new([source, "", "", "", "", &record_id.to_string()])
    }

    fn consent(c: Option<(bool, i32)>) -> Option<ConsentStatement> {
        c.map(|(consent, day)| ConsentStatement {
            consent,
            date: Date::from_days(day),
        })
    }

    fn record(
        key_id: u8,
        kind: EventKind,
        date: i32,
        client: bool,
        c: Option<(bool, i32)>,
        record_id: u8,
    ) -> Record {
        Record {
            key: key(key_id),
            kind,
            date: Date::from_days(date),
            attributes: attrs(client, record_id),
            consent: consent(c),
            consent_date_substituted: false,
        }
    }

    fn arb_consent() -> impl Strategy<Value = Option<(bool, i32)>> {
        prop_oneof![Just(None), (any::<bool>(), 0..40i32).prop_map(Some)]
    }

    fn arb_snapshots() -> impl Strategy<Value = Vec<(i32, bool, Vec<Obs>)>> {
        let obs = (0..3u8, any::<bool>(), arb_consent(), 0..2u8).prop_map(
            |(key, source, consent, record_id)| Obs {
                key,
                source,
                consent,
                record_id,
            },
        );
        prop::collection::btree_map(
            0..40i32,
            (prop::bool::weighted(0.85), prop::collection::vec(obs, 0..5)),
            0..8,
        )
        .prop_map(|m| m.into_iter().map(|(d, (c, o))| (d, c, o)).collect())
    }

    fn arb_rows() -> impl Strategy<Value = Vec<Row>> {
        let row = (
            0..3u8,
            0..3u8,
            0..40i32,
            0..8i32,
            any::<bool>(),
            arb_consent(),
        )
            .prop_map(|(key, kind, date, lag, source, consent)| Row {
                key,
                kind,
                date,
                lag,
                source,
                consent,
            });
        prop::collection::vec(row, 0..10)
    }

    fn row_kind(k: u8) -> EventKind {
        [
            EventKind::Enrolled,
            EventKind::Changed,
            EventKind::SoftDeleted,
        ][k as usize]
    }

    /// A snapshot dated `date` of these rows (line = position + 2), fed in reverse if asked.
    fn snapshot(date: i32, obs: &[Obs], reverse: bool) -> SnapshotBuilder {
        let mut b = SnapshotBuilder::default();
        let mut obs: Vec<(usize, &Obs)> = obs.iter().enumerate().collect();
        if reverse {
            obs.reverse();
        }
        for (line, o) in obs {
            let rec = record(
                o.key,
                EventKind::Observed,
                date,
                o.source,
                o.consent,
                o.record_id,
            );
            b.add(
                rec,
                Provenance {
                    file: format!("snap{date}").into(),
                    line: line as u32 + 2,
                },
            );
        }
        b
    }

    /// Builds a reconciler; `reverse` feeds rows and snapshot rows in reverse order.
    fn build(snapshots: &[(i32, bool, Vec<Obs>)], rows: &[Row], reverse: bool) -> Reconciler {
        let mut r = Reconciler::new();
        let mut rows: Vec<(usize, &Row)> = rows.iter().enumerate().collect();
        if reverse {
            rows.reverse();
        }
        for (i, row) in rows {
            let rec = record(
                row.key,
                row_kind(row.kind),
                row.date,
                row.source,
                row.consent,
                0,
            );
            let prov = Provenance {
                file: format!("row{i}").into(),
                line: 2,
            };
            r.add_row_event(rec, Date::from_days(row.date + row.lag), prov);
        }
        for (date, complete, obs) in snapshots {
            let b = snapshot(*date, obs, reverse);
            r.add_snapshot(
                Date::from_days(*date),
                *complete,
                format!("snap{date}").into(),
                b,
            )
            .unwrap();
        }
        r
    }

    /// The same history with no run compression: one observed event per snapshot row group.
    fn uncompressed(
        r: &Reconciler,
        snapshots: &[(i32, bool, Vec<Obs>)],
        rows_only: &Reconciler,
    ) -> HashMap<Key, Vec<Event>> {
        let mut out: HashMap<Key, Vec<Event>> = rows_only
            .histories()
            .map(|(k, h)| (k.clone(), h.events().to_vec()))
            .collect();
        for (date, _, obs) in snapshots {
            // Several rows of one key make one observation (SEMANTICS §5).
            let mut combined: Vec<(Key, SnapshotObservation)> = Vec::new();
            for (k, o) in snapshot(*date, obs, false).observations {
                match combined.iter_mut().find(|(c, _)| *c == k) {
                    Some((_, c)) => c.merge(o),
                    None => combined.push((k, o)),
                }
            }
            for (k, o) in combined {
                let mut h = KeyHistory::default();
                h.observe(o, None);
                out.entry(k).or_default().extend(h.events().iter().cloned());
            }
        }
        assert_eq!(r.calendar.entries().len(), snapshots.len());
        out
    }

    /// What gold and the decision read of a state.
    fn projection(s: &PhoneState) -> impl PartialEq + std::fmt::Debug {
        (
            s.attributes.clone(),
            s.consent,
            s.deletion.as_ref().map(|d| (d.kind, d.at)),
            s.first_seen_at,
            s.last_seen_at,
            s.missing_at.clone(),
            s.changes_after_delete
                .iter()
                .map(|e| e.date)
                .collect::<Vec<_>>(),
            crate::decision::decide(Some(s)).reason,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn runs_lose_nothing_and_order_does_not_matter(snapshots in arb_snapshots(), rows in arb_rows(), as_of in prop::option::of(0..50i32)) {
            let forward = build(&snapshots, &rows, false);
            let backward = build(&snapshots, &rows, true);
            let rows_only = build(&[], &rows, false);
            let plain = uncompressed(&forward, &snapshots, &rows_only);
            let as_of = as_of.map(Date::from_days);
            for k in 0..3u8 {
                let key = key(k);
                let a = forward.state(&key, as_of);
                let b = backward.state(&key, as_of);
                let c = plain.get(&key).and_then(|ev| fold(ev, forward.calendar(), as_of));
                prop_assert_eq!(a.as_ref().map(projection), b.as_ref().map(projection));
                prop_assert_eq!(a.as_ref().map(projection), c.as_ref().map(projection));
                if let Some(a) = &a {
                    prop_assert_eq!(a, b.as_ref().unwrap(), "evidence too is order independent");
                }
                let every_step = forward
                    .history(&key)
                    .map(|h| crate::fold::timeline(h.events(), forward.calendar(), as_of))
                    .and_then(|steps| steps.last().map(|s| s.state.clone()));
                prop_assert_eq!(a, every_step, "skipping a run's inner snapshots changes no state");
            }
        }
    }

    fn arb_listings() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let listing = prop::collection::btree_set(0..30u8, 0..30)
            .prop_flat_map(|keys| Just(keys.into_iter().collect::<Vec<_>>()).prop_shuffle());
        prop::collection::vec(listing, 0..6)
    }

    proptest! {
        /// Snapshots that reorder, drop and add keys still reach each key's own history
        /// (the previous snapshot's order is only a guess to check).
        #[test]
        fn each_snapshot_row_reaches_its_own_key(listings in arb_listings()) {
            let mut r = Reconciler::new();
            for (i, keys) in listings.iter().enumerate() {
                let date = i as i32 * 10;
                let mut b = SnapshotBuilder::default();
                for (line, &k) in keys.iter().enumerate() {
                    let provenance = Provenance { file: "snap".into(), line: line as u32 + 2 };
                    b.add(record(k, EventKind::Observed, date, true, None, i as u8), provenance);
                }
                r.add_snapshot(Date::from_days(date), true, "snap".into(), b).unwrap();
            }
            for k in 0..30u8 {
                let listed: Vec<i32> = (listings.iter().enumerate())
                    .filter(|(_, keys)| keys.contains(&k))
                    .map(|(i, _)| i as i32 * 10)
                    .collect();
                let observed: Vec<i32> = r
                    .history(&key(k))
                    .map(|h| h.events().iter().map(|e| e.date.days()).collect())
                    .unwrap_or_default();
                prop_assert_eq!(observed, listed, "key {}", k);
            }
            prop_assert_eq!(r.len(), listings.iter().flatten().collect::<std::collections::BTreeSet<_>>().len());
        }
    }

    #[test]
    fn snapshots_must_come_in_date_order() {
        let mut r = Reconciler::new();
        r.add_snapshot(
            Date::from_days(10),
            true,
            "a".into(),
            SnapshotBuilder::default(),
        )
        .unwrap();
        let err = r.add_snapshot(
            Date::from_days(5),
            true,
            "b".into(),
            SnapshotBuilder::default(),
        );
        assert!(matches!(
            err,
            Err(ReconcileError::SnapshotOutOfOrder { .. })
        ));
    }
}
