//! SEMANTICS §7: the decision `can_send_sms`, its reason code and its evidence.

use std::borrow::Borrow;
use std::fmt;

use crate::date::Date;
use crate::fold::{Evidence, PhoneState};
use crate::key::Key;

/// Why a check answered as it did, in order of precedence (SEMANTICS §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The account or phone cannot be normalised.
    InvalidInput,
    /// A maximum data age is configured and the newest snapshot is older.
    StaleData,
    /// No such key.
    UnknownPhone,
    /// The phone is deleted.
    Deleted,
    /// The source is not `CLIENT`.
    NotClientSourced,
    /// Consent is FALSE.
    ConsentWithdrawn,
    /// Allowed: consent TRUE.
    AllowedExplicitConsent,
    /// Allowed: no consent statement (implicit consent).
    AllowedImplicitConsent,
}

impl Reason {
    /// Every reason, in order of precedence.
    pub const ALL: [Reason; 8] = [
        Self::InvalidInput,
        Self::StaleData,
        Self::UnknownPhone,
        Self::Deleted,
        Self::NotClientSourced,
        Self::ConsentWithdrawn,
        Self::AllowedExplicitConsent,
        Self::AllowedImplicitConsent,
    ];

    /// The reason code, e.g. `consent_withdrawn`.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::StaleData => "stale_data",
            Self::UnknownPhone => "unknown_phone",
            Self::Deleted => "deleted",
            Self::NotClientSourced => "not_client_sourced",
            Self::ConsentWithdrawn => "consent_withdrawn",
            Self::AllowedExplicitConsent => "allowed_explicit_consent",
            Self::AllowedImplicitConsent => "allowed_implicit_consent",
        }
    }

    /// Whether this reason allows texting.
    pub fn allows(self) -> bool {
        matches!(
            self,
            Self::AllowedExplicitConsent | Self::AllowedImplicitConsent
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An answer of `can_send_sms`. `E` is the evidence: owned by default, or borrowed from the
/// state it was decided on (`Decision<&Evidence>`), which costs no copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision<E = Evidence> {
    /// TRUE only when texting is allowed.
    pub allowed: bool,
    /// The reason code.
    pub reason: Reason,
    /// The event that decided it (none for invalid input, stale data, unknown phone).
    pub decided_by: Option<E>,
}

impl<E: Borrow<Evidence>> Decision<E> {
    /// The event that decided it, owned or borrowed.
    pub fn evidence(&self) -> Option<&Evidence> {
        self.decided_by.as_ref().map(Borrow::borrow)
    }
}

impl Decision<&Evidence> {
    /// The decision with its evidence copied out of the state.
    pub fn into_owned(self) -> Decision {
        Decision {
            allowed: self.allowed,
            reason: self.reason,
            decided_by: self.decided_by.cloned(),
        }
    }
}

/// The agency's data-age policy: answers deny with `stale_data` when the newest snapshot is
/// more than `max_snapshot_age_days` older than `today`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    /// The oldest acceptable age of the newest snapshot, in days.
    pub max_snapshot_age_days: u32,
    /// The newest snapshot date in the data (as of the check's date).
    pub newest_snapshot: Option<Date>,
    /// The date the check is made for (the as-of date, or today).
    pub today: Date,
}

impl Freshness {
    /// True when the data is older than the policy accepts (or has no snapshot at all).
    pub fn is_stale(&self) -> bool {
        self.newest_snapshot.is_none_or(|s| {
            i64::from(self.today.days()) - i64::from(s.days())
                > i64::from(self.max_snapshot_age_days)
        })
    }
}

/// SEMANTICS §7: the decision for a key's state (`None`: no such key).
pub fn decide(state: Option<&PhoneState>) -> Decision {
    verdict(state).into_owned()
}

/// SEMANTICS §7: [`decide`], with the evidence borrowed from `state`.
pub fn verdict(state: Option<&PhoneState>) -> Decision<&Evidence> {
    let Some(state) = state else {
        return deny(Reason::UnknownPhone, None);
    };
    if let Some(deletion) = &state.deletion {
        return deny(Reason::Deleted, Some(&deletion.evidence));
    }
    if !state.attributes.is_client_sourced() {
        return deny(Reason::NotClientSourced, Some(&state.attributes_from));
    }
    match (state.consent, &state.consent_from) {
        (Some(c), from) if !c.consent => deny(Reason::ConsentWithdrawn, from.as_ref()),
        (Some(_), from) => allow(Reason::AllowedExplicitConsent, from.as_ref()),
        (None, _) => allow(Reason::AllowedImplicitConsent, Some(&state.attributes_from)),
    }
}

