//! SEMANTICS §1: why a row or a file is rejected.

use std::fmt;

/// The reason a row or a whole file was rejected. Its code is what `rejects.reason` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    /// The row has the wrong number of fields.
    WrongFieldCount,
    /// The account cannot be normalised.
    InvalidAccount,
    /// The phone cannot be normalised.
    InvalidPhone,
    /// The row's own event date (`record_date`, `enrollment_date`) is missing or invalid.
    InvalidDate,
    /// A consent flag other than empty, `Y` or `N`.
    InvalidConsentFlag,
    /// A soft-delete flag other than `Y` or `N`.
    InvalidDeleteFlag,
    /// The file lacks a column a rule reads (whole file).
    MissingColumn,
    /// The file cannot be read to its end (whole file).
    UnreadableFile,
    /// The file name has no valid kind or date stamp (whole file).
    InvalidFileName,
    /// A file of this name was ingested before with other content (whole file).
    ConflictingRedelivery,
}

impl RejectReason {
    /// Every reason, in SEMANTICS §1 order of precedence for rows, then file reasons.
    pub const ALL: [RejectReason; 10] = [
        Self::WrongFieldCount,
        Self::InvalidAccount,
        Self::InvalidPhone,
        Self::InvalidDate,
        Self::InvalidConsentFlag,
        Self::InvalidDeleteFlag,
        Self::MissingColumn,
        Self::UnreadableFile,
        Self::InvalidFileName,
        Self::ConflictingRedelivery,
    ];

    /// The reason code, e.g. `invalid_phone`.
    pub fn code(self) -> &'static str {
        match self {
            Self::WrongFieldCount => "wrong_field_count",
            Self::InvalidAccount => "invalid_account",
            Self::InvalidPhone => "invalid_phone",
            Self::InvalidDate => "invalid_date",
            Self::InvalidConsentFlag => "invalid_consent_flag",
            Self::InvalidDeleteFlag => "invalid_delete_flag",
            Self::MissingColumn => "missing_column",
            Self::UnreadableFile => "unreadable_file",
            Self::InvalidFileName => "invalid_file_name",
            Self::ConflictingRedelivery => "conflicting_redelivery",
        }
    }

    /// True for reasons that reject a whole file rather than one row.
    pub fn is_file_level(self) -> bool {
        matches!(
            self,
            Self::MissingColumn
                | Self::UnreadableFile
                | Self::InvalidFileName
                | Self::ConflictingRedelivery
        )
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}
