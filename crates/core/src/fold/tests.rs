//! One test per rule of SEMANTICS §2–5 and §8, through the reconciler.

use super::*;
use crate::decision::{Reason, decide};
use crate::event::Provenance;
use crate::key::Key;
use crate::normalise::PhoneNumber;
use crate::reconcile::{Reconciler, SnapshotBuilder};
use crate::record::Record;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn key() -> Key {
    Key::new(
        "1000000000000001",
        PhoneNumber::parse("2125550101").unwrap(),
    )
}

fn rec(kind: EventKind, date: &str, source: &str, consent: Option<(bool, &str)>) -> Record {
    Record {
        key: key(),
        kind,
        date: d(date),
        attributes: Attributes::with_source(source),
        consent: consent.map(|(c, cd)| ConsentStatement {
            consent: c,
            date: d(cd),
        }),
        consent_date_substituted: false,
    }
}

fn prov(file: &str) -> Provenance {
    Provenance {
        file: file.into(),
        line: 2,
    }
}

/// A feed built up in steps, snapshots in date order.
struct Feed(Reconciler);

impl Feed {
    fn new() -> Self {
        Feed(Reconciler::new())
    }
    /// A snapshot dated `date` carrying the key (with `source`, `consent`) or not (`None`).
    fn snapshot(mut self, date: &str, carried: Option<(&str, Option<(bool, &str)>)>) -> Self {
        self.snapshot_with(date, true, carried);
        self
    }
    fn damaged_snapshot(
        mut self,
        date: &str,
        carried: Option<(&str, Option<(bool, &str)>)>,
    ) -> Self {
        self.snapshot_with(date, false, carried);
        self
    }
    fn snapshot_with(
        &mut self,
        date: &str,
        complete: bool,
        carried: Option<(&str, Option<(bool, &str)>)>,
    ) {
        let mut b = SnapshotBuilder::default();
        if let Some((source, consent)) = carried {
            b.add(
                rec(EventKind::Observed, date, source, consent),
                prov(&format!("NONFIN-{date}")),
            );
        }
        // Another key keeps every snapshot non-empty.
        let other = Record {
            key: Key::new("9", PhoneNumber::parse("3125550102").unwrap()),
            ..rec(EventKind::Observed, date, "CLIENT", None)
        };
        b.add(other, prov("other"));
        self.0
            .add_snapshot(d(date), complete, format!("NONFIN-{date}").into(), b)
            .unwrap();
    }
    fn row(
        mut self,
        kind: EventKind,
        date: &str,
        file_date: &str,
        source: &str,
        consent: Option<(bool, &str)>,
    ) -> Self {
        self.0.add_row_event(
            rec(kind, date, source, consent),
            d(file_date),
            prov(&format!("{}-{file_date}", kind.name())),
        );
        self
    }
    fn enrolled(self, date: &str) -> Self {
        self.row(EventKind::Enrolled, date, date, "CLIENT", None)
    }
    fn changed(self, date: &str, consent: Option<(bool, &str)>) -> Self {
        self.row(EventKind::Changed, date, date, "CLIENT", consent)
    }
    fn soft_deleted(self, date: &str) -> Self {
        self.row(EventKind::SoftDeleted, date, date, "CLIENT", None)
    }
    fn state(&self) -> PhoneState {
        self.0.state(&key(), None).expect("key exists")
    }
    fn state_as_of(&self, date: &str) -> Option<PhoneState> {
        self.0.state(&key(), Some(d(date)))
    }
}

const CLIENT: Option<(&str, Option<(bool, &str)>)> = Some(("CLIENT", None));

fn deletion(s: &PhoneState) -> Option<(DeleteType, String)> {
    s.deletion.as_ref().map(|x| (x.kind, x.at.to_string()))
}

#[test]
fn observed_key_is_present_with_implicit_consent() {
    let s = Feed::new().snapshot("2024-01-01", CLIENT).state();
    assert_eq!(deletion(&s), None);
    assert_eq!(s.consent, None);
    assert_eq!(decide(Some(&s)).reason, Reason::AllowedImplicitConsent);
}

#[test]
fn missing_from_a_snapshot_is_a_hard_delete_at_the_first_missing_snapshot() {
    let s = Feed::new()
        .snapshot("2024-01-01", CLIENT)
        .snapshot("2024-02-01", CLIENT)
        .snapshot("2024-03-01", None)
        .snapshot("2024-04-01", None)
        .state();
    assert_eq!(deletion(&s), Some((DeleteType::Hard, "2024-03-01".into())));
    assert_eq!(s.last_seen_at, Some(d("2024-02-01")));
    assert_eq!(s.missing_at, vec![d("2024-03-01")]);
    let e = &s.deletion.unwrap().evidence;
    assert_eq!(
        (e.kind, &*e.file),
        (EventKind::Missing, "NONFIN-2024-03-01")
    );
}

