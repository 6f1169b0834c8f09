//! SEMANTICS §3–5 and §8: folding a key's events, in event order, into its state.

use std::cmp::Ordering;

use crate::calendar::{CalendarEntry, SnapshotCalendar};
use crate::date::Date;
use crate::event::{Attributes, ConsentStatement, Event, EventKind, FileName};

/// How a phone was deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeleteType {
    /// Missing from a snapshot (a derived `missing` event).
    Hard,
    /// A change record with soft-delete flag `Y`.
    Soft,
}

impl DeleteType {
    /// `hard_delete` or `soft_delete`, as in gold.
    pub fn code(self) -> &'static str {
        match self {
            Self::Hard => "hard_delete",
            Self::Soft => "soft_delete",
        }
    }

    /// The type of a gold `delete_type` code.
    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Hard, Self::Soft]
            .into_iter()
            .find(|t| t.code() == code)
    }
}

/// The event behind a part of the state: its kind, date and file (and line, for a row).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Evidence {
    /// The event's kind.
    pub kind: EventKind,
    /// The event's date.
    pub date: Date,
    /// The file that carried it (a `missing` event: the snapshot's first file).
    pub file: FileName,
    /// The row's line; `None` for `missing` events and for the middle of an observed run.
    pub line: Option<u64>,
}

/// A deletion in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deletion {
    /// Hard or soft.
    pub kind: DeleteType,
    /// `deleted_at`: the first snapshot it was missing from, or the soft delete's date.
    pub at: Date,
    /// The event that deleted it.
    pub evidence: Evidence,
}

/// A key's state after its last event (SEMANTICS §3–5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneState {
    /// Source, type, status, technology, quality, record id of the latest row.
    pub attributes: Attributes,
    /// The row those attributes come from.
    pub attributes_from: Evidence,
    /// The winning consent statement; `None` is implicit consent.
    pub consent: Option<ConsentStatement>,
    /// The event that made the winning statement.
    pub consent_from: Option<Evidence>,
    /// The deletion in force, if any.
    pub deletion: Option<Deletion>,
    /// The first snapshot that carried the key.
    pub first_seen_at: Option<Date>,
    /// The last snapshot that carried the key.
    pub last_seen_at: Option<Date>,
    /// The date of the last event applied.
    pub last_event_at: Date,
    /// Derived `missing` events: the snapshots that hard-deleted the key.
    pub missing_at: Vec<Date>,
    /// SEMANTICS §3 `change_after_delete`: change records that met a deleted key.
    pub changes_after_delete: Vec<Evidence>,
}

impl PhoneState {
    /// `is_deleted` of gold.
    pub fn is_deleted(&self) -> bool {
        self.deletion.is_some()
    }
}

#[cfg(test)]
mod tests;

enum Step<'a> {
    Row(&'a Event),
    Snapshot(usize),
}

/// Folds a key's stored events into its state, as of `as_of` (SEMANTICS §8) or with every
/// file. `None` when no event is visible: the key does not exist (as of that date).
///
/// Events are applied in date order, same-date order `enrolled` < `observed` = `missing` <
/// `changed` < `soft_deleted`; the calendar's snapshots (dated ≤ `as_of`) either carry the
/// key (an `observed` event, from a run) or, when complete and the key is present, derive a
/// `missing` event. The result does not depend on the order of `events`.
pub fn fold(
    events: &[Event],
    calendar: &SnapshotCalendar,
    as_of: Option<Date>,
) -> Option<PhoneState> {
    fold_steps(events, calendar, as_of, None)
}

/// One step of a key's timeline: an event applied by the fold and the state after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineStep {
    /// The event: a row, a snapshot that carried the key, or a derived `missing` event.
    pub event: Evidence,
    /// The key's state once it was applied.
    pub state: PhoneState,
}

/// The key's timeline as [`fold`] applies its events: every event with the state after it
/// (a snapshot that carried the key is one step; a snapshot that changed nothing is none).
pub fn timeline(
    events: &[Event],
    calendar: &SnapshotCalendar,
    as_of: Option<Date>,
) -> Vec<TimelineStep> {
    let mut steps = Vec::new();
    fold_steps(
        events,
        calendar,
        as_of,
        Some(&mut |event, fold: &Fold<'_>| {
            if let Some(state) = fold.clone().finish() {
                steps.push(TimelineStep { event, state });
            }
        }),
    );
    steps
}

