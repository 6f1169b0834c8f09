//! A key's stored history: its row events and its runs of snapshot observations.

use std::cmp::Ordering;

use crate::date::Date;
use crate::event::{Attributes, ConsentStatement, Event, EventKind, Provenance};

/// What one snapshot says of one key: the rows of that snapshot that carry it, combined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotObservation {
    /// The snapshot date.
    pub date: Date,
    /// The row whose attributes won.
    pub provenance: Provenance,
    /// SEMANTICS §5: of several rows, the greatest attributes (deny wins).
    pub attributes: Attributes,
    /// SEMANTICS §4: of several rows, the winning statement. Rows of one snapshot share one
    /// date and one file date, so a losing statement could never win as of any date.
    pub consent: Option<ConsentStatement>,
}

impl SnapshotObservation {
    /// Combines another row of the same snapshot into this observation.
    pub fn merge(&mut self, other: SnapshotObservation) {
        self.consent = ConsentStatement::better(self.consent, other.consent);
        let wins = other
            .attributes
            .deny_wins_cmp(&self.attributes)
            .then_with(|| {
                // Equal attributes: keep the earliest row as evidence, whatever the arrival order.
                self.provenance.cmp(&other.provenance)
            });
        if wins == Ordering::Greater {
            self.attributes = other.attributes;
            self.provenance = other.provenance;
        }
    }
}

/// Every stored event of one key. Snapshot observations are kept as runs (see [`Event`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyHistory {
    events: Vec<Event>,
    last_run: Option<usize>,
}

impl KeyHistory {
    /// A history of these stored events (e.g. read back from the lake).
    pub fn from_events(events: Vec<Event>) -> Self {
        let last_run = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind == EventKind::Observed)
            .max_by_key(|(_, e)| e.last_date)
            .map(|(i, _)| i);
        KeyHistory { events, last_run }
    }

    /// Puts events stored before (e.g. read back from the lake) ahead of this history's.
    pub fn prepend_stored(&mut self, mut stored: Vec<Event>) {
        stored.append(&mut self.events);
        *self = KeyHistory::from_events(stored);
    }

    /// The stored events, in arrival order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Adds a row event (enrolled, changed, soft-deleted).
    pub fn add_row_event(&mut self, mut event: Event) {
        debug_assert_ne!(event.kind, EventKind::Observed);
        if let Some(last) = self.events.last() {
            event.attributes.share(&last.attributes);
        }
        self.events.push(event);
    }

    /// Adds a snapshot's observation. Snapshots must come in date order; `previous` is the
    /// calendar's snapshot just before this one. The last run is extended when it ended at
    /// `previous` with the same attributes and consent; otherwise a new run starts.
    pub fn observe(&mut self, obs: SnapshotObservation, previous: Option<Date>) {
        if let Some(run) = self.last_run.map(|i| &mut self.events[i])
            && Some(run.last_date) == previous
            && run.attributes == obs.attributes
            && run.consent == obs.consent
        {
            run.last_date = obs.date;
            run.last_provenance = obs.provenance;
            return;
        }
        let mut obs = obs;
        if let Some(last) = self.events.last() {
            obs.attributes.share(&last.attributes);
        }
        self.last_run = Some(self.events.len());
        self.events.push(Event {
            kind: EventKind::Observed,
            date: obs.date,
            last_date: obs.date,
            file_date: obs.date,
            last_provenance: obs.provenance.clone(),
            provenance: obs.provenance,
            attributes: obs.attributes,
            consent: obs.consent,
        });
    }
}