#[test]
fn a_later_snapshot_that_carries_the_phone_re_adds_it() {
    let s = Feed::new()
        .snapshot("2024-01-01", CLIENT)
        .snapshot("2024-02-01", None)
        .snapshot("2024-03-01", CLIENT)
        .state();
    assert_eq!(deletion(&s), None);
}

#[test]
fn an_enrollment_re_adds_a_deleted_phone() {
    let s = Feed::new()
        .snapshot("2024-01-01", CLIENT)
        .soft_deleted("2024-01-05")
        .enrolled("2024-01-09")
        .state();
    assert_eq!(deletion(&s), None);
}

#[test]
fn an_unseen_key_is_not_deleted_by_a_snapshot_that_lacks_it() {
    let s = Feed::new()
        .snapshot("2024-01-01", None)
        .snapshot("2024-02-01", None)
        .enrolled("2024-02-10")
        .state();
    assert_eq!(deletion(&s), None);
}

#[test]
fn enrolled_before_a_snapshot_that_lacks_it_is_hard_deleted_there_even_on_the_same_date() {
    let s = Feed::new()
        .enrolled("2024-02-01")
        .snapshot("2024-02-01", None)
        .state();
    assert_eq!(deletion(&s), Some((DeleteType::Hard, "2024-02-01".into())));
}

#[test]
fn soft_delete_deletes_a_present_or_unseen_key() {
    let s = Feed::new()
        .snapshot("2024-01-01", CLIENT)
        .soft_deleted("2024-01-15")
        .state();
    assert_eq!(deletion(&s), Some((DeleteType::Soft, "2024-01-15".into())));
    let s = Feed::new().soft_deleted("2024-01-15").state();
    assert_eq!(deletion(&s), Some((DeleteType::Soft, "2024-01-15".into())));
}

#[test]
fn soft_delete_then_missing_stays_a_soft_delete_at_its_date() {
    let s = Feed::new()
        .snapshot("2024-01-01", CLIENT)
        .soft_deleted("2024-01-15")
        .snapshot("2024-02-01", None)
        .state();
    assert_eq!(deletion(&s), Some((DeleteType::Soft, "2024-01-15".into())));
    assert!(s.missing_at.is_empty());
}

#[test]
fn an_already_deleted_key_stays_deleted_as_it_was() {
    let s = Feed::new()
        .snapshot("2024-01-01", CLIENT)
        .snapshot("2024-02-01", None)
        .soft_deleted("2024-02-10")
        .state();
    assert_eq!(deletion(&s), Some((DeleteType::Hard, "2024-02-01".into())));
    let s = Feed::new()
        .soft_deleted("2024-01-10")
        .soft_deleted("2024-01-20")
        .state();
    assert_eq!(deletion(&s), Some((DeleteType::Soft, "2024-01-10".into())));
}

#[test]
fn a_change_record_never_re_adds_and_the_conflict_is_logged() {
    let s = Feed::new()
        .snapshot("2024-01-01", CLIENT)
        .snapshot("2024-02-01", None)
        .changed("2024-02-20", None)
        .state();
    assert_eq!(deletion(&s), Some((DeleteType::Hard, "2024-02-01".into())));
    assert_eq!(s.changes_after_delete.len(), 1);
    assert_eq!(s.changes_after_delete[0].date, d("2024-02-20"));
    let s = Feed::new()
        .snapshot("2024-01-01", CLIENT)
        .soft_deleted("2024-01-10")
        .changed("2024-01-20", None)
        .state();
    assert_eq!(deletion(&s), Some((DeleteType::Soft, "2024-01-10".into())));
}

#[test]
fn a_change_record_makes_an_unseen_key_present() {
    let s = Feed::new().changed("2024-01-20", None).state();
    assert_eq!(deletion(&s), None);
    assert!(s.changes_after_delete.is_empty());
}

#[test]
fn a_change_on_the_date_of_a_missing_snapshot_comes_after_it() {
    let s = Feed::new()
        .snapshot("2024-01-01", CLIENT)
        .changed("2024-02-01", None)
        .snapshot("2024-02-01", None)
        .state();
    assert_eq!(deletion(&s), Some((DeleteType::Hard, "2024-02-01".into())));
}