/// What [`fold_steps`] calls after each event it applies: the event and the fold's state.
type OnStep<'s, 'a> = &'s mut dyn FnMut(Evidence, &Fold<'a>);

/// The fold, calling `on_step` after each event it applies. Without `on_step`, the inner
/// snapshots of a stretch that one observed run carries with no row between are skipped:
/// applying its first and last snapshot leaves the same state as applying each (the run's
/// attributes and consent are the same throughout, and a statement equal to the winning
/// one does not replace it).
fn fold_steps<'a>(
    events: &'a [Event],
    calendar: &SnapshotCalendar,
    as_of: Option<Date>,
    mut on_step: Option<OnStep<'_, 'a>>,
) -> Option<PhoneState> {
    let mut rows: Vec<&Event> = events
        .iter()
        .filter(|e| {
            e.kind != EventKind::Observed && e.kind != EventKind::Missing && e.visible(as_of)
        })
        .collect();
    rows.sort_by(|a, b| event_order(a, b));
    let mut runs: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == EventKind::Observed && e.visible(as_of))
        .collect();
    runs.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| event_order(a, b)));
    let snapshots = calendar.visible(as_of);

    let mut fold = Fold::default();
    let (mut next_row, mut next_snapshot, mut run) = (0, 0, 0);
    loop {
        let step = match (rows.get(next_row), snapshots.get(next_snapshot)) {
            (None, None) => break,
            (Some(e), Some(s)) if comes_before(e, s) => Step::Row(e),
            (Some(e), None) => Step::Row(e),
            (_, Some(_)) => Step::Snapshot(next_snapshot),
        };
        let applied = match step {
            Step::Row(e) => {
                next_row += 1;
                Some(fold.apply_row(e))
            }
            Step::Snapshot(i) => {
                next_snapshot += 1;
                let s = &snapshots[i];
                while runs.get(run).is_some_and(|r| r.last_date < s.date) {
                    run += 1;
                }
                match runs.get(run).filter(|r| r.date <= s.date) {
                    Some(r) => {
                        let evidence = fold.apply_observed(r, s.date, &s.file);
                        if on_step.is_none() {
                            let mut last = i;
                            while snapshots.get(last + 1).is_some_and(|t| {
                                t.date <= r.last_date
                                    && rows.get(next_row).is_none_or(|e| !comes_before(e, t))
                            }) {
                                last += 1;
                            }
                            if last > i {
                                let t = &snapshots[last];
                                fold.apply_observed(r, t.date, &t.file);
                                next_snapshot = last + 1;
                            }
                        }
                        Some(evidence)
                    }
                    None if s.complete => fold.apply_missing(s.date, &s.file),
                    None => None,
                }
            }
        };
        if let (Some(event), Some(on_step)) = (applied, on_step.as_mut()) {
            on_step(event, &fold);
        }
    }
    fold.finish()
}

/// Whether row event `e` is applied before snapshot `s` (same-date order, SEMANTICS §3).
fn comes_before(e: &Event, s: &CalendarEntry) -> bool {
    (e.date, e.kind.same_date_rank()) < (s.date, EventKind::Observed.same_date_rank())
}

/// Event order within one key, for row events: date, same-date rank, then SEMANTICS §5's
/// deny-wins attribute order (ascending, so the greatest is applied last and wins), then
/// provenance, so that nothing depends on arrival order.
fn event_order(a: &Event, b: &Event) -> Ordering {
    (a.date, a.kind.same_date_rank())
        .cmp(&(b.date, b.kind.same_date_rank()))
        .then_with(|| a.attributes.deny_wins_cmp(&b.attributes))
        .then_with(|| a.consent_order(b))
        .then_with(|| a.provenance.cmp(&b.provenance))
        .then_with(|| a.file_date.cmp(&b.file_date))
}

