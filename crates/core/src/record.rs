//! SEMANTICS §1–2: turning one row of a file into an event on a key, or a reject.

use crate::date::Date;
use crate::event::{Attributes, ConsentStatement, EventKind};
use crate::key::Key;
use crate::normalise::{self, PhoneNumber};
use crate::reject::RejectReason;

/// The three kinds of file in the feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    /// `-ENRLMT-`: new account enrollments.
    Enrollment,
    /// `-NON-FIN-BDL_`: a full snapshot (or a part of one).
    Snapshot,
    /// `-SUPPLFWD-BDL_`: change records.
    Change,
}

impl FileKind {
    /// The name of the bronze table for this kind.
    pub fn bronze_table(self) -> &'static str {
        match self {
            Self::Enrollment => "enrollment",
            Self::Snapshot => "nonfin",
            Self::Change => "supplfwd",
        }
    }

    /// The client's name for this kind.
    pub fn feed_name(self) -> &'static str {
        match self {
            Self::Enrollment => "ENRLMT",
            Self::Snapshot => "NON-FIN-BDL",
            Self::Change => "SUPPLFWD",
        }
    }
}

/// The fields of one row that the rules read, as written (matched by header name).
/// Fields a kind does not have are empty.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawRow<'a> {
    /// Legacy id (NON-FIN, SUPPLFWD) or `account_number` (ENRLMT).
    pub account: &'a str,
    /// The phone as written.
    pub phone: &'a str,
    /// Phone source.
    pub source: &'a str,
    /// Phone type.
    pub phone_type: &'a str,
    /// Phone status.
    pub status: &'a str,
    /// Phone technology.
    pub technology: &'a str,
    /// Quality score.
    pub quality_score: &'a str,
    /// Phone record id.
    pub record_id: &'a str,
    /// Consent flag (not in ENRLMT).
    pub consent_flag: &'a str,
    /// Consent date (not in ENRLMT).
    pub consent_date: &'a str,
    /// Soft-delete flag (SUPPLFWD only).
    pub delete_flag: &'a str,
    /// `record_date` (SUPPLFWD) or `enrollment_date` (ENRLMT); unused for NON-FIN.
    pub event_date: &'a str,
}

/// An accepted row, interpreted: the event it is on its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The row's key.
    pub key: Key,
    /// `Enrolled`, `Observed`, `Changed` or `SoftDeleted`.
    pub kind: EventKind,
    /// The event date: enrollment date, snapshot date or record date.
    pub date: Date,
    /// Descriptive columns, codes normalised.
    pub attributes: Attributes,
    /// The consent statement, if the flag is `Y` or `N`.
    pub consent: Option<ConsentStatement>,
    /// True when a flag was given with an empty or invalid consent date, so the event date
    /// stands in for it (a counted warning, SEMANTICS §1).
    pub consent_date_substituted: bool,
}