#[test]
fn soft_delete_beats_a_change_and_a_snapshot_of_the_same_date() {
    let s = Feed::new()
        .soft_deleted("2024-02-01")
        .changed("2024-02-01", None)
        .snapshot("2024-02-01", CLIENT)
        .state();
    assert_eq!(deletion(&s), Some((DeleteType::Soft, "2024-02-01".into())));
}

#[test]
fn a_damaged_snapshot_deletes_nothing_but_its_rows_still_count() {
    let s = Feed::new()
        .snapshot("2024-01-01", CLIENT)
        .damaged_snapshot("2024-02-01", None)
        .state();
    assert_eq!(deletion(&s), None);
    let s = Feed::new()
        .snapshot("2024-01-01", CLIENT)
        .soft_deleted("2024-01-10")
        .damaged_snapshot("2024-02-01", CLIENT)
        .state();
    assert_eq!(
        deletion(&s),
        None,
        "a damaged snapshot's accepted rows still re-add"
    );
}

#[test]
fn latest_consent_date_wins_not_latest_record() {
    let s = Feed::new()
        .snapshot("2024-01-01", Some(("CLIENT", Some((true, "2023-06-01")))))
        .changed("2024-01-12", Some((false, "2024-01-10")))
        .snapshot("2024-02-01", Some(("CLIENT", Some((true, "2023-06-01")))))
        .state();
    assert_eq!(
        s.consent,
        Some(ConsentStatement {
            consent: false,
            date: d("2024-01-10")
        })
    );
    assert_eq!(decide(Some(&s)).reason, Reason::ConsentWithdrawn);
}

#[test]
fn on_the_same_consent_date_no_beats_yes() {
    for (first, second) in [(true, false), (false, true)] {
        let s = Feed::new()
            .snapshot("2024-01-01", Some(("CLIENT", Some((first, "2023-06-01")))))
            .changed("2024-01-12", Some((second, "2023-06-01")))
            .state();
        assert_eq!(s.consent.map(|c| c.consent), Some(false));
    }
}

#[test]
fn an_empty_flag_does_not_erase_a_statement() {
    let s = Feed::new()
        .snapshot("2024-01-01", Some(("CLIENT", Some((false, "2023-06-01")))))
        .snapshot("2024-02-01", CLIENT)
        .changed("2024-02-10", None)
        .state();
    assert_eq!(
        s.consent,
        Some(ConsentStatement {
            consent: false,
            date: d("2023-06-01")
        })
    );
    assert_eq!(s.sms_consent_updated_at_for_test(), Some(d("2023-06-01")));
}

#[test]
fn explicit_yes_allows_with_its_evidence() {
    let s = Feed::new()
        .snapshot("2024-01-01", Some(("CLIENT", Some((true, "2023-06-01")))))
        .state();
    let decision = decide(Some(&s));
    assert_eq!(decision.reason, Reason::AllowedExplicitConsent);
    assert_eq!(decision.decided_by.unwrap().date, d("2024-01-01"));
}

#[test]
fn attributes_come_from_the_latest_row_in_event_order() {
    let s = Feed::new()
        .snapshot("2024-02-01", CLIENT)
        .row(
            EventKind::Changed,
            "2024-02-01",
            "2024-02-03",
            "THIRD_PARTY",
            None,
        )
        .state();
    assert_eq!(
        s.attributes.source(),
        "THIRD_PARTY",
        "SUPPLFWD wins the same date"
    );
    assert_eq!(decide(Some(&s)).reason, Reason::NotClientSourced);
    let s = Feed::new()
        .row(
            EventKind::Changed,
            "2024-01-20",
            "2024-01-20",
            "THIRD_PARTY",
            None,
        )
        .snapshot("2024-02-01", CLIENT)
        .state();
    assert_eq!(s.attributes.source(), "CLIENT", "a newer snapshot wins");
}

#[test]
fn a_change_after_a_delete_still_updates_attributes() {
    let s = Feed::new()
        .soft_deleted("2024-01-10")
        .row(
            EventKind::Changed,
            "2024-01-20",
            "2024-01-20",
            "OTHER",
            None,
        )
        .state();
    assert_eq!(s.attributes.source(), "OTHER");
    assert!(s.is_deleted());
}

#[test]
fn rows_of_the_same_date_and_kind_deny_wins() {
    for order in [["CLIENT", "THIRD_PARTY"], ["THIRD_PARTY", "CLIENT"]] {
        let s = Feed::new()
            .row(
                EventKind::Changed,
                "2024-01-20",
                "2024-01-20",
                order[0],
                None,
            )
            .row(
                EventKind::Changed,
                "2024-01-20",
                "2024-01-22",
                order[1],
                None,
            )
            .state();
        assert_eq!(s.attributes.source(), "THIRD_PARTY");
    }
}

