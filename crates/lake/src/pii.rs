//! PII (SSN, names) is kept in bronze only as a keyed hash, and nowhere else.

use std::collections::HashMap;
use std::path::Path;

use crate::{Error, Result};

/// The environment variable that supplies the PII hashing key.
pub const KEY_ENV: &str = "PHONE_CONSENT_PII_KEY";
/// The key file created in the lake on first run when no key is supplied.
pub const KEY_FILE: &str = "_keys/pii.key";

/// A keyed hash of PII values (BLAKE3 in keyed mode, 128 bits shown as hex).
#[derive(Clone)]
pub struct PiiHasher {
    key: [u8; 32],
    cache: HashMap<Box<str>, usize, foldhash::fast::FixedState>,
    hexes: Vec<[u8; 32]>,
}

impl std::fmt::Debug for PiiHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PiiHasher(..)")
    }
}

impl PiiHasher {
    /// The key from `PHONE_CONSENT_PII_KEY` if set, else from the lake's key file, created
    /// with 32 random bytes on first use (a local lake only: a lake in an object store
    /// must be given the key).
    pub fn for_lake(lake: &Path) -> Result<Self> {
        if let Ok(secret) = std::env::var(KEY_ENV)
            && !secret.is_empty()
        {
            return Ok(Self::new(blake3::derive_key(
                "phone-consent pii key v1",
                secret.as_bytes(),
            )));
        }
        if crate::store::remote_url(lake)?.is_some() {
            // A key stored beside the hashes it keys would protect nothing.
            return Err(Error::Invalid {
                what: lake.display().to_string(),
                why: format!(
                    "a lake in an object store needs its PII key from {KEY_ENV} \
                     (e.g. from a secrets manager); none is created there"
                ),
            });
        }
        let path = lake.join(KEY_FILE);
        let key = match std::fs::read(&path) {
            Ok(bytes) => <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| Error::Invalid {
                what: path.display().to_string(),
                why: "a PII key file must hold exactly 32 bytes".into(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_key().map_err(|e| Error::io(&path, e))?;
                let dir = path.parent().expect("key file has a folder");
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                write_private(&path, &key).map_err(|e| Error::io(&path, e))?;
                key
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        Ok(Self::new(key))
    }

    /// A hasher with this key.
    pub fn new(key: [u8; 32]) -> Self {
        PiiHasher {
            key,
            cache: HashMap::default(),
            hexes: Vec::new(),
        }
    }

    /// The keyed hash of a value (empty stays empty: there is nothing to hide).
    pub fn hash(&mut self, value: &str) -> &str {
        if value.is_empty() {
            return "";
        }
        let slot = match self.cache.get(value) {
            Some(&slot) => slot,
            None => {
                if self.hexes.len() >= CACHE_LIMIT {
                    self.cache.clear();
                    self.hexes.clear();
                }
                let digest = blake3::keyed_hash(&self.key, value.as_bytes());
                let mut hex = [0u8; 32];
                for (pair, byte) in hex.chunks_exact_mut(2).zip(&digest.as_bytes()[..16]) {
                    pair[0] = HEX[usize::from(byte >> 4)];
                    pair[1] = HEX[usize::from(byte & 0xf)];
                }
                self.hexes.push(hex);
                let slot = self.hexes.len() - 1;
                self.cache.insert(value.into(), slot);
                slot
            }
        };
        std::str::from_utf8(&self.hexes[slot]).expect("hex is ASCII")
    }
}

/// Values remembered per hasher before the cache starts afresh (bounds memory).
const CACHE_LIMIT: usize = 2_000_000;
const HEX: &[u8; 16] = b"0123456789abcdef";

fn random_key() -> std::io::Result<[u8; 32]> {
    use std::io::Read;
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    Ok(key)
}

fn write_private(path: &Path, key: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hash_is_stable_per_key_and_differs_across_keys() {
        let mut a = PiiHasher::new([1; 32]);
        let mut b = PiiHasher::new([2; 32]);
        let h1 = a.hash("900112222").to_owned();
        assert_eq!(h1.len(), 32);
        assert_eq!(a.hash("900112222"), h1);
        assert_ne!(b.hash("900112222"), h1);
        assert!(!h1.contains("900112222"));
        assert_eq!(a.hash(""), "");
    }
}
