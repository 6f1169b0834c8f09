//! The gold version being served, replaced atomically when the lake publishes a newer one.
//! A request takes the version current when it starts and answers from it to the end, so a
//! swap never fails or mixes a request.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use phone_consent_lake::served::{self, Decisions};

/// The served gold version and how its loads went.
#[derive(Debug)]
pub struct ServedGold {
    lake: PathBuf,
    current: RwLock<Option<Arc<Decisions>>>,
    /// Seconds the last load took, as `f64` bits.
    last_load_seconds: AtomicU64,
    loads: AtomicU64,
    failed_loads: AtomicU64,
}

impl ServedGold {
    /// Nothing served yet, from `lake`.
    pub fn new(lake: impl Into<PathBuf>) -> Self {
        ServedGold {
            lake: lake.into(),
            current: RwLock::new(None),
            last_load_seconds: AtomicU64::new(0f64.to_bits()),
            loads: AtomicU64::new(0),
            failed_loads: AtomicU64::new(0),
        }
    }

    /// The lake served from.
    pub fn lake(&self) -> &Path {
        &self.lake
    }

    /// The gold version being served, if one is loaded.
    pub fn current(&self) -> Option<Arc<Decisions>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Serves `decisions` from now on.
    pub fn install(&self, decisions: Decisions) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(decisions));
    }

    /// Seconds the last successful load took.
    pub fn last_load_seconds(&self) -> f64 {
        f64::from_bits(self.last_load_seconds.load(Ordering::Relaxed))
    }

    /// Loads that succeeded and that failed.
    pub fn load_counts(&self) -> (u64, u64) {
        (
            self.loads.load(Ordering::Relaxed),
            self.failed_loads.load(Ordering::Relaxed),
        )
    }

    /// Loads gold's latest version if it is newer than the one served. `Ok(Some(version))`
    /// when it swapped; the served version is kept when loading fails.
    pub async fn refresh(&self) -> Result<Option<i64>, phone_consent_lake::Error> {
        let Some(latest) = served::latest_gold_version(&self.lake).await? else {
            return Ok(None);
        };
        let serving = self.current().map(|d| d.publication.gold_version);
        if serving.is_some_and(|v| v >= latest) {
            return Ok(None);
        }
        let started = Instant::now();
        let loaded = async {
            let publication = served::publication(&self.lake, latest).await?;
            served::load_decisions(&self.lake, publication).await
        }
        .await;
        match loaded {
            Ok(decisions) => {
                let keys = decisions.len();
                self.install(decisions);
                let seconds = started.elapsed().as_secs_f64();
                self.last_load_seconds
                    .store(seconds.to_bits(), Ordering::Relaxed);
                self.loads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(gold_version = latest, keys, seconds, "serving gold");
                Ok(Some(latest))
            }
            Err(e) => {
                self.failed_loads.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Polls the lake every `every` and swaps in each newer gold version (forever).
    pub async fn watch(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.refresh().await {
                tracing::error!(error = %e, "could not load the newest gold version; still serving the previous one");
            }
        }
    }
}