#[test]
fn as_of_applies_only_events_dated_and_filed_by_then() {
    let f = Feed::new()
        .snapshot("2024-01-01", Some(("CLIENT", Some((true, "2023-06-01")))))
        .snapshot("2024-02-01", Some(("CLIENT", Some((true, "2023-06-01")))))
        // A withdrawal dated 02-22, in a file of 02-25.
        .row(
            EventKind::Changed,
            "2024-02-22",
            "2024-02-25",
            "CLIENT",
            Some((false, "2024-02-22")),
        );
    let before = f.state_as_of("2024-02-10").unwrap();
    assert_eq!(before.consent.map(|c| c.consent), Some(true));
    let filed_later = f.state_as_of("2024-02-23").unwrap();
    assert_eq!(
        filed_later.consent.map(|c| c.consent),
        Some(true),
        "the file was not known yet"
    );
    let after = f.state_as_of("2024-02-25").unwrap();
    assert_eq!(after.consent.map(|c| c.consent), Some(false));
    assert!(
        f.state_as_of("2023-12-31").is_none(),
        "no event yet: unknown"
    );
}

#[test]
fn as_of_derives_missing_only_from_snapshots_dated_by_then() {
    let f = Feed::new()
        .snapshot("2024-01-01", CLIENT)
        .snapshot("2024-02-01", None);
    assert_eq!(deletion(&f.state_as_of("2024-01-31").unwrap()), None);
    assert_eq!(
        deletion(&f.state_as_of("2024-02-01").unwrap()),
        Some((DeleteType::Hard, "2024-02-01".into()))
    );
}

#[test]
fn as_of_filters_consent_by_the_rows_dates_not_the_consent_date() {
    // A row filed 2024-03-01 states consent dated 2023-01-01: invisible as of 2024-02-01.
    let f = Feed::new().snapshot("2024-01-01", CLIENT).row(
        EventKind::Changed,
        "2024-03-01",
        "2024-03-01",
        "CLIENT",
        Some((false, "2023-01-01")),
    );
    assert_eq!(f.state_as_of("2024-02-01").unwrap().consent, None);
    assert_eq!(
        f.state_as_of("2024-03-01")
            .unwrap()
            .consent
            .map(|c| c.consent),
        Some(false)
    );
}

#[test]
fn runs_compress_a_stable_phone_to_one_event() {
    let mut f = Feed::new();
    for m in 1..=9 {
        f = f.snapshot(&format!("2024-0{m}-01"), CLIENT);
    }
    let h = f.0.history(&key()).unwrap();
    assert_eq!(h.events().len(), 1);
    assert_eq!(h.events()[0].last_date, d("2024-09-01"));
    let s = f.state();
    assert_eq!(
        (s.first_seen_at, s.last_seen_at),
        (Some(d("2024-01-01")), Some(d("2024-09-01")))
    );
}

impl PhoneState {
    fn sms_consent_updated_at_for_test(&self) -> Option<Date> {
        self.consent.map(|c| c.date)
    }
}

#[test]
fn the_timeline_has_every_applied_event_with_the_state_after_it_and_ends_at_the_fold() {
    let feed = Feed::new()
        .snapshot("2024-01-01", CLIENT)
        .changed("2024-01-10", Some((false, "2024-01-09")))
        .snapshot("2024-02-01", None)
        .changed("2024-02-10", None)
        .snapshot("2024-03-01", None);
    let history = feed.0.history(&key()).unwrap();
    let steps = timeline(history.events(), feed.0.calendar(), None);
    let kinds: Vec<(EventKind, String)> = steps
        .iter()
        .map(|s| (s.event.kind, s.event.date.to_string()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (EventKind::Observed, "2024-01-01".into()),
            (EventKind::Changed, "2024-01-10".into()),
            (EventKind::Missing, "2024-02-01".into()),
            (EventKind::Changed, "2024-02-10".into()),
        ],
        "a snapshot that lacks an already deleted key is no step"
    );
    assert_eq!(steps[0].state.consent, None);
    assert_eq!(steps[1].state.consent.map(|c| c.consent), Some(false));
    assert!(!steps[1].state.is_deleted() && steps[2].state.is_deleted());
    assert_eq!(steps[3].state.changes_after_delete.len(), 1);
    assert_eq!(steps.last().map(|s| &s.state), Some(&feed.state()));
}
