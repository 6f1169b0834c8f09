//! Prometheus metrics: requests and their latency by route and status, decisions by reason,
//! and the served gold version. Text exposition format 0.0.4.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use phone_consent_core::Reason;

use crate::served_gold::ServedGold;

/// Latency buckets, in seconds: fine below a millisecond, where single checks land.
const BUCKETS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0,
];

/// A reason's place in [`Reason::ALL`], for per-reason counters.
pub fn reason_index(reason: Reason) -> usize {
    Reason::ALL.iter().position(|r| *r == reason).unwrap_or(0)
}

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&b| seconds <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    requests: RwLock<BTreeMap<(&'static str, u16), Arc<Histogram>>>,
    decisions: [AtomicU64; Reason::ALL.len()],
}

impl Metrics {
    /// Records a request to `route` (its template) answered with `status` after `elapsed`.
    pub fn record_request(&self, route: &'static str, status: u16, elapsed: Duration) {
        let key = (route, status);
        let found = self
            .requests
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let histogram = match found {
            Some(h) => h,
            None => self
                .requests
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .entry(key)
                .or_default()
                .clone(),
        };
        histogram.observe(elapsed);
    }

    /// Records `n` decisions with `reason`.
    pub fn record_decisions(&self, reason: Reason, n: u64) {
        self.decisions[reason_index(reason)].fetch_add(n, Ordering::Relaxed);
    }

    /// The Prometheus text of every metric.
    pub fn render(&self, gold: &ServedGold) -> String {
        let mut out = String::with_capacity(8192);
        let requests = self.requests.read().unwrap_or_else(|e| e.into_inner());
        out.push_str(
            "# HELP phone_consent_http_requests_total HTTP requests by route and status.\n\
             # TYPE phone_consent_http_requests_total counter\n",
        );
        for ((route, status), h) in requests.iter() {
            let n = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "phone_consent_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP phone_consent_http_request_duration_seconds Time to answer, by route and status.\n\
             # TYPE phone_consent_http_request_duration_seconds histogram\n",
        );
        for ((route, status), h) in requests.iter() {
            let labels = format!("route=\"{route}\",status=\"{status}\"");
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(&h.buckets) {
                cumulative += count.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "phone_consent_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let sum = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "phone_consent_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}\n\
                 phone_consent_http_request_duration_seconds_sum{{{labels}}} {sum}\n\
                 phone_consent_http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        drop(requests);
        out.push_str(
            "# HELP phone_consent_decisions_total Decisions answered (single and batch), by reason.\n\
             # TYPE phone_consent_decisions_total counter\n",
        );
        for (reason, n) in Reason::ALL.iter().zip(&self.decisions) {
            let _ = writeln!(
                out,
                "phone_consent_decisions_total{{reason=\"{}\"}} {}",
                reason.code(),
                n.load(Ordering::Relaxed)
            );
        }
        let served = gold.current();
        let (loads, failed) = gold.load_counts();
        let _ = write!(
            out,
            "# HELP phone_consent_gold_version The gold version served (-1: none yet).\n\
             # TYPE phone_consent_gold_version gauge\n\
             phone_consent_gold_version {}\n\
             # HELP phone_consent_gold_keys Keys in the gold version served.\n\
             # TYPE phone_consent_gold_keys gauge\n\
             phone_consent_gold_keys {}\n\
             # HELP phone_consent_gold_load_seconds Time the last gold load took.\n\
             # TYPE phone_consent_gold_load_seconds gauge\n\
             phone_consent_gold_load_seconds {}\n\
             # HELP phone_consent_gold_loads_total Gold loads, by result.\n\
             # TYPE phone_consent_gold_loads_total counter\n\
             phone_consent_gold_loads_total{{result=\"ok\"}} {loads}\n\
             phone_consent_gold_loads_total{{result=\"failed\"}} {failed}\n",
            served.as_ref().map_or(-1, |d| d.publication.gold_version),
            served.as_ref().map_or(0, |d| d.len()),
            gold.last_load_seconds(),
        );
        out
    }
}