impl Event {
    fn consent_order(&self, other: &Event) -> Ordering {
        let key = |c: Option<ConsentStatement>| c.map(|c| (c.date, !c.consent));
        key(self.consent).cmp(&key(other.consent))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Presence {
    Unseen,
    Present,
    Deleted,
}

#[derive(Clone, Debug)]
struct Fold<'a> {
    presence: Presence,
    deletion: Option<Deletion>,
    attributes: Option<(&'a Attributes, Evidence)>,
    consent: Option<(ConsentStatement, Evidence)>,
    first_seen_at: Option<Date>,
    last_seen_at: Option<Date>,
    last_event_at: Option<Date>,
    missing_at: Vec<Date>,
    changes_after_delete: Vec<Evidence>,
}

impl Default for Fold<'_> {
    fn default() -> Self {
        Fold {
            presence: Presence::Unseen,
            deletion: None,
            attributes: None,
            consent: None,
            first_seen_at: None,
            last_seen_at: None,
            last_event_at: None,
            missing_at: Vec::new(),
            changes_after_delete: Vec::new(),
        }
    }
}

impl<'a> Fold<'a> {
    fn apply_row(&mut self, e: &'a Event) -> Evidence {
        let evidence = Evidence {
            kind: e.kind,
            date: e.date,
            file: e.provenance.file,
            line: Some(u64::from(e.provenance.line)),
        };
        match e.kind {
            EventKind::Enrolled => self.make_present(),
            EventKind::Changed => {
                if self.presence == Presence::Deleted {
                    self.changes_after_delete.push(evidence.clone());
                } else {
                    self.presence = Presence::Present;
                }
            }
            EventKind::SoftDeleted => {
                if self.presence != Presence::Deleted {
                    self.presence = Presence::Deleted;
                    self.deletion = Some(Deletion {
                        kind: DeleteType::Soft,
                        at: e.date,
                        evidence: evidence.clone(),
                    });
                }
            }
            EventKind::Observed | EventKind::Missing => unreachable!("not a row event"),
        }
        self.record(e.date, &e.attributes, e.consent, evidence.clone());
        evidence
    }

    fn apply_observed(&mut self, run: &'a Event, date: Date, snapshot_file: &FileName) -> Evidence {
        self.make_present();
        self.first_seen_at.get_or_insert(date);
        self.last_seen_at = Some(date);
        let (file, line) = if date == run.date {
            (run.provenance.file, Some(u64::from(run.provenance.line)))
        } else if date == run.last_date {
            (
                run.last_provenance.file,
                Some(u64::from(run.last_provenance.line)),
            )
        } else {
            (*snapshot_file, None)
        };
        let evidence = Evidence {
            kind: EventKind::Observed,
            date,
            file,
            line,
        };
        self.record(date, &run.attributes, run.consent, evidence.clone());
        evidence
    }

    /// A derived `missing` event, when the key is present (else nothing happens).
    fn apply_missing(&mut self, date: Date, snapshot_file: &FileName) -> Option<Evidence> {
        if self.presence != Presence::Present {
            return None;
        }
        let evidence = Evidence {
            kind: EventKind::Missing,
            date,
            file: *snapshot_file,
            line: None,
        };
        self.presence = Presence::Deleted;
        self.missing_at.push(date);
        self.deletion = Some(Deletion {
            kind: DeleteType::Hard,
            at: date,
            evidence: evidence.clone(),
        });
        self.last_event_at = Some(date);
        Some(evidence)
    }

    /// Enrolled or observed: present; a deleted key is re-added and its delete columns clear.
    fn make_present(&mut self) {
        self.presence = Presence::Present;
        self.deletion = None;
    }

    /// Attributes of the latest row in event order; the winning consent statement, the
    /// earliest event on a full tie.
    fn record(
        &mut self,
        date: Date,
        attributes: &'a Attributes,
        consent: Option<ConsentStatement>,
        evidence: Evidence,
    ) {
        if let Some(c) = consent
            && self
                .consent
                .as_ref()
                .is_none_or(|(best, _)| c.precedence_cmp(best) == Ordering::Greater)
        {
            self.consent = Some((c, evidence.clone()));
        }
        self.attributes = Some((attributes, evidence));
        self.last_event_at = Some(date);
    }

    fn finish(self) -> Option<PhoneState> {
        let (attributes, attributes_from) = self.attributes?;
        let (consent, consent_from) = self.consent.unzip();
        Some(PhoneState {
            attributes: attributes.clone(),
            attributes_from,
            consent,
            consent_from,
            deletion: self.deletion,
            first_seen_at: self.first_seen_at,
            last_seen_at: self.last_seen_at,
            last_event_at: self.last_event_at.expect("a row was applied"),
            missing_at: self.missing_at,
            changes_after_delete: self.changes_after_delete,
        })
    }
}
