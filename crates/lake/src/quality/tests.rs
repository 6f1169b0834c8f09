use super::*;
use crate::ledger::LedgerEntry;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn entry(name: &str, kind: FileKind, date: &str, run_id: i64) -> LedgerEntry {
    LedgerEntry {
        file: name.into(),
        kind: Some(kind),
        file_date: Some(d(date)),
        size: 1,
        modified_ms: 0,
        sha256: String::new(),
        status: FileStatus::Applied,
        reason: None,
        rows: [0; 4],
        run_id,
        applied_at_us: 0,
        replaced: false,
    }
}

fn read(name: &str, kind: FileKind, date: &str) -> FileOutcome {
    FileOutcome {
        name: name.into(),
        kind: Some(kind),
        file_date: Some(d(date)),
        result: Ok(FileStats::default()),
    }
}

fn pairs(files: &[FileOutcome]) -> Vec<(&FileOutcome, &FileStats)> {
    files
        .iter()
        .filter_map(|f| f.result.as_ref().ok().map(|s| (f, s)))
        .collect()
}

const WARN: Rule = Rule {
    severity: Severity::Warn,
    threshold: 1.5,
};

#[test]
fn a_check_fires_only_above_its_threshold_at_its_severity() {
    let error = Rule {
        severity: Severity::Error,
        ..WARN
    };
    let off = Rule {
        severity: Severity::Off,
        ..WARN
    };
    let status = |rule, v| Finding::judge("c", rule, v, String::new()).status;
    assert_eq!(status(WARN, Some(1.5)), Status::Pass);
    assert_eq!(status(WARN, Some(1.6)), Status::Warn);
    assert_eq!(status(error, Some(1.6)), Status::Error);
    assert_eq!(status(error, None), Status::Skipped);
    assert_eq!(status(off, Some(9.0)), Status::Off);
    assert!(Status::Warn.fired() && !Status::Pass.fired());
}

#[test]
fn coverage_counts_days_after_the_snapshot_that_no_change_window_covers() {
    let mut ledger = Ledger::default();
    ledger.record(entry("s", FileKind::Snapshot, "2024-01-01", 1));
    // Windows [F-7, F]: 01-03..01-10 and 01-12..01-19; 01-02 and 01-11 are uncovered.
    ledger.record(entry("c1", FileKind::Change, "2024-01-10", 1));
    ledger.record(entry("c2", FileKind::Change, "2024-01-19", 1));
    let c = Coverage::of(&ledger, Some(d("2024-01-01")));
    assert_eq!(c.feed_date, Some(d("2024-01-19")));
    assert_eq!(c.snapshot_age_days, Some(18));
    assert_eq!(c.uncovered_days, Some(2));
    // A change file that arrives on time covers everything since the snapshot.
    ledger.record(entry("c0", FileKind::Change, "2024-01-02", 2));
    ledger.record(entry("c1b", FileKind::Change, "2024-01-11", 2));
    assert_eq!(
        Coverage::of(&ledger, Some(d("2024-01-01"))).uncovered_days,
        Some(0)
    );
    assert_eq!(Coverage::of(&Ledger::default(), None), Coverage::default());
}

#[test]
fn a_gap_in_a_kinds_cadence_next_to_a_new_file_fires() {
    let mut ledger = Ledger::default();
    for (i, date) in ["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"]
        .iter()
        .enumerate()
    {
        ledger.record(entry(&format!("c{i}"), FileKind::Change, date, 1));
    }
    ledger.record(entry("late", FileKind::Change, "2024-02-12", 2));
    let new = [read("late", FileKind::Change, "2024-02-12")];
    let f = cadence_gap(WARN, &ledger, &pairs(&new));
    assert_eq!(f.status, Status::Warn, "{f:?}");
    assert_eq!(f.value, Some(3.0));
    assert!(
        f.detail.contains("21 days from 2024-01-22 to 2024-02-12"),
        "{}",
        f.detail
    );
    // The same history, judged for a file on time, passes; too few gaps is skipped.
    let on_time = [read("c1", FileKind::Change, "2024-01-08")];
    assert_eq!(
        cadence_gap(WARN, &ledger, &pairs(&on_time)).status,
        Status::Pass
    );
    let mut short = Ledger::default();
    short.record(entry("c0", FileKind::Change, "2024-01-01", 1));
    short.record(entry("c1", FileKind::Change, "2024-03-01", 1));
    let f = cadence_gap(WARN, &short, &pairs(&on_time));
    assert_eq!(f.status, Status::Skipped);
}

