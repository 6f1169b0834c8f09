//! Data-quality checks end to end: each fires on a feed damaged on purpose, none fires on a
//! clean generated feed; `report` renders them; `--fail-on` and `--quality-config` work.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{Scratch, bin, ok};

/// check → status, from a run summary or a JSON report.
fn statuses(checks: &Value) -> BTreeMap<String, String> {
    checks
        .as_array()
        .expect("checks array")
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_owned();
            (s("check"), s("status"))
        })
        .collect()
}

fn generate(dir: &Path, accounts: &str, seed: &str) -> PathBuf {
    let feed = dir.join("feed");
    ok(&[
        "generate",
        "--out",
        feed.to_str().unwrap(),
        "--accounts",
        accounts,
        "--seed",
        seed,
    ]);
    feed
}

/// The files of a kind (by the marker in their names), in file-date order.
fn files(feed: &Path, folder: &str, marker: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(feed.join(folder))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(marker))
        .collect();
    v.sort();
    v
}

/// A gzipped file's text, and the file replaced by a plain `.csv` of `edit(text)`.
fn rewrite(path: &Path, edit: impl FnOnce(&str) -> String) {
    let text = phone_consent_feed::decode::decode(path).unwrap();
    std::fs::remove_file(path).unwrap();
    let plain = path.to_string_lossy().trim_end_matches(".gz").to_owned();
    std::fs::write(plain, edit(&text)).unwrap();
}

