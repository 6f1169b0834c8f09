//! SEMANTICS conformance: each scenario folder runs through the real binary and its gold,
//! rejects and as-of gold must equal the expected files exactly.

use crate::{Scratch, fixtures, normalise, ok};

fn scenario(name: &str) {
    let dir = fixtures().join(name);
    let data = dir.to_str().unwrap();
    let lake = Scratch::new(name);
    ok(&["run", data, "--lake", lake.str()]);

    let gold = ok(&["gold", "--lake", lake.str(), "--format", "csv"]);
    let expected = std::fs::read_to_string(dir.join("expected.csv")).unwrap();
    assert_eq!(
        normalise(&gold),
        normalise(&expected),
        "{name}: gold differs"
    );

    // The published gold table itself (not only the fold from silver) says the same.
    let published = ok(&[
        "sql",
        "SELECT * FROM phone_consent ORDER BY account_number, phone_number",
        "--lake",
        lake.str(),
        "--format",
        "csv",
    ]);
    assert_eq!(
        normalise(&published),
        normalise(&expected),
        "{name}: published gold differs"
    );

    let rejects = ok(&[
        "sql",
        "SELECT file, line, reason FROM rejects",
        "--lake",
        lake.str(),
        "--format",
        "csv",
    ]);
    let mut got: Vec<String> = rejects
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            if f[1].is_empty() {
                format!("{} {}", f[0], f[2])
            } else {
                format!("{}:{} {}", f[0], f[1], f[2])
            }
        })
        .collect();
    got.sort();
    let mut want: Vec<String> = std::fs::read_to_string(dir.join("expected-rejects.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    want.sort();
    assert_eq!(got, want, "{name}: rejects differ");

    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(date) = file
            .strip_prefix("expected-as-of-")
            .and_then(|f| f.strip_suffix(".csv"))
        {
            let gold = ok(&[
                "gold",
                "--lake",
                lake.str(),
                "--format",
                "csv",
                "--as-of",
                date,
            ]);
            let expected = std::fs::read_to_string(dir.join(&file)).unwrap();
            assert_eq!(
                normalise(&gold),
                normalise(&expected),
                "{name}: gold as of {date} differs"
            );
        }
    }
}

macro_rules! scenarios {
    ($($test:ident => $dir:literal,)*) => {
        $(#[test] fn $test() { scenario($dir); })*

        #[test]
        fn every_fixture_folder_has_a_test() {
            let mut listed = vec![$($dir),*];
            listed.sort();
            let mut found: Vec<String> = std::fs::read_dir(fixtures()).unwrap()
                .map(|e| e.unwrap())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            found.sort();
            assert_eq!(found, listed);
        }
    };
}

scenarios! {
    s01_same_phone_two_accounts => "01-same-phone-two-accounts",
    s02_hard_delete => "02-hard-delete",
    s03_readd_after_hard_delete => "03-readd-after-hard-delete",
    s04_soft_delete_then_missing => "04-soft-delete-then-missing",
    s05_soft_delete_after_last_snapshot => "05-soft-delete-after-last-snapshot",
    s06_change_does_not_readd_hard_deleted => "06-change-does-not-readd-hard-deleted",
    s07_change_does_not_readd_soft_deleted => "07-change-does-not-readd-soft-deleted",
    s08_readd_by_snapshot_after_soft_delete => "08-readd-by-snapshot-after-soft-delete",
    s09_withdrawal_after_last_snapshot => "09-withdrawal-after-last-snapshot",
    s10_stale_yes_never_overrides_withdrawal => "10-stale-yes-never-overrides-withdrawal",
    s11_empty_flag_does_not_erase => "11-empty-flag-does-not-erase",
    s12_implicit_consent => "12-implicit-consent",
    s13_supplfwd_wins_same_date => "13-supplfwd-wins-same-date",
    s14_consent_tie_no_wins => "14-consent-tie-no-wins",
    s15_duplicate_rows => "15-duplicate-rows",
    s16_enrollment_only => "16-enrollment-only",
    s17_damaged_snapshot_deletes_nothing => "17-damaged-snapshot-deletes-nothing",
    s18_phone_formats_and_bad_rows => "18-phone-formats-and-bad-rows",
    s19_two_consumers_one_account => "19-two-consumers-one-account",
}
