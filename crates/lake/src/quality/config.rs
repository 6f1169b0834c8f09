//! The checks' severities and thresholds: `defaults.toml`, overridden per check by a file.

use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

/// The documented defaults (`phone-consent report --default-config` prints them).
pub const DEFAULTS: &str = include_str!("defaults.toml");

/// How a check that fires is reported.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Not evaluated.
    Off,
    /// Reported.
    Warn,
    /// Reported; `run --fail-on error` exits non-zero.
    Error,
}

impl Severity {
    /// `off`, `warn` or `error`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// The severity of a code.
    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Off, Self::Warn, Self::Error]
            .into_iter()
            .find(|s| s.code() == code)
    }
}

/// A check's severity and threshold: it fires when its measure exceeds the threshold.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// How it reports when it fires.
    pub severity: Severity,
    /// The largest measure that passes.
    pub threshold: f64,
}

/// `snapshot_deletions`: a rule and how the usual share of dropped phones is taken.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SnapshotDeletionsRule {
    /// How it reports when it fires.
    pub severity: Severity,
    /// The largest ratio of a snapshot's share to the usual share that passes.
    pub threshold: f64,
    /// How many earlier snapshots the usual share is the median of.
    pub baseline_snapshots: usize,
    /// The smallest usual share (so that a quiet history does not make any drop unusual).
    pub baseline_floor: f64,
}

/// Every check's rule. A file may give any subset of the checks; the rest keep their defaults.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Files with unknown columns or lacking optional ones.
    pub schema_drift: Rule,
    /// Files rejected whole or refused.
    pub files_rejected: Rule,
    /// Rejected rows ÷ rows read.
    pub reject_rate: Rule,
    /// Duplicate rows ÷ rows read.
    pub duplicate_rate: Rule,
    /// A snapshot's dropped share ÷ the usual share.
    pub snapshot_deletions: SnapshotDeletionsRule,
    /// The longest gap next to a new file ÷ its kind's median gap.
    pub cadence_gap: Rule,
    /// Files dated before the newest applied of their kind.
    pub late_files: Rule,
    /// Keys whose consent changed ÷ keys in both golds.
    pub consent_flips: Rule,
    /// The most accounts one phone is on.
    pub phones_on_many_accounts: Rule,
    /// Rows with PII-looking values outside the PII columns.
    pub pii_values: Rule,
    /// Days from the newest snapshot to the newest file.
    pub snapshot_age: Rule,
    /// Days after the newest snapshot no change file covers.
    pub uncovered_days: Rule,
}

/// A file's checks, each optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Overrides {
    schema_drift: Option<Rule>,
    files_rejected: Option<Rule>,
    reject_rate: Option<Rule>,
    duplicate_rate: Option<Rule>,
    snapshot_deletions: Option<SnapshotDeletionsRule>,
    cadence_gap: Option<Rule>,
    late_files: Option<Rule>,
    consent_flips: Option<Rule>,
    phones_on_many_accounts: Option<Rule>,
    pii_values: Option<Rule>,
    snapshot_age: Option<Rule>,
    uncovered_days: Option<Rule>,
}

impl Default for Config {
    fn default() -> Self {
        toml::from_str(DEFAULTS).expect("defaults.toml gives every check")
    }
}

impl Config {
    /// The defaults with a TOML text's checks in their place; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let o: Overrides = toml::from_str(text).map_err(|e| Error::Invalid {
            what: origin.to_owned(),
            why: e.to_string(),
        })?;
        let d = Config::default();
        Ok(Config {
            schema_drift: o.schema_drift.unwrap_or(d.schema_drift),
            files_rejected: o.files_rejected.unwrap_or(d.files_rejected),
            reject_rate: o.reject_rate.unwrap_or(d.reject_rate),
            duplicate_rate: o.duplicate_rate.unwrap_or(d.duplicate_rate),
            snapshot_deletions: o.snapshot_deletions.unwrap_or(d.snapshot_deletions),
            cadence_gap: o.cadence_gap.unwrap_or(d.cadence_gap),
            late_files: o.late_files.unwrap_or(d.late_files),
            consent_flips: o.consent_flips.unwrap_or(d.consent_flips),
            phones_on_many_accounts: o
                .phones_on_many_accounts
                .unwrap_or(d.phones_on_many_accounts),
            pii_values: o.pii_values.unwrap_or(d.pii_values),
            snapshot_age: o.snapshot_age.unwrap_or(d.snapshot_age),
            uncovered_days: o.uncovered_days.unwrap_or(d.uncovered_days),
        })
    }

    /// The file given, else `quality.toml` at the lake's root when there is one, else the
    /// defaults.
    pub fn load(file: Option<&Path>, lake: &Path) -> Result<Self> {
        let in_lake = lake.join("quality.toml");
        let path = match file {
            Some(f) => f.to_owned(),
            None if in_lake.is_file() => in_lake,
            None => return Ok(Config::default()),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Self::parse(&text, &path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_parse_and_give_every_check() {
        let d = Config::default();
        assert_eq!(Config::parse(DEFAULTS, "defaults").unwrap(), d);
        assert_eq!(d.reject_rate.severity, Severity::Error);
        assert_eq!(d.uncovered_days.threshold, 7.0);
    }

    #[test]
    fn a_file_overrides_only_the_checks_it_gives() {
        let c = Config::parse(
            "[reject_rate]\nseverity = \"warn\"\nthreshold = 0.05\n",
            "q.toml",
        )
        .unwrap();
        assert_eq!(c.reject_rate.severity, Severity::Warn);
        assert_eq!(c.reject_rate.threshold, 0.05);
        assert_eq!(c.duplicate_rate, Config::default().duplicate_rate);
    }

    #[test]
    fn unknown_checks_fields_and_severities_are_errors_naming_the_file() {
        for text in [
            "[reject_rates]\nseverity = \"warn\"\nthreshold = 1\n",
            "[reject_rate]\nseverity = \"warn\"\nthreshold = 1\nlimit = 2\n",
            "[reject_rate]\nseverity = \"fatal\"\nthreshold = 1\n",
            "[reject_rate]\nthreshold = 1\n",
        ] {
            let e = Config::parse(text, "q.toml").unwrap_err().to_string();
            assert!(e.starts_with("q.toml: "), "{e}");
        }
    }
}
