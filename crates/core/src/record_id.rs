//! A phone record id (`cnsmr_phn_id` / `cnsmr_phn_hst_id`), held small: every stored event
//! carries one, and it is nearly unique to its row.

use std::cmp::Ordering;
use std::ops::Deref;
use std::sync::Arc;

/// A record id, as written. The feed's are UUIDs in lower case, held as their 16 bytes; a
/// short id is held inline; only another long one allocates, and is shared by a key's events
/// that repeat it. 24 bytes, where the same UUIDs held as text took 40.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RecordId {
    /// A UUID (`8-4-4-4-12` hex digits, letters all of one case): its bytes, and whether
    /// its letters are upper case.
    Uuid { upper: bool, bytes: [u8; 16] },
    /// A text of at most [`RecordId::INLINE`] bytes: its bytes, then zeros.
    Inline {
        len: u8,
        bytes: [u8; RecordId::INLINE],
    },
    /// Any other text.
    Shared(Arc<str>),
}

/// Where each of a UUID's 16 bytes starts in its text (two hex digits each; dashes at 8, 13,
/// 18 and 23).
const BYTE_AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/// Per byte: a hex digit's value, with [`LOWER`] or [`UPPER`] for a letter, or [`NOT_HEX`].
const HEX: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut c = 0;
    while c < 256 {
        table[c] = match c as u8 {
            b @ b'0'..=b'9' => b - b'0',
            b @ b'a'..=b'f' => (b - b'a' + 10) | LOWER,
            b @ b'A'..=b'F' => (b - b'A' + 10) | UPPER,
            _ => NOT_HEX,
        };
        c += 1;
    }
    table
};
const LOWER: u8 = 0x10;
const UPPER: u8 = 0x20;
const NOT_HEX: u8 = 0xff;

impl RecordId {
    /// The longest text held inline: the enum is then 24 bytes.
    pub(crate) const INLINE: usize = 22;

    /// The id of this text. One text has one form, so equal ids are equal texts.
    pub(crate) fn new(text: &str) -> Self {
        if let Some((upper, bytes)) = uuid_bytes(text) {
            return RecordId::Uuid { upper, bytes };
        }
        if text.len() > Self::INLINE {
            return RecordId::Shared(Arc::from(text));
        }
        let mut bytes = [0; Self::INLINE];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        RecordId::Inline {
            len: text.len() as u8,
            bytes,
        }
    }

    /// The text, as written.
    pub(crate) fn text(&self) -> RecordIdText<'_> {
        match self {
            RecordId::Uuid { upper, bytes } => RecordIdText::Uuid(uuid_text(*upper, bytes)),
            RecordId::Inline { len, bytes } => RecordIdText::Text(
                std::str::from_utf8(&bytes[..usize::from(*len)])
                    .expect("an inline id is a whole str's bytes"),
            ),
            RecordId::Shared(text) => RecordIdText::Text(text),
        }
    }

    /// Compares as the texts compare.
    pub(crate) fn text_cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            // Hex digits of one case sort as their values, and the dashes stand alike.
            (
                RecordId::Uuid { upper, bytes },
                RecordId::Uuid {
                    upper: other_upper,
                    bytes: other_bytes,
                },
            ) if upper == other_upper => bytes.cmp(other_bytes),
            _ => (*self.text()).cmp(&*other.text()),
        }
    }
}

/// A UUID's bytes and letter case, when `text` is a UUID whose letters are of one case.
fn uuid_bytes(text: &str) -> Option<(bool, [u8; 16])> {
    let text: &[u8; 36] = text.as_bytes().try_into().ok()?;
    if [8, 13, 18, 23].iter().any(|&i| text[i] != b'-') {
        return None;
    }
    let mut bytes = [0u8; 16];
    let mut seen = 0;
    for (byte, at) in bytes.iter_mut().zip(BYTE_AT) {
        let (high, low) = (HEX[usize::from(text[at])], HEX[usize::from(text[at + 1])]);
        if high == NOT_HEX || low == NOT_HEX {
            return None;
        }
        seen |= high | low;
        *byte = ((high & 15) << 4) | (low & 15);
    }
    (seen & (LOWER | UPPER) != LOWER | UPPER).then_some((seen & UPPER != 0, bytes))
}

/// The text of a UUID's bytes, in this letter case.
fn uuid_text(upper: bool, bytes: &[u8; 16]) -> [u8; 36] {
    let digits = match upper {
        true => b"0123456789ABCDEF",
        false => b"0123456789abcdef",
    };
    let mut text = [b'-'; 36];
    for (byte, at) in bytes.iter().zip(BYTE_AT) {
        text[at] = digits[usize::from(byte >> 4)];
        text[at + 1] = digits[usize::from(byte & 15)];
    }
    text
}

/// A record id's text, as [`crate::Attributes::record_id`] gives it: a `str` once
/// dereferenced.
#[derive(Clone, Copy)]
pub enum RecordIdText<'a> {
    /// A UUID written out.
    Uuid([u8; 36]),
    /// Text held as it was written.
    Text(&'a str),
}

impl Deref for RecordIdText<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            RecordIdText::Uuid(text) => {
                std::str::from_utf8(text).expect("a UUID is written in hex digits and dashes")
            }
            RecordIdText::Text(text) => text,
        }
    }
}

impl std::fmt::Debug for RecordIdText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_uuid_of_one_letter_case_is_held_as_its_bytes() {
        let lower = "cf6d4ea3-62e3-457b-ae9c-72ac2a5cc59a";
        let id = RecordId::new(lower);
        assert!(matches!(id, RecordId::Uuid { upper: false, .. }));
        assert_eq!(&*id.text(), lower);
        let upper = lower.to_uppercase();
        assert!(matches!(
            RecordId::new(&upper),
            RecordId::Uuid { upper: true, .. }
        ));
        assert_eq!(&*RecordId::new(&upper).text(), upper);
        assert_ne!(RecordId::new(&upper), id);
        assert_eq!(std::mem::size_of::<RecordId>(), 24);
    }

    #[test]
    fn other_ids_are_inline_when_short_and_shared_when_long() {
        let mixed = "Cf6d4ea3-62e3-457b-ae9c-72ac2a5cc59a";
        let moved = "cf6d4ea362e3-457b-ae9c-72ac2a5cc59a-";
        for text in [mixed, moved, "cf6d4ea3-62e3-457b-ae9c-72ac2a5cc59g"] {
            assert!(matches!(RecordId::new(text), RecordId::Shared(_)), "{text}");
            assert_eq!(&*RecordId::new(text).text(), text);
        }
        let at_limit = "y".repeat(RecordId::INLINE);
        assert!(matches!(RecordId::new(&at_limit), RecordId::Inline { .. }));
        assert_eq!(&*RecordId::new(&at_limit).text(), at_limit);
        assert_eq!(&*RecordId::new("").text(), "");
    }

    proptest! {
        #[test]
        fn every_text_reads_back_as_written_and_compares_as_text(
            a in "([0-9a-fA-F-]{36}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}|.{0,40})",
            b in "([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}|.{0,40})",
        ) {
            let (x, y) = (RecordId::new(&a), RecordId::new(&b));
            prop_assert_eq!(&*x.text(), a.as_str());
            prop_assert_eq!(x.text_cmp(&y), a.cmp(&b));
            prop_assert_eq!(x == y, a == b);
        }
    }
}
