//! PII (SSN, names) is kept in bronze only as a keyed hash, and nowhere else.

use std::hash::BuildHasher;
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
    /// Per column (by the number its caller gives it), the values hashed so far.
    columns: Vec<Memos>,
    /// Values in all columns' memos, and how many they may hold before starting afresh.
    remembered: usize,
    limit: usize,
    /// The digest of the last value too long for a memo.
    long: [u8; 32],
}

/// A column's values with their digests, in the order first seen, and where each is.
#[derive(Clone, Default)]
struct Memos {
    seen: Vec<Memo>,
    places: hashbrown::HashTable<u32>,
    /// The last value's place. An account's rows are neighbours, so the next value asked
    /// for is most often that one again, or (files list accounts in the same order) the one
    /// after it: a read next to the last one, where a lookup is two cache misses (its table
    /// and its entry; ~6 % of a full run's samples).
    last: usize,
}

/// A short value and its digest.
#[derive(Clone)]
struct Memo {
    len: u8,
    value: [u8; MEMO_VALUE],
    hex: [u8; 32],
}

impl Memo {
    fn value(&self) -> &[u8] {
        &self.value[..usize::from(self.len)]
    }
}

/// Values up to this long are remembered with their digest (SSNs and names); longer ones
/// are hashed afresh, which costs about what a lookup does.
const MEMO_VALUE: usize = 23;

impl Memos {
    /// The place of a value of at most [`MEMO_VALUE`] bytes, added with `digest` if new.
    fn place(&mut self, value: &[u8], digest: impl FnOnce() -> [u8; 32]) -> usize {
        for place in [self.last, self.last + 1] {
            if self.seen.get(place).is_some_and(|m| m.value() == value) {
                self.last = place;
                return place;
            }
        }
        let state = foldhash::fast::FixedState::default();
        let hash = state.hash_one(value);
        let seen = &self.seen;
        self.last = match self
            .places
            .find(hash, |&i| seen[i as usize].value() == value)
        {
            Some(&place) => place as usize,
            None => {
                let mut stored = [0u8; MEMO_VALUE];
                stored[..value.len()].copy_from_slice(value);
                self.seen.push(Memo {
                    len: u8::try_from(value.len()).expect("a memo's value is short"),
                    value: stored,
                    hex: digest(),
                });
                let place = self.seen.len() - 1;
                let seen = &self.seen;
                self.places.insert_unique(
                    hash,
                    u32::try_from(place).expect("a memo holds fewer than 2^32 values"),
                    |&i| state.hash_one(seen[i as usize].value()),
                );
                place
            }
        };
        self.last
    }
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
            columns: Vec::new(),
            remembered: 0,
            limit: CACHE_LIMIT,
            long: [0; 32],
        }
    }

    /// The keyed hash of a value (empty stays empty: there is nothing to hide).
    pub fn hash(&mut self, value: &str) -> String {
        let hex = self.hex(0, value);
        String::from_utf8(hex.to_vec()).expect("hex is ASCII")
    }

    /// [`Self::hash`] as ASCII bytes, without a copy or a UTF-8 check (an empty slice for
    /// an empty value), remembered for `column`: a column's place in its row, the same for
    /// its values in one file after another.
    pub fn hex(&mut self, column: usize, value: &str) -> &[u8] {
        let value = value.as_bytes();
        let key = &self.key;
        let digest = || {
            let digest = blake3::keyed_hash(key, value);
            let mut hex = [0u8; 32];
            for (pair, byte) in hex.chunks_exact_mut(2).zip(&digest.as_bytes()[..16]) {
                pair[0] = HEX[usize::from(byte >> 4)];
                pair[1] = HEX[usize::from(byte & 0xf)];
            }
            hex
        };
        if value.is_empty() {
            return &[];
        }
        if value.len() > MEMO_VALUE {
            self.long = digest();
            return &self.long;
        }
        if self.remembered >= self.limit {
            self.columns.clear();
            self.remembered = 0;
        }
        if self.columns.len() <= column {
            self.columns.resize_with(column + 1, Memos::default);
        }
        let memos = &mut self.columns[column];
        let known = memos.seen.len();
        let place = memos.place(value, digest);
        self.remembered += memos.seen.len() - known;
        &memos.seen[place].hex
    }
}

/// Values remembered (56 bytes each) before the memos start afresh: bounds memory.
const CACHE_LIMIT: usize = 1_000_000;
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

    fn keyed_hash(key: &[u8; 32], value: &str) -> String {
        let digest = blake3::keyed_hash(key, value.as_bytes());
        digest.as_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn a_digest_is_the_keyed_hash_whatever_the_order_column_or_memo_state() {
        let key = [9; 32];
        let mut hasher = PiiHasher::new(key);
        hasher.limit = 50;
        let mut values: Vec<String> = (0..40).map(|i| format!("{:09}", i * 7919)).collect();
        values.extend([
            "x".repeat(MEMO_VALUE),
            "y".repeat(MEMO_VALUE + 1),
            "Ann".into(),
        ]);
        let n = values.len();
        // As first seen (the memos fill and start afresh), the same order again (each the
        // value after the last), each twice in a row, reversed, every seventh, and by turns
        // in three columns.
        let orders: [Vec<usize>; 4] = [
            (0..n)
                .chain(0..n)
                .chain((0..2 * n).map(|i| i / 2))
                .collect(),
            (0..n).rev().collect(),
            (0..n).map(|i| i * 7 % n).collect(),
            (0..3 * n).map(|i| i % n).collect(),
        ];
        for (pass, order) in orders.iter().enumerate() {
            for (turn, &i) in order.iter().enumerate() {
                let column = if pass == 3 { turn % 3 } else { 4 };
                let hex = hasher.hex(column, &values[i]);
                assert_eq!(hex, keyed_hash(&key, &values[i]).as_bytes(), "{pass} {i}");
                let held: usize = hasher.columns.iter().map(|m| m.seen.len()).sum();
                assert!(held <= hasher.limit && held == hasher.remembered);
            }
        }
        assert_eq!(hasher.hex(2, ""), b"");
    }
}
