//! The rules of phone-consent (SEMANTICS.md), pure: keys and normalisation, events, the
//! snapshot calendar, the presence/deletion fold, consent, attributes, the decision.
#![warn(missing_docs)]

pub mod calendar;
pub mod date;
pub mod decision;
pub mod event;
pub mod fold;
pub mod history;
mod intern;
pub mod key;
pub mod normalise;
pub mod reconcile;
pub mod record;
pub mod record_id;
pub mod reject;

pub use calendar::{CalendarEntry, Listing, SnapshotCalendar};
pub use date::Date;
pub use decision::{Decision, Freshness, Reason, can_send_sms, decide, verdict};
pub use event::{Attributes, ConsentStatement, Event, EventKind, Fields, FileName, Provenance};
pub use fold::{DeleteType, Deletion, Evidence, PhoneState, TimelineStep, fold, timeline};
pub use history::{KeyHistory, SnapshotObservation};
pub use key::{Account, Key};
pub use normalise::PhoneNumber;
pub use reconcile::{KeyMap, Reconciler, SnapshotBuilder};
pub use record::{FileKind, RawRow, Record, interpret};
pub use record_id::RecordIdText;
pub use reject::RejectReason;
