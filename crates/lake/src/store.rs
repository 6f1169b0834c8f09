//! Where a lake or a feed lives: a local folder, or an S3 prefix (`s3://bucket/prefix`).
//!
//! A remote location is carried as a `Path` whose text is its URL, so a table is found the
//! same way everywhere: the lake's path joined with the table's (`s3://b/lake/gold/x`).
//! Credentials, region and endpoint come from the standard AWS environment (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, the ECS task role, …), read by delta-rs's S3 store.
//!
//! Parquet is encoded into a local staging folder and uploaded when it is committed; the
//! data files a reader decodes itself are downloaded once into a local cache (data files
//! are immutable: a name is never reused).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use deltalake::DeltaTableBuilder;
use deltalake::logstore::object_store::path::Path as ObjectPath;
use deltalake::logstore::object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use futures::TryStreamExt;
use url::Url;

use crate::delta::LakeError;

/// URL schemes read as object stores; anything else with `://` is refused.
const SCHEMES: [&str; 2] = ["s3", "s3a"];

/// Uploads larger than this go in parts.
const PART: usize = 32 << 20;

/// The URL of `path` when it names an object store (`s3://bucket/prefix`), `None` for a
/// local path. A URL of another scheme is an error.
pub fn remote_url(path: &Path) -> Result<Option<Url>, LakeError> {
    let Some(text) = path.to_str() else {
        return Ok(None);
    };
    let Some((scheme, _)) = text.split_once("://") else {
        return Ok(None);
    };
    let unsupported = |why: String| LakeError::Location {
        location: text.to_owned(),
        why,
    };
    if !SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(unsupported(format!(
            "{scheme}:// is not supported: give a local path or s3://bucket/prefix"
        )));
    }
    let url = Url::parse(text).map_err(|e| unsupported(format!("not a valid URL: {e}")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(unsupported("the URL names no bucket".into()));
    }
    // One trailing slash: a table's `_delta_log` is joined under it, not beside it.
    Ok(Some(deltalake::table::normalize_table_url(&url)))
}

/// The object store at `url`, with paths relative to it.
pub fn object_store(url: &Url) -> Result<Arc<dyn ObjectStore>, LakeError> {
    let store_err = |source| LakeError::Delta {
        table: url.to_string(),
        source: Box::new(source),
    };
    let log_store = DeltaTableBuilder::from_url(url.clone())
        .and_then(|b| b.build_storage())
        .map_err(store_err)?;
    Ok(log_store.object_store(None))
}

/// Every object under `url`, recursively, with paths relative to it.
pub async fn list(url: &Url) -> Result<Vec<ObjectMeta>, LakeError> {
    let store = object_store(url)?;
    store
        .list(None)
        .try_collect()
        .await
        .map_err(|e| object_error(url.as_str(), e))
}

/// Copies the object at `location` of `store`, described by `meta`, to the local file `to`
/// (folders created), with the object's last-modified time as the file's.
pub async fn download(
    store: &dyn ObjectStore,
    location: &ObjectPath,
    meta: &ObjectMeta,
    to: &Path,
    what: &str,
) -> Result<(), LakeError> {
    let bytes = store
        .get(location)
        .await
        .map_err(|e| object_error(what, e))?
        .bytes()
        .await
        .map_err(|e| object_error(what, e))?;
    let io_err = |source| LakeError::Io {
        path: to.display().to_string(),
        source,
    };
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(io_err)?;
    }
    // Written beside, then renamed: a reader never sees half a file.
    let partial = to.with_extension("partial");
    std::fs::write(&partial, &bytes).map_err(io_err)?;
    let modified =
        UNIX_EPOCH + Duration::from_millis(meta.last_modified.timestamp_millis().max(0) as u64);
    std::fs::File::options()
        .write(true)
        .open(&partial)
        .and_then(|f| f.set_modified(modified))
        .map_err(io_err)?;
    std::fs::rename(&partial, to).map_err(io_err)
}

/// Uploads the local file `from` to `to` in `store` (in parts when it is large).
pub async fn upload(
    store: &dyn ObjectStore,
    from: &Path,
    to: &ObjectPath,
    what: &str,
) -> Result<(), LakeError> {
    let bytes = std::fs::read(from).map_err(|source| LakeError::Io {
        path: from.display().to_string(),
        source,
    })?;
    let object_err = |e| object_error(what, e);
    if bytes.len() <= PART {
        store
            .put(to, PutPayload::from(bytes))
            .await
            .map_err(object_err)?;
        return Ok(());
    }
    let mut upload = store.put_multipart(to).await.map_err(object_err)?;
    for start in (0..bytes.len()).step_by(PART) {
        let part = bytes[start..(start + PART).min(bytes.len())].to_vec();
        if let Err(e) = upload.put_part(PutPayload::from(part)).await {
            let _ = upload.abort().await;
            return Err(object_err(e));
        }
    }
    upload.complete().await.map_err(object_err)?;
    Ok(())
}

/// A local folder for what belongs to the remote location `url`: `kind` is `staging`
/// (parquet written, not yet uploaded) or `cache` (data files downloaded).
pub fn local_folder(kind: &str, url: &Url) -> PathBuf {
    let name: String = url
        .as_str()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::env::temp_dir()
        .join("phone-consent")
        .join(kind)
        .join(name)
}

/// Milliseconds since the epoch of an object's last modification.
pub fn modified_ms(meta: &ObjectMeta) -> i64 {
    meta.last_modified.timestamp_millis()
}

pub(crate) fn object_error(
    what: &str,
    source: deltalake::logstore::object_store::Error,
) -> LakeError {
    LakeError::Object {
        location: what.to_owned(),
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_are_remote_and_other_schemes_are_refused() {
        let url = remote_url(Path::new("s3://bucket/lake/")).unwrap().unwrap();
        assert_eq!(url.as_str(), "s3://bucket/lake/");
        let table = Path::new("s3://bucket/lake").join("gold/phone_consent");
        assert_eq!(
            remote_url(&table).unwrap().unwrap().as_str(),
            "s3://bucket/lake/gold/phone_consent/"
        );
        assert!(remote_url(Path::new("./lake")).unwrap().is_none());
        assert!(remote_url(Path::new("/tmp/x")).unwrap().is_none());
        let e = remote_url(Path::new("gs://bucket/lake")).unwrap_err();
        assert!(e.to_string().contains("gs:// is not supported"), "{e}");
        assert!(remote_url(Path::new("s3:///lake")).is_err());
        assert!(remote_url(Path::new("S3://bucket")).unwrap().is_some());
    }

    #[test]
    fn local_folders_are_named_after_the_url() {
        let url = remote_url(Path::new("s3://bucket/lake/gold"))
            .unwrap()
            .unwrap();
        let dir = local_folder("staging", &url);
        assert!(
            dir.ends_with("phone-consent/staging/s3___bucket_lake_gold_"),
            "{dir:?}"
        );
    }
}
