//! Incremental runs (SEMANTICS §6, §9): the ingest ledger skips applied files and refuses
//! changed re-deliveries; late files, out-of-order snapshots and any split of a feed into
//! runs give the same lake as one full run.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use phone_consent_lake::arrow::array::RecordBatch;
use phone_consent_lake::arrow::util::display::{ArrayFormatter, FormatOptions};
use phone_consent_lake::{Quiet, RunOptions, delta};
use proptest::prelude::*;

use crate::{Scratch, bin, ok, shared};

/// The queries whose results must not depend on how the feed was split into runs (the
/// audit trail's `run_id` does, by design).
const TABLES: [&str; 5] = [
    "SELECT * FROM phone_consent ORDER BY account_number, phone_number",
    "SELECT * FROM phone_state ORDER BY account_number, phone_number",
    "SELECT * FROM change_after_delete \
     ORDER BY account_number, phone_number, event_date, source_file, line",
    "SELECT * FROM snapshots ORDER BY snapshot_date",
    "SELECT * EXCEPT (run_id) FROM phone_events \
     ORDER BY account_number, phone_number, event_date, event, source_file, line",
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Every feed file of a data root, relative to it, sorted.
fn feed_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for folder in ["ENROLLMENT", "MAINTENANCE"] {
        for entry in std::fs::read_dir(root.join(folder)).expect("feed folder") {
            out.push(Path::new(folder).join(entry.expect("entry").file_name()));
        }
    }
    out.sort();
    out
}

/// Copies these files of a feed into a data root (creating its folders).
fn copy_files(from: &Path, files: &[&PathBuf], to: &Path) {
    for folder in ["ENROLLMENT", "MAINTENANCE"] {
        std::fs::create_dir_all(to.join(folder)).expect("feed folder");
    }
    for f in files {
        std::fs::copy(from.join(f), to.join(f)).expect("copy feed file");
    }
}

fn run_lib(
    rt: &tokio::runtime::Runtime,
    data: &Path,
    lake: &Path,
) -> phone_consent_lake::RunSummary {
    let options = RunOptions {
        data_dir: data.to_owned(),
        lake: lake.to_owned(),
        threads: 2,
        replace: vec![],
        rebuild: false,
        quality: Default::default(),
    };
    rt.block_on(phone_consent_lake::run(&options, &Quiet))
        .unwrap_or_else(|e| panic!("run on {}: {e:#}", data.display()))
}

/// The lake's tables as text rows, one vector per query of [`TABLES`].
fn tables(rt: &tokio::runtime::Runtime, lake: &Path) -> Vec<Vec<String>> {
    TABLES
        .iter()
        .map(|q| {
            let batches = rt.block_on(delta::sql(lake, q)).expect("query");
            rows(&batches)
        })
        .collect()
}

fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let formatters: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formatter"))
            .collect();
        for i in 0..b.num_rows() {
            let cells: Vec<String> = formatters.iter().map(|f| f.value(i).to_string()).collect();
            out.push(cells.join("|"));
        }
    }
    out
}

/// A feed and the tables of one full run over it.
struct Reference {
    feed: PathBuf,
    files: Vec<PathBuf>,
    tables: Vec<Vec<String>>,
    /// The closing summary's counts (gold's version left out).
    published: phone_consent_lake::publish::Published,
    _scratch: Scratch,
}

/// A publication's counts without gold's version (which counts runs) and the quality
/// profile (which a run that publishes nothing does not have).
fn counts(summary: &phone_consent_lake::RunSummary) -> phone_consent_lake::publish::Published {
    phone_consent_lake::publish::Published {
        gold_version: 0,
        profile: None,
        ..summary.published.clone()
    }
}

fn reference(name: &str, feed: impl FnOnce(&Path) -> PathBuf) -> Reference {
    let scratch = Scratch::new(&format!("incremental-ref-{name}"));
    let feed = feed(scratch.path());
    let rt = runtime();
    let lake = scratch.path().join("lake");
    let summary = run_lib(&rt, &feed, &lake);
    Reference {
        published: counts(&summary),
        files: feed_files(&feed),
        tables: tables(&rt, &lake),
        feed,
        _scratch: scratch,
    }
}

