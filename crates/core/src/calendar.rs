//! SEMANTICS §2: the snapshot calendar — every snapshot date, and whether it may derive
//! `missing` events.

use std::sync::Arc;

use crate::date::Date;

/// One snapshot: every NON-FIN file with one snapshot date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarEntry {
    /// The snapshot date.
    pub date: Date,
    /// False when any file of the snapshot was rejected: a damaged snapshot derives no
    /// `missing` events.
    pub complete: bool,
    /// The name of the snapshot's first file, the evidence of its `missing` events.
    pub file: Arc<str>,
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

    /// Adds a snapshot or, for a known date, updates its completeness (damage wins).
    pub fn insert(&mut self, entry: CalendarEntry) {
        match self.entries.binary_search_by_key(&entry.date, |e| e.date) {
            Ok(i) => self.entries[i].complete &= entry.complete,
            Err(i) => self.entries.insert(i, entry),
        }
    }
}
