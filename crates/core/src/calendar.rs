//! SEMANTICS §2: the snapshot calendar — every snapshot date, and whether it may derive
//! `missing` events.

use crate::date::Date;
use crate::event::{Event, EventKind, FileName};

/// One snapshot: every NON-FIN file with one snapshot date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarEntry {
    /// The snapshot date.
    pub date: Date,
    /// False when any file of the snapshot was rejected: a damaged snapshot derives no
    /// `missing` events.
    pub complete: bool,
    /// The name of the snapshot's first file, the evidence of its `missing` events.
    pub file: FileName,
}

/// How many keys one snapshot listed, and how many keys the snapshot before it listed
/// that it no longer lists (each derives a `missing` event when the snapshot is complete).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Keys the snapshot lists.
    pub listed: u64,
    /// Keys the previous snapshot listed that this one does not.
    pub vanished: u64,
}

/// Every snapshot, in date order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotCalendar {
    entries: Vec<CalendarEntry>,
}

impl SnapshotCalendar {
    /// A calendar of these snapshots (sorted here; a date given twice keeps the first).
    pub fn new(mut entries: Vec<CalendarEntry>) -> Self {
        entries.sort_by_key(|e| e.date);
        entries.dedup_by_key(|e| e.date);
        SnapshotCalendar { entries }
    }

    /// All snapshots in date order.
    pub fn entries(&self) -> &[CalendarEntry] {
        &self.entries
    }

    /// Snapshots dated ≤ `as_of` (all without one).
    pub fn visible(&self, as_of: Option<Date>) -> &[CalendarEntry] {
        let end = match as_of {
            Some(d) => self.entries.partition_point(|e| e.date <= d),
            None => self.entries.len(),
        };
        &self.entries[..end]
    }

    /// The snapshot just before `date`, if any.
    pub fn previous(&self, date: Date) -> Option<&CalendarEntry> {
        let i = self.entries.partition_point(|e| e.date < date);
        i.checked_sub(1).map(|i| &self.entries[i])
    }

    /// The snapshot of `date`, if any.
    pub fn get(&self, date: Date) -> Option<&CalendarEntry> {
        self.entries
            .binary_search_by_key(&date, |e| e.date)
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The newest snapshot date, if any.
    pub fn newest(&self) -> Option<Date> {
        self.entries.last().map(|e| e.date)
    }

    /// Per snapshot (in calendar order), the keys it listed and the keys it dropped, from
    /// every key's stored events (observed runs span consecutive snapshots).
    pub fn listings<'a>(&self, histories: impl IntoIterator<Item = &'a [Event]>) -> Vec<Listing> {
        let n = self.entries.len();
        let mut starts = vec![0i64; n + 1];
        let mut counts = vec![Listing::default(); n];
        let index = |d: Date| self.entries.binary_search_by_key(&d, |e| e.date).ok();
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for events in histories {
            spans.clear();
            spans.extend(
                events
                    .iter()
                    .filter(|e| e.kind == EventKind::Observed)
                    .filter_map(|e| Some((index(e.date)?, index(e.last_date)?))),
            );
            for &(first, last) in &spans {
                starts[first] += 1;
                starts[last + 1] -= 1;
                let next = last + 1;
                if next < n && !spans.iter().any(|&(f, l)| f <= next && next <= l) {
                    counts[next].vanished += 1;
                }
            }
        }
        let mut listed = 0i64;
        for (i, c) in counts.iter_mut().enumerate() {
            listed += starts[i];
            c.listed = listed.max(0) as u64;
        }
        counts
    }

    /// Adds a snapshot or, for a known date, updates its completeness (damage wins).
    pub fn insert(&mut self, entry: CalendarEntry) {
        match self.entries.binary_search_by_key(&entry.date, |e| e.date) {
            Ok(i) => self.entries[i].complete &= entry.complete,
            Err(i) => self.entries.insert(i, entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Attributes, Provenance};

    fn run(first: Date, last: Date) -> Event {
        let mut e = Event::row(
            EventKind::Changed,
            first,
            first,
            Provenance {
                file: "s".into(),
                line: 2,
            },
            Attributes::default(),
            None,
        );
        e.kind = EventKind::Observed;
        e.last_date = last;
        e
    }

    #[test]
    fn listings_count_keys_listed_and_dropped_per_snapshot() {
        let d = |day: i32| Date::from_days(day);
        let calendar = SnapshotCalendar::new(
            (1..=4)
                .map(|i| CalendarEntry {
                    date: d(i * 30),
                    complete: true,
                    file: "s".into(),
                })
                .collect(),
        );
        let histories = [
            vec![run(d(30), d(120))],                    // listed throughout
            vec![run(d(30), d(60))],                     // dropped by the third snapshot
            vec![run(d(30), d(30)), run(d(60), d(120))], // a new run: not dropped
            vec![run(d(90), d(90))],                     // listed once, dropped by the fourth
        ];
        let listings = calendar.listings(histories.iter().map(Vec::as_slice));
        let got: Vec<(u64, u64)> = listings.iter().map(|l| (l.listed, l.vanished)).collect();
        assert_eq!(got, vec![(3, 0), (3, 0), (3, 1), (2, 1)]);
    }
}