/// Runs the binary with `--json`: its exit code and summary.
pub(crate) fn run(feed: &Path, lake: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "run",
        feed.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
        "--json",
    ];
    args.extend(extra);
    let out = bin().args(&args).output().unwrap();
    let summary = serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap_or_else(|e| {
        panic!(
            "{args:?}: {e}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), summary)
}

fn fired(statuses: &BTreeMap<String, String>) -> Vec<String> {
    statuses
        .iter()
        .filter(|(_, s)| *s == "warn" || *s == "error")
        .map(|(c, s)| format!("{c}={s}"))
        .collect()
}

#[test]
fn no_check_fires_on_a_clean_generated_feed_and_report_renders_every_format() {
    let dir = Scratch::new("quality-clean");
    let feed = generate(dir.path(), "200", "7");
    let lake = dir.path().join("lake");
    let (code, summary) = run(&feed, &lake, &["--fail-on", "warn"]);
    let s = statuses(&summary["quality"]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(s.len(), 12, "{s:?}");
    assert!(fired(&s).is_empty(), "{:?}", fired(&s));
    assert_eq!(
        s["consent_flips"], "skipped",
        "no earlier gold on a first run"
    );
    let coverage = &summary["coverage"];
    assert_eq!(coverage["feed_date"], "2024-12-22", "{coverage}");
    assert!(
        coverage["uncovered_days"].as_i64().unwrap() <= 7,
        "{coverage}"
    );

    let l = lake.to_str().unwrap();
    let json: Value =
        serde_json::from_str(&ok(&["report", "--lake", l, "--format", "json"])).unwrap();
    assert_eq!(statuses(&json["checks"]), s);
    assert_eq!(json["coverage"], *coverage);
    let text = ok(&["report", "--lake", l, "--run", "1"]);
    assert!(
        text.starts_with("run 1 (full): 410 files applied"),
        "{text}"
    );
    assert!(
        text.contains("uncovered_days") && text.contains("Coverage: newest snapshot 2024-11-24")
    );
    let html = ok(&["report", "--lake", l, "--format", "html"]);
    assert!(html.starts_with("<!doctype html>") && html.ends_with("</html>\n"));
    assert_eq!(
        html.matches("<svg").count(),
        6,
        "three kinds, rejects twice, deletions"
    );
    assert!(
        !html.contains("<script") && !html.contains("http"),
        "self-contained"
    );
    let sql = ok(&[
        "sql",
        "SELECT count(*) AS n, max(checks_warned + checks_failed) AS fired FROM runs",
        "--lake",
        l,
        "--format",
        "csv",
    ]);
    assert_eq!(sql, "n,fired\n1,0\n");
    // `check` carries the feed's coverage under each answer.
    let answer: Value =
        serde_json::from_str(&ok(&["check", "1", "2125550101", "--lake", l, "--json"])).unwrap();
    assert_eq!(answer["reason"], "unknown_phone");
    assert_eq!(
        answer["coverage"]["uncovered_days"],
        coverage["uncovered_days"]
    );
    assert!(
        answer["coverage"]["days_since_newest_snapshot"]
            .as_i64()
            .unwrap()
            > 700
    );
    let text = ok(&["check", "1", "2125550101", "--lake", l]);
    assert!(text.contains("data: newest snapshot 2024-11-24"), "{text}");

    // A second run with nothing new still evaluates and records its checks.
    let (code, again) = run(&feed, &lake, &[]);
    assert_eq!((code, again["mode"].as_str()), (0, Some("unchanged")));
    assert_eq!(statuses(&again["quality"]).len(), 12);
    let out = bin()
        .args(["report", "--lake", l, "--run", "9"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("run 9: the lake's runs are 1 to 2"),
        "{err}"
    );
}

#[test]
fn every_check_fires_on_a_feed_damaged_on_purpose() {
    let dir = Scratch::new("quality-bad");
    let feed = generate(dir.path(), "200", "7");
    let lake = dir.path().join("lake");
    let snapshots = files(&feed, "MAINTENANCE", "-NON-FIN-BDL_");
    let changes = files(&feed, "MAINTENANCE", "-SUPPLFWD-BDL_");
    let enrollments = files(&feed, "ENROLLMENT", "-ENRLMT-");
    let held_back = dir.path().join("held-back");
    std::fs::create_dir_all(&held_back).unwrap();

    // schema_drift: a change file with a column the contract does not know.
    rewrite(&changes[10], |t| {
        t.lines()
            .enumerate()
            .map(|(i, l)| match i {
                0 => format!("{l}|extra_column\n"),
                _ => format!("{l}|x\n"),
            })
            .collect()
    });
    // files_rejected: an enrollment file cut in half.
    let bytes = std::fs::read(&enrollments[5]).unwrap();
    std::fs::write(&enrollments[5], &bytes[..bytes.len() / 2]).unwrap();
    // reject_rate: 100 rows with a phone that is not one.
    rewrite(&changes[20], |t| {
        let mut out = t.to_owned();
        let header = t.lines().next().unwrap();
        let row = t.lines().nth(1).unwrap_or(header);
        let mut fields: Vec<&str> = row.split('|').collect();
        fields[6] = "12";
        for _ in 0..100 {
            out.push_str(&fields.join("|"));
            out.push('\n');
        }
        out
    });
    // duplicate_rate: a snapshot whose rows all come twice.
    rewrite(&snapshots[30], |t| {
        let rows: String = t.lines().skip(1).map(|l| format!("{l}\n")).collect();
        format!("{t}{rows}")
    });
    // snapshot_deletions: a snapshot listing only half its phones.
    rewrite(&snapshots[40], |t| {
        let n = t.lines().count();
        t.lines().take(n / 2).map(|l| format!("{l}\n")).collect()
    });
    // pii_values: a row's SSN in its phone-type column.
    let mut ssn = String::new();
    rewrite(&changes[50], |t| {
        let mut lines: Vec<String> = t.lines().map(str::to_owned).collect();
        let mut f: Vec<String> = lines[1].split('|').map(str::to_owned).collect();
        f[7] = f[3].clone();
        ssn = f[3].clone();
        lines[1] = f.join("|");
        lines.iter().map(|l| format!("{l}\n")).collect()
    });
    // phones_on_many_accounts: one phone enrolled on seven accounts.
    let header = phone_consent_feed::decode::decode(&enrollments[0]).unwrap();
    let header = header.lines().next().unwrap();
    let mut shared_phone = format!("{header}\n");
    for i in 0..7 {
        shared_phone.push_str(&format!(
            "900000000000000{i}|900000000000000{i}P|AGN000001|123456789|Ann|Lee|2125550199|CELL|WIRELESS|ACTIVE|CLIENT|50|2020-06-15\n"
        ));
    }
    std::fs::write(
        feed.join(
            "ENROLLMENT/IC_A2RGMRHG_DMENRL_DataManager-20200615000000123-ENRLMT-EXPORT_000.csv",
        ),
        shared_phone,
    )
    .unwrap();
    // cadence_gap and late_files: two change files missing (one arrives late, in run 2).
    std::fs::remove_file(&changes[100]).unwrap();
    let late = held_back.join(changes[101].file_name().unwrap());
    std::fs::rename(&changes[101], &late).unwrap();
    // snapshot_age and uncovered_days: the last three snapshots and every change file
    // after the newest remaining one missing, but for the very last.
    for s in &snapshots[57..] {
        std::fs::remove_file(s).unwrap();
    }
    let newest_snapshot = crate::incremental::file_date(&snapshots[56]);
    for c in &changes[..changes.len() - 1] {
        if crate::incremental::file_date(c) > newest_snapshot && c.exists() {
            std::fs::remove_file(c).unwrap();
        }
    }

    let (code, summary) = run(&feed, &lake, &["--fail-on", "error"]);
    assert_eq!(
        code, 2,
        "--fail-on error: exit code 2 when an error check fires"
    );
    let s = statuses(&summary["quality"]);
    let expect = [
        ("schema_drift", "warn"),
        ("files_rejected", "error"),
        ("reject_rate", "error"),
        ("duplicate_rate", "warn"),
        ("snapshot_deletions", "error"),
        ("cadence_gap", "warn"),
        ("phones_on_many_accounts", "warn"),
        ("pii_values", "error"),
        ("snapshot_age", "warn"),
        ("uncovered_days", "warn"),
    ];
    for (check, status) in expect {
        assert_eq!(s[check], status, "{check}: {}", summary["quality"]);
    }
    let detail = |check: &str| {
        summary["quality"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == check)
            .unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(detail("pii_values").contains("in cnsmr_phn_typ_val_txt"));
    assert!(
        ssn.len() == 9 && !detail("pii_values").contains(&ssn),
        "names no value"
    );
    assert!(detail("snapshot_deletions").contains(&crate::incremental::file_date(&snapshots[40])));
    // The run completed and was recorded although it exits 2.
    let l = lake.to_str().unwrap();
    let report: Value =
        serde_json::from_str(&ok(&["report", "--lake", l, "--format", "json"])).unwrap();
    assert_eq!(statuses(&report["checks"]), s);

    // Run 2: the late change file, and a new one withdrawing consent on many keys.
    std::fs::rename(&late, &changes[101]).unwrap();
    let last = phone_consent_feed::decode::decode(&snapshots[56]).unwrap();
    let mut header = last.lines().next().unwrap().to_owned();
    header.push_str("|cnsmr_phn_sft_dlt_flg|record_date\n");
    let mut withdrawals = header;
    for row in last.lines().skip(1).step_by(3) {
        let mut f: Vec<&str> = row.split('|').collect();
        f[12] = "N";
        f[13] = "2024-12-29";
        withdrawals.push_str(&format!("{}|N|2024-12-29\n", f.join("|")));
    }
    std::fs::write(
        feed.join(
            "MAINTENANCE/SN_SVC_DMBDL_DataManager-20241230000000001-SUPPLFWD-BDL_EXPORT_001.csv",
        ),
        withdrawals,
    )
    .unwrap();
    let (code, second) = run(&feed, &lake, &[]);
    assert_eq!(code, 0, "without --fail-on a run that completes exits 0");
    let s2 = statuses(&second["quality"]);
    assert_eq!(s2["late_files"], "warn", "{}", second["quality"]);
    assert_eq!(s2["consent_flips"], "warn", "{}", second["quality"]);
    // Run 2 re-folded only the keys its files touched and counted the flips itself: the
    // same count as a join of the two gold versions.
    assert_eq!(second["mode"], "incremental");
    let flips = second["quality"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "consent_flips")
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    let joined = gold_versions_join(&lake, second["gold_version"].as_i64().unwrap());
    assert!(flips.starts_with(&joined), "{flips} vs the join's {joined}");
    // Checks judge this run's files only: run 1's damage does not fire again.
    for check in [
        "schema_drift",
        "reject_rate",
        "pii_values",
        "snapshot_deletions",
    ] {
        assert_ne!(s2[check], "error", "{check}");
        assert_ne!(s2[check], "warn", "{check}");
    }
}

#[test]
fn a_quality_config_overrides_thresholds_and_a_bad_one_is_a_clear_error() {
    let dir = Scratch::new("quality-config");
    let feed = generate(dir.path(), "30", "3");
    let lake = dir.path().join("lake");
    let config = dir.path().join("q.toml");
    // Any snapshot older than its newest file by a day: fires.
    std::fs::write(
        &config,
        "[snapshot_age]\nseverity = \"error\"\nthreshold = 1\n",
    )
    .unwrap();
    let (code, summary) = run(
        &feed,
        &lake,
        &[
            "--quality-config",
            config.to_str().unwrap(),
            "--fail-on",
            "error",
        ],
    );
    assert_eq!(code, 2);
    assert_eq!(statuses(&summary["quality"])["snapshot_age"], "error");

    std::fs::write(
        &config,
        "[snapshot_age]\nseverity = \"fatal\"\nthreshold = 1\n",
    )
    .unwrap();
    let out = bin()
        .args([
            "run",
            feed.to_str().unwrap(),
            "--lake",
            lake.to_str().unwrap(),
            "--quality-config",
            config.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("q.toml") && err.contains("fatal"), "{err}");

    // The defaults printed are the defaults used, and parse as a config.
    let defaults = ok(&["report", "--default-config"]);
    std::fs::write(&config, &defaults).unwrap();
    let (code, _) = run(
        &feed,
        &lake,
        &["--quality-config", config.to_str().unwrap()],
    );
    assert_eq!(code, 0);
    assert!(defaults.contains("[uncovered_days]"));
}

/// "F of K keys": gold's keys in both `version` and the one before it, and how many changed
/// `has_sms_consent`, by a SQL join of the two versions.
fn gold_versions_join(lake: &Path, version: i64) -> String {
    use phone_consent_lake::arrow::array::AsArray;
    use phone_consent_lake::arrow::datatypes::Int64Type;
    use phone_consent_lake::delta;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let gold = lake.join("gold/phone_consent");
        let ctx = delta::empty_context();
        delta::register_table(&ctx, "now", &gold, Some(version))
            .await
            .unwrap();
        delta::register_table(&ctx, "before", &gold, Some(version - 1))
            .await
            .unwrap();
        let b = delta::query(
            &ctx,
            "SELECT count(*) AS keys, count(CASE WHEN b.has_sms_consent IS DISTINCT FROM \
             n.has_sms_consent THEN 1 END) AS flipped FROM before b JOIN now n \
             ON b.account_number = n.account_number AND b.phone_number = n.phone_number",
        )
        .await
        .unwrap();
        let value = |c: usize| b[0].column(c).as_primitive::<Int64Type>().value(0);
        format!("{} of {} keys", value(1), value(0))
    })
}
