//! `sql/can_send_sms.sql`, run through `phone-consent sql`, answers as `check` does.

use crate::{Scratch, fixtures, ok};

#[test]
fn shipped_check_query_agrees_with_check_on_every_pair() {
    let sql = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../sql/can_send_sms.sql"
    ))
    .unwrap();
    let (start, end) = (
        sql.find("VALUES").expect("a VALUES list"),
        sql.find("-- end of request").expect("request end marker"),
    );
    for name in [
        "01-same-phone-two-accounts",
        "10-stale-yes-never-overrides-withdrawal",
        "12-implicit-consent",
        "13-supplfwd-wins-same-date",
        "16-enrollment-only",
        "19-two-consumers-one-account",
    ] {
        let lake = Scratch::new(&format!("sql-{name}"));
        ok(&[
            "run",
            fixtures().join(name).to_str().unwrap(),
            "--lake",
            lake.str(),
        ]);
        let gold = ok(&["gold", "--lake", lake.str(), "--format", "csv"]);
        let mut pairs: Vec<(String, String)> = gold
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].to_owned(), f[1].to_owned())
            })
            .collect();
        pairs.push(("9999999999999999".into(), "+12125550199".into()));
        let values: Vec<String> = pairs
            .iter()
            .map(|(a, p)| format!("('{a}', '{p}')"))
            .collect();
        let query = format!(
            "{}VALUES {}\n{}",
            &sql[..start],
            values.join(", "),
            &sql[end..]
        );
        let answers = ok(&["sql", &query, "--lake", lake.str(), "--format", "csv"]);
        let mut seen = 0;
        for line in answers.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let check: serde_json::Value =
                serde_json::from_str(&ok(&["check", f[0], f[1], "--json", "--lake", lake.str()]))
                    .unwrap();
            assert_eq!(f[2], check["allowed"].to_string(), "{name} {line}");
            assert_eq!(f[3], check["reason"].as_str().unwrap(), "{name} {line}");
            seen += 1;
        }
        assert_eq!(seen, pairs.len(), "{name}: one answer per pair");
    }
}