/// SEMANTICS §7 from raw input: normalise (`invalid_input`), apply the data-age policy
/// (`stale_data`), look the key up and decide. Every failure is a FALSE with its reason.
/// The evidence is borrowed from the state `lookup` returns.
pub fn can_send_sms<'a>(
    account: &str,
    phone: &str,
    freshness: Option<&Freshness>,
    lookup: impl FnOnce(&Key) -> Option<&'a PhoneState>,
) -> (Option<Key>, Decision<&'a Evidence>) {
    let Some(key) = Key::parse_input(account, phone) else {
        return (None, deny(Reason::InvalidInput, None));
    };
    if freshness.is_some_and(Freshness::is_stale) {
        return (Some(key), deny(Reason::StaleData, None));
    }
    let state = lookup(&key);
    (Some(key), verdict(state))
}

fn deny<E>(reason: Reason, decided_by: Option<E>) -> Decision<E> {
    Decision {
        allowed: false,
        reason,
        decided_by,
    }
}

fn allow<E>(reason: Reason, decided_by: Option<E>) -> Decision<E> {
    Decision {
        allowed: true,
        reason,
        decided_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Attributes, ConsentStatement, EventKind};
    use crate::fold::{DeleteType, Deletion};

    fn evidence(kind: EventKind) -> Evidence {
        Evidence {
            kind,
            date: Date::from_days(1),
            file: "f".into(),
            line: Some(2),
        }
    }

    fn state(source: &str, consent: Option<bool>, deleted: bool) -> PhoneState {
        PhoneState {
            attributes: Attributes::with_source(source),
            attributes_from: evidence(EventKind::Observed),
            consent: consent.map(|c| ConsentStatement {
                consent: c,
                date: Date::from_days(1),
            }),
            consent_from: consent.map(|_| evidence(EventKind::Changed)),
            deletion: deleted.then(|| Deletion {
                kind: DeleteType::Soft,
                at: Date::from_days(1),
                evidence: evidence(EventKind::SoftDeleted),
            }),
            first_seen_at: None,
            last_seen_at: None,
            last_event_at: Date::from_days(1),
            missing_at: vec![],
            changes_after_delete: vec![],
        }
    }

    #[test]
    fn every_reason_in_precedence_order() {
        let check = |s: Option<PhoneState>| decide(s.as_ref());
        assert_eq!(check(None).reason, Reason::UnknownPhone);
        let deleted = check(Some(state("THIRD_PARTY", Some(false), true)));
        assert_eq!((deleted.allowed, deleted.reason), (false, Reason::Deleted));
        assert_eq!(deleted.decided_by.unwrap().kind, EventKind::SoftDeleted);
        assert_eq!(
            check(Some(state("THIRD_PARTY", Some(false), false))).reason,
            Reason::NotClientSourced
        );
        assert_eq!(
            check(Some(state("CLIENT", Some(false), false))).reason,
            Reason::ConsentWithdrawn
        );
        let explicit = check(Some(state("CLIENT", Some(true), false)));
        assert_eq!(
            (explicit.allowed, explicit.reason),
            (true, Reason::AllowedExplicitConsent)
        );
        assert_eq!(explicit.decided_by.unwrap().kind, EventKind::Changed);
        let implicit = check(Some(state("CLIENT", None, false)));
        assert_eq!(
            (implicit.allowed, implicit.reason),
            (true, Reason::AllowedImplicitConsent)
        );
        for r in Reason::ALL {
            assert_eq!(
                r.allows(),
                matches!(
                    r,
                    Reason::AllowedExplicitConsent | Reason::AllowedImplicitConsent
                )
            );
        }
    }

    #[test]
    fn malformed_input_and_stale_data_deny_before_lookup() {
        let (key, d) = can_send_sms("12x", "2125550101", None, |_| panic!("no lookup"));
        assert_eq!(
            (key, d.allowed, d.reason),
            (None, false, Reason::InvalidInput)
        );
        let (_, d) = can_send_sms("1", "555", None, |_| panic!("no lookup"));
        assert_eq!(d.reason, Reason::InvalidInput);
        let stale = Freshness {
            max_snapshot_age_days: 35,
            newest_snapshot: Some(Date::from_days(100)),
            today: Date::from_days(136),
        };
        let (_, d) = can_send_sms("1", "2125550101", Some(&stale), |_| panic!("no lookup"));
        assert_eq!(d.reason, Reason::StaleData);
        let fresh = Freshness {
            today: Date::from_days(135),
            ..stale
        };
        let client = state("CLIENT", None, false);
        let (key, d) = can_send_sms("1", "(212) 555-0101", Some(&fresh), |_| Some(&client));
        assert_eq!(key.unwrap().phone.to_string(), "+12125550101");
        assert_eq!(d.reason, Reason::AllowedImplicitConsent);
        let none = Freshness {
            newest_snapshot: None,
            ..fresh
        };
        assert!(
            none.is_stale(),
            "no snapshot at all is stale under a policy"
        );
    }
}
