//! Finding the feed files under a data root's `ENROLLMENT/` and `MAINTENANCE/` folders.

use std::path::{Path, PathBuf};

use crate::name::{self, FeedFile, NameProblem};
use crate::{FeedError, Result};

/// The feed folders of a data root (matched case-insensitively).
pub const FEED_FOLDERS: [&str; 2] = ["ENROLLMENT", "MAINTENANCE"];

/// Every file found: those whose names parsed, sorted by (file date, kind, name), and those
/// whose names did not (each to be rejected whole as `invalid_file_name`).
#[derive(Debug, Default)]
pub struct Discovery {
    /// Files with a valid kind and stamp.
    pub files: Vec<FeedFile>,
    /// Files whose names did not parse, with why.
    pub bad_names: Vec<(PathBuf, NameProblem)>,
}

/// Finds every file under `root/ENROLLMENT` and `root/MAINTENANCE`, recursively. Files
/// elsewhere in the root (e.g. a README) are not part of the feed. Errors when neither
/// folder exists or a folder cannot be listed.
pub fn discover(root: &Path) -> Result<Discovery> {
    let entries = std::fs::read_dir(root).map_err(|e| FeedError::io(root, e))?;
    let mut folders = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| FeedError::io(root, e))?;
        let name = entry.file_name().to_string_lossy().to_uppercase();
        if FEED_FOLDERS.contains(&name.as_str()) && entry.path().is_dir() {
            folders.push(entry.path());
        }
    }
    if folders.is_empty() {
        return Err(FeedError::NoFeedFolders(root.to_owned()));
    }
    let mut found = Discovery::default();
    let mut paths = Vec::new();
    for folder in folders {
        walk(&folder, &mut paths)?;
    }
    paths.sort();
    for path in paths {
        match name::parse(&path) {
            Ok(f) => found.files.push(f),
            Err(problem) => found.bad_names.push((path, problem)),
        }
    }
    found
        .files
        .sort_by(|a, b| (a.file_date, a.kind, &a.name).cmp(&(b.file_date, b.kind, &b.name)));
    Ok(found)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| FeedError::io(dir, e))? {
        let entry = entry.map_err(|e| FeedError::io(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| FeedError::io(&path, e))?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
