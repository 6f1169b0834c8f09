//! End-to-end tests: the real `phone-consent` binary on the conformance scenarios, the
//! client's real feed, the shipped SQL, and malformed input.

mod cli;
mod conformance;
mod incremental;
mod malformed;
mod quality;
mod real_feed;
mod sql_file;
mod truth;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_phone-consent"))
}

/// Runs the binary with these arguments; panics with its output unless it succeeds.
pub fn ok(args: &[&str]) -> String {
    let out = bin()
        .args(args)
        .env("PHONE_CONSENT_LOG", "warn")
        .output()
        .expect("binary runs");
    assert_success(&out, args);
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Panics with the command's output unless it succeeded.
pub fn assert_success(out: &Output, args: &[&str]) {
    assert!(
        out.status.success(),
        "phone-consent {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh scratch folder, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("phone-consent-it-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn str(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
    pub fn join(&self, p: &str) -> String {
        self.0.join(p).to_str().expect("utf-8 path").to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The conformance fixtures copied from shared/ (ours to keep).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios")
}

/// The shared folder beside the checkout, when present.
pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// CSV text with `\r\n` normalised and a trailing newline.
pub fn normalise(text: &str) -> String {
    let mut s = text.replace("\r\n", "\n").trim_end().to_owned();
    s.push('\n');
    s
}
