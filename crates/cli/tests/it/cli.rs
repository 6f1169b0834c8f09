//! The command line as a user meets it: help with examples, clear errors, exit codes.

use crate::{Scratch, bin, fixtures, ok};

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in ["run", "check", "sql", "gold", "generate", "demo"] {
        let help = ok(&[cmd, "--help"]);
        assert!(
            help.contains("Example"),
            "{cmd} --help has no example:\n{help}"
        );
    }
    for cmd in ["run", "check", "sql", "gold", "demo"] {
        assert!(
            ok(&[cmd, "--help"]).contains("--lake"),
            "{cmd} takes --lake"
        );
    }
}

#[test]
fn check_answers_false_with_a_reason_for_unknown_and_malformed_input() {
    let lake = Scratch::new("cli-check");
    ok(&[
        "run",
        fixtures().join("12-implicit-consent").to_str().unwrap(),
        "--lake",
        lake.str(),
    ]);
    let text = ok(&[
        "check",
        "1000000000000001",
        "(212) 555-0101",
        "--lake",
        lake.str(),
    ]);
    assert!(text.starts_with("ALLOW allowed_implicit_consent"), "{text}");
    for (account, phone, reason) in [
        ("1000000000000001", "555", "invalid_input"),
        ("abc", "2125550101", "invalid_input"),
        ("4", "2125550101", "unknown_phone"),
    ] {
        let v: serde_json::Value = serde_json::from_str(&ok(&[
            "check",
            account,
            phone,
            "--json",
            "--lake",
            lake.str(),
        ]))
        .unwrap();
        assert_eq!(
            (v["allowed"].as_bool(), v["reason"].as_str()),
            (Some(false), Some(reason)),
            "{account} {phone}"
        );
    }
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "check",
        "1000000000000001",
        "2125550101",
        "--json",
        "--explain",
        "--max-snapshot-age",
        "30",
        "--lake",
        lake.str(),
    ]))
    .unwrap();
    assert_eq!(
        v["reason"], "stale_data",
        "the fixture's last snapshot is years old"
    );
}

#[test]
fn missing_lake_and_missing_feed_fail_with_a_clear_message() {
    let nowhere = Scratch::new("cli-nowhere");
    let out = bin()
        .args(["check", "1", "2125550101", "--lake", &nowhere.join("lake")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no lake at"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .args([
            "run",
            &nowhere.join("feed"),
            "--lake",
            &nowhere.join("lake"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("feed"), "{err}");
}

#[test]
fn as_of_check_explains_the_events_known_then() {
    let lake = Scratch::new("cli-as-of");
    ok(&[
        "run",
        fixtures()
            .join("09-withdrawal-after-last-snapshot")
            .to_str()
            .unwrap(),
        "--lake",
        lake.str(),
    ]);
    let now: serde_json::Value = serde_json::from_str(&ok(&[
        "check",
        "1000000000000001",
        "2125550101",
        "--json",
        "--explain",
        "--lake",
        lake.str(),
    ]))
    .unwrap();
    assert_eq!(now["reason"], "consent_withdrawn");
    assert_eq!(now["decided_by"]["kind"], "changed");
    assert!(
        now["decided_by"]["file"]
            .as_str()
            .unwrap()
            .contains("SUPPLFWD")
    );
    let then: serde_json::Value = serde_json::from_str(&ok(&[
        "check",
        "1000000000000001",
        "2125550101",
        "--json",
        "--explain",
        "--as-of",
        "2024-02-10",
        "--lake",
        lake.str(),
    ]))
    .unwrap();
    assert_eq!(then["reason"], "allowed_explicit_consent");
    assert_eq!(
        then["events"].as_array().unwrap().len(),
        1,
        "one observed run, the change not yet filed: {then}"
    );
}