#[test]
fn a_file_older_than_the_newest_applied_of_its_kind_is_late() {
    let mut ledger = Ledger::default();
    ledger.record(entry("c9", FileKind::Change, "2024-03-01", 1));
    ledger.record(entry("e9", FileKind::Enrollment, "2024-03-01", 1));
    ledger.record(entry("c1", FileKind::Change, "2024-02-01", 2));
    ledger.record(entry("s1", FileKind::Snapshot, "2024-02-01", 2));
    let files = [
        read("c1", FileKind::Change, "2024-02-01"),
        read("s1", FileKind::Snapshot, "2024-02-01"),
    ];
    let rejects = BTreeMap::new();
    let facts = RunFacts {
        gold_profile: None,
        run_id: 2,
        files: &files,
        refused: &[],
        rejects: &rejects,
        ledger: &ledger,
        coverage: Coverage::default(),
        previous_gold: None,
        gold: None,
    };
    let rule = Rule {
        severity: Severity::Warn,
        threshold: 0.0,
    };
    let f = late_files(rule, &facts, &pairs(&files));
    assert_eq!((f.status, f.value), (Status::Warn, Some(1.0)));
    assert!(
        f.detail.starts_with("1 file(s): c1 (dated 2024-02-01"),
        "{}",
        f.detail
    );
}

#[test]
fn file_checks_name_files_and_counts_never_values() {
    let mut drifted = read("e1", FileKind::Enrollment, "2024-01-01");
    let mut leaky = read("c1", FileKind::Change, "2024-01-02");
    if let Ok(s) = &mut drifted.result {
        s.unknown_columns = vec!["middle_name".into()];
        s.rows_read = 100;
        s.rejected = 3;
    }
    if let Ok(s) = &mut leaky.result {
        s.rows_read = 100;
        s.duplicates = 1;
        s.pii_suspects = 2;
        s.pii_suspect_columns = vec!["cnsmr_phn_typ_val_txt"];
        s.first_pii_suspect_line = Some(7);
    }
    let broken = FileOutcome {
        result: Err(FileReject {
            reason: RejectReason::UnreadableFile,
            detail: "truncated gzip".into(),
        }),
        ..read("s1", FileKind::Snapshot, "2024-01-03")
    };
    let files = [drifted, leaky, broken];
    let zero = |severity| Rule {
        severity,
        threshold: 0.0,
    };
    let f = schema_drift(zero(Severity::Warn), &pairs(&files));
    assert_eq!(f.status, Status::Warn);
    assert_eq!(f.detail, "1 file(s): e1: unknown column(s) middle_name");
    let f = pii_values(zero(Severity::Error), &pairs(&files));
    assert_eq!((f.status, f.value), (Status::Error, Some(2.0)));
    assert_eq!(
        f.detail,
        "2 row(s): c1: 2 row(s), first at line 7, in cnsmr_phn_typ_val_txt"
    );
    let rejects = BTreeMap::from([(RejectReason::InvalidPhone, 3)]);
    let [rejected, duplicates] = row_rates(&Config::default(), &pairs(&files), &rejects);
    assert_eq!(rejected.value, Some(0.015));
    assert_eq!(rejected.status, Status::Error);
    assert!(
        rejected
            .detail
            .starts_with("3 of 200 rows rejected (invalid_phone 3); most in e1")
    );
    assert_eq!(duplicates.value, Some(0.005));
    let ledger = Ledger::default();
    let refused = [("e0".to_owned(), "why".to_owned())];
    let facts = RunFacts {
        gold_profile: None,
        run_id: 1,
        files: &files,
        refused: &refused,
        rejects: &rejects,
        ledger: &ledger,
        coverage: Coverage::default(),
        previous_gold: None,
        gold: None,
    };
    let f = files_rejected(Config::default().files_rejected, &facts);
    assert_eq!(f.value, Some(2.0));
    assert_eq!(
        f.detail,
        "2 file(s): s1 (unreadable_file: truncated gzip); e0 (conflicting_redelivery)"
    );
}

#[test]
fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
    assert_eq!(median(vec![3.0, 1.0, 2.0, 10.0]), Some(2.5));
    assert_eq!(median(vec![]), None);
}