/// SEMANTICS §1: interprets a row of a file of `kind` dated `file_date`. Reasons are checked
/// in the order account, phone, date, consent flag, delete flag (field count is the
/// reader's, before this).
pub fn interpret(kind: FileKind, file_date: Date, raw: &RawRow) -> Result<Record, RejectReason> {
    let account = match kind {
        FileKind::Enrollment => normalise::account_from_account_number(raw.account),
        FileKind::Snapshot | FileKind::Change => normalise::account_from_legacy_id(raw.account),
    }
    .ok_or(RejectReason::InvalidAccount)?;
    let phone = PhoneNumber::parse(raw.phone).ok_or(RejectReason::InvalidPhone)?;
    let date = match kind {
        FileKind::Snapshot => file_date,
        FileKind::Enrollment | FileKind::Change => {
            Date::parse(raw.event_date).ok_or(RejectReason::InvalidDate)?
        }
    };
    let flag = match kind {
        FileKind::Enrollment => None,
        FileKind::Snapshot | FileKind::Change => normalise::consent_flag(raw.consent_flag)?,
    };
    let event_kind = match kind {
        FileKind::Enrollment => EventKind::Enrolled,
        FileKind::Snapshot => EventKind::Observed,
        FileKind::Change if normalise::delete_flag(raw.delete_flag)? => EventKind::SoftDeleted,
        FileKind::Change => EventKind::Changed,
    };
    let consent_date = flag.map(|_| Date::parse(raw.consent_date));
    let consent_date_substituted = matches!(consent_date, Some(None));
    let consent = flag.map(|consent| ConsentStatement {
        consent,
        date: consent_date.flatten().unwrap_or(date),
    });
    Ok(Record {
        key: Key::new(account, phone),
        kind: event_kind,
        date,
        attributes: Attributes::normalised([
            raw.source,
            raw.phone_type,
            raw.status,
            raw.technology,
            raw.quality_score,
            raw.record_id,
        ]),
        consent,
        consent_date_substituted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn change_row<'a>() -> RawRow<'a> {
        RawRow {
            account: "1000000000000001P",
            phone: "2125550101",
            source: "client",
            phone_type: "CELL",
            status: "ACTIVE",
            technology: "WIRELESS",
            quality_score: "80",
            record_id: "h1",
            consent_flag: "N",
            consent_date: "2024-02-22",
            delete_flag: "N",
            event_date: "2024-02-22",
        }
    }

    #[test]
    fn change_record_with_flag_n_is_a_changed_event_with_a_statement() {
        let r = interpret(FileKind::Change, d("2024-02-25"), &change_row()).unwrap();
        assert_eq!(r.kind, EventKind::Changed);
        assert_eq!(r.date, d("2024-02-22"));
        assert_eq!(r.key.to_string(), "1000000000000001 +12125550101");
        assert_eq!(r.attributes.source(), "CLIENT");
        assert_eq!(
            r.consent,
            Some(ConsentStatement {
                consent: false,
                date: d("2024-02-22")
            })
        );
    }

    #[test]
    fn soft_delete_flag_y_is_a_soft_delete() {
        let raw = RawRow {
            delete_flag: "y",
            ..change_row()
        };
        assert_eq!(
            interpret(FileKind::Change, d("2024-02-25"), &raw)
                .unwrap()
                .kind,
            EventKind::SoftDeleted
        );
    }

    #[test]
    fn snapshot_rows_are_dated_by_the_snapshot() {
        let raw = RawRow {
            event_date: "",
            delete_flag: "",
            ..change_row()
        };
        let r = interpret(FileKind::Snapshot, d("2024-03-01"), &raw).unwrap();
        assert_eq!((r.kind, r.date), (EventKind::Observed, d("2024-03-01")));
    }

    #[test]
    fn enrollment_has_no_consent_and_needs_a_digit_account() {
        let raw = RawRow {
            account: "0300000000000003",
            consent_flag: "Y",
            ..change_row()
        };
        let r = interpret(FileKind::Enrollment, d("2024-02-25"), &raw).unwrap();
        assert_eq!((r.kind, r.consent), (EventKind::Enrolled, None));
        assert_eq!(r.key.account.to_string(), "0300000000000003");
        let raw = RawRow {
            account: "0300000000000003P",
            ..change_row()
        };
        assert_eq!(
            interpret(FileKind::Enrollment, d("2024-02-25"), &raw),
            Err(RejectReason::InvalidAccount)
        );
    }

    #[test]
    fn invalid_consent_date_falls_back_to_the_event_date_with_a_warning() {
        for bad in ["", "2024-02-30", "soon"] {
            let raw = RawRow {
                consent_flag: "Y",
                consent_date: bad,
                ..change_row()
            };
            let r = interpret(FileKind::Change, d("2024-02-25"), &raw).unwrap();
            assert_eq!(
                r.consent,
                Some(ConsentStatement {
                    consent: true,
                    date: d("2024-02-22")
                })
            );
            assert!(r.consent_date_substituted);
        }
        let raw = RawRow {
            consent_flag: "",
            consent_date: "junk",
            ..change_row()
        };
        let r = interpret(FileKind::Change, d("2024-02-25"), &raw).unwrap();
        assert_eq!((r.consent, r.consent_date_substituted), (None, false));
    }

    #[test]
    fn missing_event_date_rejects_change_and_enrollment_rows() {
        let raw = RawRow {
            event_date: "2024-02-31",
            ..change_row()
        };
        assert_eq!(
            interpret(FileKind::Change, d("2024-02-25"), &raw),
            Err(RejectReason::InvalidDate)
        );
        let raw = RawRow {
            account: "1",
            event_date: "",
            ..change_row()
        };
        assert_eq!(
            interpret(FileKind::Enrollment, d("2024-02-25"), &raw),
            Err(RejectReason::InvalidDate)
        );
    }

    #[test]
    fn first_reason_in_precedence_order_is_reported() {
        let all_bad = RawRow {
            account: "X",
            phone: "1",
            event_date: "",
            consent_flag: "?",
            delete_flag: "?",
            ..change_row()
        };
        let expect = [
            RejectReason::InvalidAccount,
            RejectReason::InvalidPhone,
            RejectReason::InvalidDate,
            RejectReason::InvalidConsentFlag,
            RejectReason::InvalidDeleteFlag,
        ];
        let mut raw = all_bad;
        for (i, reason) in expect.iter().enumerate() {
            assert_eq!(
                interpret(FileKind::Change, d("2024-02-25"), &raw),
                Err(*reason),
                "step {i}"
            );
            match i {
                0 => raw.account = "1000000000000001P",
                1 => raw.phone = "2125550101",
                2 => raw.event_date = "2024-02-22",
                3 => raw.consent_flag = "",
                _ => {}
            }
        }
        raw.delete_flag = "N";
        assert!(interpret(FileKind::Change, d("2024-02-25"), &raw).is_ok());
    }
}
