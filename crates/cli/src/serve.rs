//! `phone-consent serve`: the HTTP API over the lake's gold.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use phone_consent_serve::{ApiKeys, Config};

/// The environment variable that may hold the API keys, comma-separated.
pub const KEYS_VARIABLE: &str = "PHONE_CONSENT_API_KEYS";

/// How to serve.
pub struct How {
    /// The address to listen on.
    pub addr: SocketAddr,
    /// A file of API keys, one per line.
    pub api_keys_file: Option<PathBuf>,
    /// Serve without authentication.
    pub insecure_no_auth: bool,
    /// The data-age policy, in days.
    pub max_snapshot_age: Option<u32>,
    /// `/v1` requests answered at once.
    pub max_in_flight: usize,
    /// The largest batch body, in bytes.
    pub max_batch_bytes: usize,
    /// The longest a request may take.
    pub request_timeout: Duration,
    /// How often to look for a newer gold version.
    pub poll: Duration,
}

/// The API keys `how` and the environment give; `None` only with `--insecure-no-auth`.
fn keys(how: &How) -> Result<Option<ApiKeys>> {
    let from_env = std::env::var(KEYS_VARIABLE)
        .ok()
        .filter(|v| !v.trim().is_empty());
    let keys = match (&how.api_keys_file, from_env) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading the API keys file {}", file.display()))?;
            Some(ApiKeys::from_file_text(&text, &file.display().to_string())?)
        }
        (None, Some(list)) => Some(ApiKeys::from_list(&list, KEYS_VARIABLE)?),
        (None, None) => None,
    };
    match (keys, how.insecure_no_auth) {
        (Some(_), true) => bail!(
            "--insecure-no-auth and API keys were both given: serve with the keys, or drop them \
             to serve without authentication"
        ),
        (Some(keys), false) => Ok(Some(keys)),
        (None, true) => Ok(None),
        (None, false) => bail!(
            "no API keys: give --api-keys-file PATH (one key per line) or set {KEYS_VARIABLE} \
             (comma-separated); to serve without authentication, say --insecure-no-auth"
        ),
    }
}

/// Serves the lake until Ctrl-C or SIGTERM.
pub async fn serve(lake: PathBuf, how: How) -> Result<()> {
    let keys = keys(&how)?;
    if keys.is_none() {
        tracing::warn!("serving WITHOUT authentication (--insecure-no-auth)");
    }
    let mut config = Config::new(lake, keys);
    config.max_snapshot_age_days = how.max_snapshot_age;
    config.max_in_flight = how.max_in_flight;
    config.max_batch_bytes = how.max_batch_bytes;
    config.request_timeout = how.request_timeout;
    let listener = tokio::net::TcpListener::bind(how.addr)
        .await
        .with_context(|| format!("listening on {}", how.addr))?;
    tracing::info!(addr = %how.addr, lake = %config.lake.display(), "serving");
    phone_consent_serve::serve(config, listener, how.poll)
        .await
        .context("serving")
}
