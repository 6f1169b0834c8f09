//! Progress: bars on a terminal, plain log lines otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use phone_consent_lake::Progress;

/// Shows a run's progress.
pub struct Reporter {
    bar: Option<ProgressBar>,
    files: AtomicU64,
    total_files: AtomicU64,
    last_log: Mutex<Instant>,
}

impl Reporter {
    /// Bars when standard error is a terminal, log lines every few seconds otherwise.
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_message("reading");
            bar
        });
        Reporter {
            bar,
            files: AtomicU64::new(0),
            total_files: AtomicU64::new(0),
            last_log: Mutex::new(Instant::now()),
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Reporter {
    fn files_found(&self, files: u64, bytes: u64) {
        self.total_files.store(files, Ordering::Relaxed);
        match &self.bar {
            Some(bar) => bar.set_length(bytes),
            None => tracing::info!("found {files} feed files, {:.1} MB", bytes as f64 / 1e6),
        }
    }

    fn file_done(&self, _file: &str, bytes: u64) {
        let done = self.files.fetch_add(1, Ordering::Relaxed) + 1;
        match &self.bar {
            Some(bar) => bar.inc(bytes),
            None => {
                let mut last = self.last_log.lock().expect("log clock");
                let total = self.total_files.load(Ordering::Relaxed);
                if last.elapsed().as_secs() >= 5 || done == total {
                    *last = Instant::now();
                    tracing::info!("read {done}/{total} files");
                }
            }
        }
    }

    fn stage(&self, name: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(name.to_owned()),
            None => tracing::info!("{name}"),
        }
    }
}
