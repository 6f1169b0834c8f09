//! Our generator's ground truth against our gold: no phone that may be texted is denied, and
//! every phone wrongly allowed is one whose deletion or withdrawal no file could show.

use std::collections::HashMap;

use phone_consent_core::{Date, FileKind};

use crate::{Scratch, ok};

#[test]
fn generated_truth_zero_false_denies_and_every_false_permit_unobservable() {
    let feed = Scratch::new("truth-feed");
    ok(&[
        "generate",
        "--out",
        feed.str(),
        "--accounts",
        "3000",
        "--seed",
        "11",
    ]);
    let lake = Scratch::new("truth-lake");
    ok(&["run", feed.str(), "--lake", lake.str()]);

    let mut snapshots: Vec<Date> = Vec::new();
    let mut changes: Vec<Date> = Vec::new();
    for entry in std::fs::read_dir(feed.path().join("MAINTENANCE")).unwrap() {
        let f = phone_consent_feed::name::parse(&entry.unwrap().path()).unwrap();
        match f.kind {
            FileKind::Snapshot => snapshots.push(f.file_date),
            FileKind::Change => changes.push(f.file_date),
            FileKind::Enrollment => unreachable!(),
        }
    }
    // What the files can show of an event on day d.
    let in_a_change_window = |d: Date| changes.iter().any(|f| f.add_days(-7) <= d && d <= *f);
    let snapshot_after = |d: Date| snapshots.iter().any(|s| *s > d);
    let snapshot_on_or_after = |d: Date| snapshots.iter().any(|s| *s >= d);

    let ours: HashMap<(String, String), bool> = ok(&[
        "sql",
        "SELECT account_number, phone_number, can_send_sms FROM phone_state",
        "--lake",
        lake.str(),
        "--format",
        "csv",
    ])
    .lines()
    .skip(1)
    .map(|l| {
        let f: Vec<&str> = l.split(',').collect();
        ((f[0].to_owned(), f[1].to_owned()), f[2] == "true")
    })
    .collect();

    let truth = std::fs::read_to_string(feed.path().join("truth.csv")).unwrap();
    let header = truth.lines().next().unwrap().split(',');
    let col = |name: &str| {
        header
            .clone()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("truth.csv has no {name}"))
    };
    let (acc, ph, del, del_at, wd, may) = (
        col("account_number"),
        col("phone_number"),
        col("deleted"),
        col("deleted_at"),
        col("withdrawn_at"),
        col("may_send"),
    );
    let (mut phones, mut false_denies, mut false_permits, mut unexplained) =
        (0, Vec::new(), 0, Vec::new());
    for line in truth.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        phones += 1;
        let key = (f[acc].to_owned(), f[ph].to_owned());
        let allowed = *ours
            .get(&key)
            .unwrap_or_else(|| panic!("{key:?} missing from gold"));
        let truly = f[may] == "true";
        if truly && !allowed {
            false_denies.push(line.to_owned());
        }
        if !truly && allowed {
            false_permits += 1;
            let date = |i: usize| Date::parse(f[i]);
            let deletion_hidden = match (f[del], date(del_at)) {
                ("hard_delete", Some(d)) => !snapshot_after(d),
                ("soft_delete", Some(d)) => !snapshot_after(d) && !in_a_change_window(d),
                _ => false,
            };
            let withdrawal_hidden =
                date(wd).is_some_and(|w| !snapshot_on_or_after(w) && !in_a_change_window(w));
            if !deletion_hidden && !withdrawal_hidden {
                unexplained.push(line.to_owned());
            }
        }
    }
    eprintln!(
        "truth: {phones} phones, {} false denies, {false_permits} false permits, all unobservable in the files",
        false_denies.len()
    );
    assert!(
        false_denies.is_empty(),
        "phones that may be texted but were denied:\n{}",
        false_denies.join("\n")
    );
    assert!(
        unexplained.is_empty(),
        "wrongly allowed although the files show it:\n{}",
        unexplained.join("\n")
    );
    assert_eq!(ours.len(), phones, "one gold row per true phone");
}
