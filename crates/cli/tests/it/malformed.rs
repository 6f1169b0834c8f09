//! No input, however malformed, crashes a run or is silently dropped (SEMANTICS §9).

use std::io::Write;

use crate::{Scratch, ok};

const NONFIN_HEADER: &str = "cnsmr_phn_id|cnsmr_idntfr_lgcy_txt|cnsmr_idntfr_agncy_id|cnsmr_idntfr_ssn_txt|cnsmr_nm_frst_txt|cnsmr_nm_lst_txt|cnsmr_phn_nmbr_txt|cnsmr_phn_typ_val_txt|cnsmr_phn_stts_val_txt|cnsmr_phn_src_val_txt|cnsmr_phn_tchnlgy_typ_val_txt|cnsmr_phn_qlty_score_nmbr|cnsmr_phn_cnsnt_flg|cnsmr_phn_cnsnt_dt";

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::File::create(dir.join(name))
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[test]
fn garbage_files_are_rejected_whole_and_pii_never_reaches_rejects() {
    let feed = Scratch::new("malformed-feed");
    let m = feed.path().join("MAINTENANCE");
    let good = format!(
        "{NONFIN_HEADER}\na|1000000000000001P|AG|123456789|Zelda|Quill|2125550101|CELL|ACTIVE|CLIENT|WIRELESS|80||\n\
         b|1000000000000001P|AG|123456789|Zelda|Quill|2125550|CELL|ACTIVE|CLIENT|WIRELESS|80||\n\
         c|1000000000000001P|AG|123456789|Zelda\n"
    );
    write(
        &m,
        "SN_SVC_DMBDL_DataManager-20240101000000101-NON-FIN-BDL_EXPORT_000.csv",
        good.as_bytes(),
    );
    write(
        &m,
        "SN_SVC_DMBDL_DataManager-20240201000000101-NON-FIN-BDL_EXPORT_000.csv.gz",
        &[0x1f, 0x8b, 8, 0, 1, 2, 3],
    );
    write(
        &m,
        "SN_SVC_DMBDL_DataManager-20240301000000101-NON-FIN-BDL_EXPORT_000.csv",
        &[0xff, 0xfe, 0x00, 0x41, b'\n', 0x80],
    );
    write(
        &m,
        "SN_SVC_DMBDL_DataManager-20240401000000101-SUPPLFWD-BDL_EXPORT_000.csv",
        b"",
    );
    write(
        &m,
        "SN_SVC_DMBDL_DataManager-20240501000000101-SUPPLFWD-BDL_EXPORT_000.csv",
        b"cnsmr_phn_id|cnsmr_idntfr_lgcy_txt\nx|1P\n",
    );
    write(&m, "notes.txt", b"not a feed file");
    write(
        &m,
        "SN_SVC_DMBDL_DataManager-2024-NON-FIN-BDL_EXPORT_000.csv",
        b"x",
    );
    let lake = Scratch::new("malformed-lake");
    let summary: serde_json::Value =
        serde_json::from_str(&ok(&["run", feed.str(), "--lake", lake.str(), "--json"])).unwrap();
    assert_eq!(summary["rejects"]["unreadable_file"], 2, "{summary}");
    assert_eq!(summary["rejects"]["missing_column"], 2, "{summary}");
    assert_eq!(summary["rejects"]["invalid_file_name"], 2, "{summary}");
    assert_eq!(summary["rejects"]["invalid_phone"], 1, "{summary}");
    assert_eq!(summary["rejects"]["wrong_field_count"], 1, "{summary}");
    assert_eq!(summary["damaged_snapshots"], 2);
    assert_eq!(summary["keys"], 1);

    let raw = ok(&[
        "sql",
        "SELECT * FROM rejects",
        "--lake",
        lake.str(),
        "--format",
        "csv",
    ]);
    for pii in ["123456789", "Zelda", "Quill"] {
        assert!(!raw.contains(pii), "PII {pii} in rejects:\n{raw}");
    }
    // The good row's phone is still there and nothing was deleted by the damaged snapshots.
    let gold = ok(&["gold", "--lake", lake.str(), "--format", "csv"]);
    assert!(
        gold.contains("1000000000000001,+12125550101,CLIENT,,,false,,"),
        "{gold}"
    );
}
