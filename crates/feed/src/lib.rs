//! Reading the client's feed — file names, discovery, decoding, header contracts, rows and
//! rejects — and writing one like it (`generate`).
#![warn(missing_docs)]

pub mod contract;
pub mod decode;
pub mod discover;
pub mod generate;
mod gunzip;
pub mod name;
mod pii_screen;
pub mod reader;

use std::path::{Path, PathBuf};

pub use discover::{Discovery, discover};
pub use name::FeedFile;
pub use reader::{
    Dedup, FileReject, FileStats, RowSink, interpret_canonical, line_count, read_text,
};

/// Errors that stop reading the feed (bad input data is never one: it is rejected).
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A file or folder could not be accessed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The data root has neither feed folder.
    #[error("{0}: no ENROLLMENT/ or MAINTENANCE/ folder: is this a feed's data root?")]
    NoFeedFolders(PathBuf),
}

impl FeedError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        FeedError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// `Result` of this crate.
pub type Result<T, E = FeedError> = std::result::Result<T, E>;
