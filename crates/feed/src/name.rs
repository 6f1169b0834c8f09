//! SPEC "Inputs": a file's kind and date come from its name.

use std::path::{Path, PathBuf};

use phone_consent_core::{Date, FileKind};

/// A feed file whose name parsed: its kind and file date.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeedFile {
    /// The file date: the first 8 digits of the stamp (a NON-FIN file's snapshot date).
    pub file_date: Date,
    /// The kind, from the name's marker.
    pub kind: FileKind,
    /// The file name, no directory.
    pub name: String,
    /// The full 17-digit stamp after `DataManager-`.
    pub stamp: String,
    /// Where the file is.
    pub path: PathBuf,
}

/// Why a name did not parse (reported with `invalid_file_name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameProblem {
    /// None of `-NON-FIN-BDL_`, `-SUPPLFWD-BDL_`, `-ENRLMT-` is in the name.
    UnknownKind,
    /// No `DataManager-` followed by 17 digits forming a valid date.
    BadStamp,
}

impl std::fmt::Display for NameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::UnknownKind => {
                "the name contains none of -NON-FIN-BDL_, -SUPPLFWD-BDL_, -ENRLMT-"
            }
            Self::BadStamp => {
                "the name has no DataManager-<17 digits> stamp with a valid yyyyMMdd date"
            }
        })
    }
}

/// The kind a file name declares, if any.
pub fn kind_of(name: &str) -> Option<FileKind> {
    if name.contains("-NON-FIN-BDL_") {
        Some(FileKind::Snapshot)
    } else if name.contains("-SUPPLFWD-BDL_") {
        Some(FileKind::Change)
    } else if name.contains("-ENRLMT-") {
        Some(FileKind::Enrollment)
    } else {
        None
    }
}

/// Parses a feed file's name: kind from its marker, file date from the 17-digit stamp
/// after `DataManager-`.
pub fn parse(path: &Path) -> Result<FeedFile, NameProblem> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kind = kind_of(&name).ok_or(NameProblem::UnknownKind)?;
    let after = name
        .split_once("DataManager-")
        .map(|(_, rest)| rest)
        .ok_or(NameProblem::BadStamp)?;
    let stamp = after
        .get(..17)
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()));
    let stamp = stamp
        .filter(|_| !after[17..].starts_with(|c: char| c.is_ascii_digit()))
        .ok_or(NameProblem::BadStamp)?;
    let file_date = Date::parse_compact(&stamp[..8]).ok_or(NameProblem::BadStamp)?;
    Ok(FeedFile {
        file_date,
        kind,
        stamp: stamp.to_owned(),
        name,
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_names_parse() {
        let f = parse(Path::new(
            "x/SN_SVC_DMBDL_DataManager-20190206000000539-NON-FIN-BDL_EXPORT_001.csv.gz",
        ))
        .unwrap();
        assert_eq!(
            (f.kind, f.file_date.to_string()),
            (FileKind::Snapshot, "2019-02-06".into())
        );
        assert_eq!(f.stamp, "20190206000000539");
        let f = parse(Path::new(
            "IC_A2RGMRHG_DMENRL_DataManager-20190101000000863-ENRLMT-EXPORT_000.csv",
        ))
        .unwrap();
        assert_eq!(f.kind, FileKind::Enrollment);
        let f = parse(Path::new(
            "SN_SVC_DMBDL_DataManager-20190109000000377-SUPPLFWD-BDL_EXPORT_001.csv.gz",
        ))
        .unwrap();
        assert_eq!(f.kind, FileKind::Change);
    }

    #[test]
    fn bad_names_say_why() {
        assert_eq!(parse(Path::new("notes.txt")), Err(NameProblem::UnknownKind));
        for bad in [
            "SN_SVC_DMBDL-20190206000000539-NON-FIN-BDL_EXPORT_001.csv.gz",
            "SN_SVC_DMBDL_DataManager-2019020600000053-NON-FIN-BDL_EXPORT_001.csv.gz",
            "SN_SVC_DMBDL_DataManager-201902060000005391-NON-FIN-BDL_EXPORT_001.csv.gz",
            "SN_SVC_DMBDL_DataManager-20190230000000539-NON-FIN-BDL_EXPORT_001.csv.gz",
        ] {
            assert_eq!(parse(Path::new(bad)), Err(NameProblem::BadStamp), "{bad}");
        }
    }
}