fn generated() -> &'static Reference {
    static FEED: OnceLock<Reference> = OnceLock::new();
    FEED.get_or_init(|| {
        reference("generated", |dir| {
            let feed = dir.join("feed");
            phone_consent_feed::generate::generate(
                &feed,
                &phone_consent_feed::generate::GenerateOptions {
                    accounts: 150,
                    seed: 21,
                },
            )
            .expect("generate");
            feed
        })
    })
}

fn real_feed() -> Option<&'static Reference> {
    static FEED: OnceLock<Option<Reference>> = OnceLock::new();
    FEED.get_or_init(|| {
        let feed = shared().join("conformance/real-feed-s001");
        feed.is_dir().then(|| reference("real", |_| feed))
    })
    .as_ref()
}

/// Splits the reference feed's files into `batches` runs (file `i` goes to
/// `assign[i] % batches`, runs in a shuffled order), applies them one run at a time, and
/// compares the lake with the full run's. With `keep_old`, each run's data root also holds
/// the earlier runs' files (skipped by the ledger); otherwise only its own.
fn split_run_compare(r: &Reference, assign: &[u8], order: &[u8], batches: usize, keep_old: bool) {
    static CASE: AtomicUsize = AtomicUsize::new(0);
    let case = CASE.fetch_add(1, Ordering::Relaxed);
    let scratch = Scratch::new(&format!("incremental-split-{case}"));
    let lake = scratch.path().join("lake");
    let rt = runtime();
    let mut runs: Vec<usize> = (0..batches).collect();
    for (i, o) in order.iter().enumerate().take(batches) {
        runs.swap(i, i + usize::from(*o) % (batches - i));
    }
    let mut last = None;
    for (n, run) in runs.iter().enumerate() {
        let data = if keep_old {
            scratch.path().join("data")
        } else {
            scratch.path().join(format!("data-{n}"))
        };
        let files: Vec<&PathBuf> = r
            .files
            .iter()
            .zip(assign.iter().cycle())
            .filter(|(_, a)| usize::from(**a) % batches == *run)
            .map(|(f, _)| f)
            .collect();
        copy_files(&r.feed, &files, &data);
        last = Some(run_lib(&rt, &data, &lake));
    }
    let last = last.expect("at least one run");
    assert_eq!(counts(&last), r.published, "the last run's closing counts");
    let got = tables(&rt, &lake);
    for (q, (want, got)) in TABLES.iter().zip(r.tables.iter().zip(&got)) {
        assert_eq!(want.len(), got.len(), "row count of {q}");
        if let Some(i) = (0..want.len()).find(|&i| want[i] != got[i]) {
            panic!(
                "{q}: row {i} differs\n full run:    {}\n incremental: {}",
                want[i], got[i]
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 6,
        max_shrink_iters: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_split_of_a_generated_feed_into_runs_gives_the_full_run(
        assign in prop::collection::vec(any::<u8>(), 64),
        order in prop::collection::vec(any::<u8>(), 4),
        batches in 2usize..5,
        keep_old in any::<bool>(),
    ) {
        split_run_compare(generated(), &assign, &order, batches, keep_old);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4,
        max_shrink_iters: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]
    #[test]
    fn any_split_of_the_real_feed_into_runs_gives_the_full_run(
        assign in prop::collection::vec(any::<u8>(), 64),
        order in prop::collection::vec(any::<u8>(), 4),
        batches in 2usize..4,
        keep_old in any::<bool>(),
    ) {
        let Some(r) = real_feed() else {
            eprintln!("SKIPPED any_split_of_the_real_feed_into_runs_gives_the_full_run: shared/conformance/real-feed-s001 not found");
            return Ok(());
        };
        split_run_compare(r, &assign, &order, batches, keep_old);
    }
}

/// Runs the binary with `--json` and returns its summary.
fn run_json(data: &Path, lake: &Path, extra: &[&str]) -> serde_json::Value {
    let (code, summary) = crate::quality::run(data, lake, extra);
    assert_eq!(code, 0, "run {} failed: {summary}", data.display());
    summary
}

/// A small generated feed and the names of its files, in file order.
fn small_feed(scratch: &Scratch) -> (PathBuf, Vec<PathBuf>) {
    let feed = scratch.path().join("feed");
    ok(&[
        "generate",
        "--out",
        feed.to_str().unwrap(),
        "--accounts",
        "60",
        "--seed",
        "4",
    ]);
    let files = feed_files(&feed);
    (feed, files)
}

fn is_snapshot(f: &Path) -> bool {
    f.to_string_lossy().contains("-NON-FIN-BDL_")
}

fn is_change(f: &Path) -> bool {
    f.to_string_lossy().contains("-SUPPLFWD-BDL_")
}

/// Compares two lakes' tables through the binary's SQL.
fn assert_same_tables(a: &Path, b: &Path) {
    let rt = runtime();
    assert_eq!(tables(&rt, a), tables(&rt, b));
}

#[test]
fn an_applied_file_is_skipped_unread_and_a_rerun_changes_nothing() {
    let s = Scratch::new("incremental-skip");
    let (feed, files) = small_feed(&s);
    let lake = s.path().join("lake");
    let first = run_json(&feed, &lake, &[]);
    assert_eq!(first["mode"], "full");
    let second = run_json(&feed, &lake, &[]);
    assert_eq!(second["mode"], "unchanged");
    assert_eq!(second["files_skipped"], files.len());
    assert_eq!(second["feed_bytes_read"], 0, "known files are not read");
    assert_eq!(second["gold_version"], first["gold_version"]);
    let runs = ok(&[
        "sql",
        "SELECT run_id, mode, files_applied, files_skipped FROM runs ORDER BY run_id",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert_eq!(
        runs,
        format!(
            "run_id,mode,files_applied,files_skipped\n1,full,{n},0\n2,unchanged,0,{n}\n",
            n = files.len()
        )
    );
    let ledger = ok(&[
        "sql",
        "SELECT count(*) AS files, count(DISTINCT sha256) AS hashes FROM ingest_ledger",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert_eq!(ledger, format!("files,hashes\n{n},{n}\n", n = files.len()));
}

#[test]
fn a_changed_redelivery_is_refused_until_replaced() {
    let s = Scratch::new("incremental-redelivery");
    let (feed, files) = small_feed(&s);
    let lake = s.path().join("lake");
    run_json(&feed, &lake, &[]);
    let change = files
        .iter()
        .rev()
        .find(|f| is_change(f))
        .expect("a change file");
    let name = change.file_name().unwrap().to_str().unwrap();
    // Re-deliver the change file without its last row.
    let text = phone_consent_feed::decode::decode(&feed.join(change)).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let dropped = lines.pop().expect("a row");
    std::fs::write(feed.join(change), lines.join("\n") + "\n").unwrap();

    let refused = run_json(&feed, &lake, &[]);
    assert_eq!(refused["mode"], "unchanged");
    assert_eq!(refused["refused"][0]["file"], name);
    let why = refused["refused"][0]["why"].as_str().unwrap();
    assert!(why.starts_with("conflicting_redelivery"), "{why}");
    assert!(why.contains("--replace"), "{why}");

    let replaced = run_json(&feed, &lake, &["--replace", name]);
    assert_eq!(replaced["mode"], "rebuild");
    assert_eq!(replaced["replaced"][0], name);
    // The old delivery's rows are gone from bronze; the lake equals a full run of the feed
    // as it now is.
    let line_count = ok(&[
        "sql",
        &format!("SELECT count(*) AS n FROM supplfwd WHERE _source_file = '{name}'"),
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert_eq!(
        line_count,
        format!("n\n{}\n", lines.len() - 1),
        "dropped: {dropped}"
    );
    let fresh = s.path().join("fresh");
    run_json(&feed, &fresh, &[]);
    assert_same_tables(&lake, &fresh);
    assert_eq!(run_json(&feed, &lake, &[])["mode"], "unchanged");

    let out = bin()
        .args([
            "run",
            feed.to_str().unwrap(),
            "--lake",
            lake.to_str().unwrap(),
        ])
        .args(["--replace", "no-such-file.csv.gz"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--replace no-such-file.csv.gz"), "{err}");
}

/// A lake that got every file of a small feed but `late` in one run and `late` in a second
/// (whose data root also holds the others when `keep_old`), and a lake of one full run;
/// checks they are equal and returns the second run's summary.
struct LateFile {
    s: Scratch,
    second: serde_json::Value,
    files: usize,
}

impl LateFile {
    fn run(name: &str, pick: impl Fn(&PathBuf) -> bool, nth: usize, keep_old: bool) -> Self {
        let s = Scratch::new(name);
        let (feed, files) = small_feed(&s);
        let late = files
            .iter()
            .filter(|f| pick(f))
            .nth(nth)
            .expect("a late file");
        let early: Vec<&PathBuf> = files.iter().filter(|f| *f != late).collect();
        let data = s.path().join("data");
        copy_files(&feed, &early, &data);
        let lake = s.path().join("lake");
        run_json(&data, &lake, &[]);
        let second_root = if keep_old {
            data
        } else {
            s.path().join("only-late")
        };
        copy_files(&feed, &[late], &second_root);
        let second = run_json(&second_root, &lake, &[]);
        run_json(&feed, &s.path().join("full"), &[]);
        assert_same_tables(&lake, &s.path().join("full"));
        LateFile {
            second,
            files: early.len(),
            s,
        }
    }
}

#[test]
fn a_late_change_file_refolds_the_keys_it_touches() {
    // A change file dated years before the last snapshot.
    let late = LateFile::run("incremental-late-change", |f| is_change(f), 100, true);
    assert_eq!(late.second["mode"], "incremental");
    assert_eq!(late.second["files_skipped"], late.files);
    // Its audit trail: the run appended its own row events and rewrote only the derived
    // `missing` events; no earlier row event or observed run was rewritten.
    let (added, removed) = last_commit_files(&late.s.path().join("lake/silver/phone_events"));
    assert!(
        removed.iter().all(|f| f.starts_with("missing-")),
        "{removed:?}"
    );
    let rows: Vec<_> = added
        .iter()
        .filter(|f| f.starts_with("rows-run2-"))
        .collect();
    assert_eq!(rows.len(), 1, "{added:?}");
    assert!(
        added
            .iter()
            .all(|f| f.starts_with("rows-run2-") || f.starts_with("missing-")),
        "{added:?}"
    );
}

/// The data files a table's latest commit added and removed, by name.
fn last_commit_files(table: &Path) -> (Vec<String>, Vec<String>) {
    let log = table.join("_delta_log");
    let last = std::fs::read_dir(&log)
        .expect("delta log")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .max()
        .expect("a commit");
    let (mut added, mut removed) = (vec![], vec![]);
    for line in std::fs::read_to_string(log.join(last))
        .expect("commit")
        .lines()
    {
        let action: serde_json::Value = serde_json::from_str(line).expect("json action");
        for (kind, out) in [("add", &mut added), ("remove", &mut removed)] {
            if let Some(path) = action[kind]["path"].as_str() {
                out.push(path.to_owned());
            }
        }
    }
    (added, removed)
}

#[test]
fn an_out_of_order_snapshot_rebuilds_from_bronze_and_as_of_answers_agree() {
    // Only the late snapshot in the second run's data root: old files may leave the landing
    // area.
    let late = LateFile::run("incremental-late-snapshot", |f| is_snapshot(f), 30, false);
    assert_eq!(late.second["mode"], "rebuild");
    for as_of in ["2020-06-30", "2022-01-15", "2024-12-31"] {
        let gold = |lake: &str| ok(&["gold", "--as-of", as_of, "--lake", &late.s.join(lake)]);
        assert_eq!(gold("lake"), gold("full"), "gold as of {as_of}");
    }
}

#[test]
fn a_run_that_died_before_recording_itself_is_redone_from_bronze() {
    let s = Scratch::new("incremental-died");
    let (feed, files) = small_feed(&s);
    let cut = files.len() / 2;
    let data = s.path().join("data");
    copy_files(&feed, &files.iter().take(cut).collect::<Vec<_>>(), &data);
    let lake = s.path().join("lake");
    run_json(&data, &lake, &[]);
    copy_files(&feed, &files.iter().skip(cut).collect::<Vec<_>>(), &data);
    run_json(&data, &lake, &[]);
    // Forget the second run's ledger and runs commits, as if it died after publishing gold.
    for table in ["audit/runs", "audit/ingest_ledger"] {
        let log = lake.join(table).join("_delta_log");
        let last = std::fs::read_dir(&log)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .max()
            .unwrap();
        std::fs::remove_file(last).unwrap();
    }
    let again = run_json(&data, &lake, &[]);
    assert_eq!(
        again["mode"], "rebuild",
        "silver is ahead of the ledger: {again}"
    );
    let full = s.path().join("full");
    run_json(&feed, &full, &[]);
    assert_same_tables(&lake, &full);
}

/// The file date of a feed file (the 8 digits after `DataManager-`).
pub(crate) fn file_date(f: &Path) -> String {
    let name = f.file_name().unwrap().to_string_lossy();
    let at = name.find("DataManager-").expect("a stamp") + "DataManager-".len();
    let d = &name[at..at + 8];
    format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8])
}

#[test]
fn history_and_gold_versions_after_incremental_runs() {
    let s = Scratch::new("incremental-history");
    let (feed, files) = small_feed(&s);
    let cut = "2022-01-01";
    let data = s.path().join("data");
    let lake = s.path().join("lake");
    let lake_str = lake.to_str().unwrap();
    let first: Vec<&PathBuf> = files
        .iter()
        .filter(|f| file_date(f).as_str() < cut)
        .collect();
    copy_files(&feed, &first, &data);
    let v0 = run_json(&data, &lake, &[])["gold_version"].clone();
    copy_files(&feed, &files.iter().collect::<Vec<_>>(), &data);
    let v1 = run_json(&data, &lake, &[])["gold_version"].clone();
    assert_ne!(v0, v1);

    // A key that gold v0 had and that was deleted after the cut.
    let keys = ok(&[
        "sql",
        &format!(
            "SELECT account_number, phone_number FROM phone_state \
             WHERE deleted_at > DATE '{cut}' AND first_seen_at < DATE '{cut}' \
             ORDER BY 1, 2 LIMIT 1"
        ),
        "--lake",
        lake_str,
        "--format",
        "csv",
    ]);
    let key_line = keys.lines().nth(1).expect("a key deleted after the cut");
    let (account, phone) = key_line.split_once(',').unwrap();
    let check = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["check", account, phone, "--lake", lake_str, "--json"];
        args.extend(extra);
        serde_json::from_str(&ok(&args)).unwrap()
    };
    let then = check(&["--gold-version", &v0.to_string()]);
    let now = check(&["--gold-version", &v1.to_string()]);
    assert_eq!(then["state"]["is_deleted"], false, "{then}");
    assert_eq!(now["state"]["is_deleted"], true, "{now}");
    assert_eq!(now["reason"], "deleted");
    let live = check(&[]);
    assert_eq!(live["reason"], now["reason"]);
    assert_eq!(live["state"]["deleted_at"], now["state"]["deleted_at"]);

    let history: serde_json::Value = serde_json::from_str(&ok(&[
        "history", account, phone, "--lake", lake_str, "--json",
    ]))
    .unwrap();
    let steps = history["steps"].as_array().unwrap();
    let last = steps.last().unwrap();
    assert_eq!(last["reason"], live["reason"]);
    assert_eq!(last["state"]["deleted_at"], live["state"]["deleted_at"]);
    assert!(
        steps.iter().any(|s| s["reason"] != "deleted"),
        "the key was live before it was deleted: {history}"
    );
    let deleting = steps
        .iter()
        .find(|s| s["state"]["is_deleted"] == true)
        .unwrap();
    assert!(
        deleting["event"] == "missing" || deleting["event"] == "soft_deleted",
        "{deleting}"
    );
    assert_eq!(deleting["date"], live["state"]["deleted_at"]);
    // As of the cut, the history ends before the deletion.
    let before: serde_json::Value = serde_json::from_str(&ok(&[
        "history", account, phone, "--lake", lake_str, "--json", "--as-of", cut,
    ]))
    .unwrap();
    let before = before["steps"].as_array().unwrap();
    assert!(before.len() < steps.len());
    assert_eq!(before.last().unwrap()["state"]["is_deleted"], false);

    let text = ok(&["history", account, phone, "--lake", lake_str]);
    assert!(
        text.contains("reason") && text.contains("deleted"),
        "{text}"
    );
    assert!(ok(&["history", "12AB", phone, "--lake", lake_str]).contains("invalid_input"));
}
