//! The client's own feed (shared/conformance/real-feed-s001) runs clean, with every row
//! accounted for. Skipped, and says so, when shared/ is not beside the checkout.

use crate::{Scratch, ok, shared};

#[test]
fn real_feed_runs_clean_with_full_row_accounting() {
    let feed = shared().join("conformance/real-feed-s001");
    if !feed.is_dir() {
        eprintln!(
            "SKIPPED real_feed_runs_clean_with_full_row_accounting: {} not found",
            feed.display()
        );
        return;
    }
    let lake = Scratch::new("real-feed");
    let summary: serde_json::Value = serde_json::from_str(&ok(&[
        "run",
        feed.to_str().unwrap(),
        "--lake",
        lake.str(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        summary["rejects"],
        serde_json::json!({}),
        "the client's feed has no bad row: {summary}"
    );
    assert_eq!(summary["damaged_snapshots"], 0);
    let fired: Vec<&serde_json::Value> = summary["quality"]
        .as_array()
        .expect("quality checks")
        .iter()
        .filter(|c| c["status"] == "warn" || c["status"] == "error")
        .collect();
    assert!(
        fired.is_empty(),
        "no data-quality check fires on the client's feed: {fired:?}"
    );
    assert_eq!(summary["quality"].as_array().unwrap().len(), 12);

    // Count the rows ourselves, independently of the pipeline's reader.
    for (kind, folder, marker, table) in [
        ("NON-FIN-BDL", "MAINTENANCE", "-NON-FIN-BDL_", "nonfin"),
        ("SUPPLFWD", "MAINTENANCE", "-SUPPLFWD-BDL_", "supplfwd"),
        ("ENRLMT", "ENROLLMENT", "-ENRLMT-", "enrollment"),
    ] {
        let mut files = 0;
        let mut rows = 0u64;
        for entry in std::fs::read_dir(feed.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            if !path.file_name().unwrap().to_string_lossy().contains(marker) {
                continue;
            }
            files += 1;
            let text = phone_consent_feed::decode::decode(&path).unwrap();
            rows += text
                .lines()
                .skip(1)
                .filter(|l| !l.trim().is_empty())
                .count() as u64;
        }
        let k = &summary["kinds"][kind];
        assert_eq!(k["files"], files, "{kind} files");
        assert_eq!(k["rows_read"], rows, "{kind} rows read");
        let accounted = k["accepted"].as_u64().unwrap()
            + k["rejected"].as_u64().unwrap()
            + k["duplicates"].as_u64().unwrap();
        assert_eq!(
            accounted, rows,
            "{kind}: read = accepted + rejected + duplicates"
        );
        let bronze = ok(&[
            "sql",
            &format!("SELECT count(*) AS n FROM {table}"),
            "--lake",
            lake.str(),
            "--format",
            "csv",
        ]);
        assert_eq!(
            bronze.lines().nth(1).unwrap(),
            k["accepted"].to_string(),
            "{kind}: bronze holds every accepted row"
        );
    }
    assert_eq!(summary["kinds"]["NON-FIN-BDL"]["files"], 60);

    // Gold has one row per distinct key of bronze.
    let keys = ok(&[
        "sql",
        "SELECT count(*) AS n FROM (SELECT key_account, key_phone FROM nonfin UNION \
         SELECT key_account, key_phone FROM supplfwd UNION SELECT key_account, key_phone FROM enrollment)",
        "--lake",
        lake.str(),
        "--format",
        "csv",
    ]);
    assert_eq!(keys.lines().nth(1).unwrap(), summary["keys"].to_string());

    // PII is only ever a keyed hash.
    let ssn = ok(&[
        "sql",
        "SELECT min(length(cnsmr_idntfr_ssn_txt_hash)) AS a, max(length(cnsmr_nm_lst_txt_hash)) AS b FROM nonfin",
        "--lake",
        lake.str(),
        "--format",
        "csv",
    ]);
    assert_eq!(ssn.lines().nth(1).unwrap(), "32,32");
}
