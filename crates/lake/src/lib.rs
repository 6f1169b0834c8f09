//! The lake: Delta tables for bronze, silver and gold, the pipeline that fills them, and the
//! reads that answer checks and SQL.
#![warn(missing_docs)]

pub mod audit_trail;
pub mod bronze;
pub mod delta;
pub mod history;
pub mod ingest;
pub mod ledger;
pub mod pii;
pub mod publish;
pub mod quality;
pub mod rebuild;
pub mod remote_feed;
pub mod runs;
pub mod schema;
pub mod served;
pub mod store;

use std::path::{Path, PathBuf};

pub use deltalake::arrow;
pub use history::{
    CheckAnswer, HistoryAnswer, SilverVersions, check, check_at, check_gold_version, gold_as_of,
    history, history_at,
};
pub use ingest::{Progress, Quiet, RunMode, RunOptions, RunSummary, run};

/// Errors that stop a lake operation (bad feed data is never one: it is rejected).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Delta table could not be read or written.
    #[error(transparent)]
    Delta(#[from] delta::LakeError),
    /// The feed could not be listed.
    #[error(transparent)]
    Feed(#[from] phone_consent_feed::FeedError),
    /// A file or folder could not be accessed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Something held in the lake is not what it must be.
    #[error("{what}: {why}")]
    Invalid {
        /// What was wrong.
        what: String,
        /// Why.
        why: String,
    },
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Today's date (UTC), for the data-age policy.
pub fn today() -> phone_consent_core::Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    phone_consent_core::Date::from_days((secs / 86_400) as i32)
}

/// `Result` of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
