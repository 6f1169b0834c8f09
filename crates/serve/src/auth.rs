//! API keys: held as SHA-256 digests, a presented key compared with every one in constant
//! time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The shortest key accepted: shorter ones are guessable.
pub const MIN_KEY_LEN: usize = 16;

/// Why a set of keys was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// No key at all.
    #[error("{source_name}: no API key (one per line; blank lines and # comments are ignored)")]
    Empty {
        /// Where the keys came from.
        source_name: String,
    },
    /// A key too short.
    #[error(
        "{source_name}: key {number} is {len} characters; keys must have at least {MIN_KEY_LEN}"
    )]
    TooShort {
        /// Where the keys came from.
        source_name: String,
        /// The key's number (1-based, in order).
        number: usize,
        /// Its length.
        len: usize,
    },
}

/// The accepted API keys, as digests.
#[derive(Clone, Debug)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl ApiKeys {
    /// The keys of a keys file: one per line; blank lines and lines starting with `#` are
    /// ignored; surrounding whitespace is trimmed.
    pub fn from_file_text(text: &str, source_name: &str) -> Result<Self, KeysError> {
        let keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        Self::from_keys(keys, source_name)
    }

    /// The keys of a comma-separated list (`PHONE_CONSENT_API_KEYS`).
    pub fn from_list(list: &str, source_name: &str) -> Result<Self, KeysError> {
        let keys = list.split(',').map(str::trim).filter(|k| !k.is_empty());
        Self::from_keys(keys, source_name)
    }

    fn from_keys<'a>(
        keys: impl Iterator<Item = &'a str>,
        source_name: &str,
    ) -> Result<Self, KeysError> {
        let mut digests = Vec::new();
        for (i, key) in keys.enumerate() {
            if key.len() < MIN_KEY_LEN {
                return Err(KeysError::TooShort {
                    source_name: source_name.to_owned(),
                    number: i + 1,
                    len: key.len(),
                });
            }
            digests.push(digest(key));
        }
        if digests.is_empty() {
            return Err(KeysError::Empty {
                source_name: source_name.to_owned(),
            });
        }
        Ok(ApiKeys { digests })
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Never true: a set of keys has at least one.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `presented` is one of the keys. Compares its digest with every key's, each in
    /// constant time, without stopping at a match.
    pub fn accepts(&self, presented: &str) -> bool {
        let presented = digest(presented);
        let mut any = subtle::Choice::from(0);
        for d in &self.digests {
            any |= d.ct_eq(&presented);
        }
        any.into()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keys_file_ignores_comments_and_blank_lines() {
        let keys = ApiKeys::from_file_text(
            "# dialer\n  key-aaaaaaaaaaaaaaaa  \n\nkey-bbbbbbbbbbbbbbbb\n",
            "keys.txt",
        )
        .unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys.accepts("key-aaaaaaaaaaaaaaaa"));
        assert!(keys.accepts("key-bbbbbbbbbbbbbbbb"));
        assert!(!keys.accepts("key-cccccccccccccccc"));
        assert!(!keys.accepts(""));
        assert!(!keys.accepts("key-aaaaaaaaaaaaaaa"));
    }

    #[test]
    fn no_key_or_a_short_key_is_refused() {
        let e = ApiKeys::from_file_text("# nothing\n\n", "keys.txt").unwrap_err();
        assert!(e.to_string().contains("keys.txt: no API key"), "{e}");
        let e = ApiKeys::from_list("key-aaaaaaaaaaaaaaaa, short", "PHONE_CONSENT_API_KEYS")
            .unwrap_err();
        assert!(e.to_string().contains("key 2 is 5 characters"), "{e}");
    }

    #[test]
    fn a_list_is_comma_separated() {
        let keys =
            ApiKeys::from_list(" key-aaaaaaaaaaaaaaaa,key-bbbbbbbbbbbbbbbb ,", "env").unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys.accepts("key-bbbbbbbbbbbbbbbb"));
    }
}
