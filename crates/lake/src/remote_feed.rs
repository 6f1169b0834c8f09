//! A feed in an object store (`s3://bucket/prefix`, with `ENROLLMENT/` and `MAINTENANCE/`
//! under it). The files a run may need are fetched into a local folder, which is then read
//! like any data root; files the ledger has applied, with the same size and time, are not
//! fetched at all (an incremental run reads only what is new).

use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use phone_consent_feed::discover::FEED_FOLDERS;
use url::Url;

use crate::ledger::Ledger;
use crate::{Error, Result, store};

/// Files fetched at once.
const PARALLEL_FETCHES: usize = 8;

/// The fetched part of a remote feed, in a local folder removed when this is dropped.
#[derive(Debug)]
pub struct RemoteFeed {
    dir: PathBuf,
    /// Feed files the ledger has applied, with the same size and time: not fetched.
    pub skipped_unread: u64,
    /// Feed files fetched.
    pub fetched: u64,
}

impl RemoteFeed {
    /// The local data root holding the fetched files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RemoteFeed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Lists the feed at `url` and fetches every file that `ledger` does not have with the
/// same size and modification time, and every file named in `replace`.
pub async fn fetch(url: &Url, ledger: &Ledger, replace: &[String]) -> Result<RemoteFeed> {
    let objects = store::list(url).await?;
    let dir = std::env::temp_dir().join("phone-consent").join(format!(
        "feed-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    let mut feed = RemoteFeed {
        dir,
        skipped_unread: 0,
        fetched: 0,
    };
    let mut wanted = Vec::new();
    let mut folders = std::collections::BTreeSet::new();
    for object in objects {
        let parts: Vec<String> = object
            .location
            .parts()
            .map(|p| p.as_ref().to_owned())
            .collect();
        let [folder, .., name] = parts.as_slice() else {
            continue;
        };
        if !FEED_FOLDERS.contains(&folder.to_uppercase().as_str()) {
            continue;
        }
        folders.insert(folder.clone());
        let unchanged = ledger.get(name).is_some_and(|known| {
            known.size == object.size && known.modified_ms == store::modified_ms(&object)
        });
        if unchanged && !replace.contains(name) {
            feed.skipped_unread += 1;
            continue;
        }
        let local = parts.iter().fold(feed.dir.clone(), |p, part| p.join(part));
        wanted.push((object, local));
    }
    if folders.is_empty() {
        return Err(Error::Invalid {
            what: url.to_string(),
            why: format!(
                "no feed files under it: expected {} folders",
                FEED_FOLDERS.join(" and ")
            ),
        });
    }
    // The folders exist even when nothing in them is new, so the root reads as a feed.
    for folder in &folders {
        let path = feed.dir.join(folder);
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
    }
    let store = store::object_store(url)?;
    feed.fetched = wanted.len() as u64;
    futures::stream::iter(wanted)
        .map(|(object, local)| {
            let store = store.clone();
            async move {
                let what = format!("{}/{}", url.as_str().trim_end_matches('/'), object.location);
                store::download(store.as_ref(), &object.location, &object, &local, &what).await
            }
        })
        .buffer_unordered(PARALLEL_FETCHES)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(feed)
}
