//! Decoding a feed file to text: gzip (multi-member) recognised by content, else plain.

use std::path::Path;

/// A file's full text, decoded and checked; or why it is unreadable.
pub fn decode(path: &Path) -> Result<String, String> {
    let raw = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    decode_bytes(&raw)
}

/// Decodes bytes: gunzip when they start with the gzip magic (all members, so concatenated
/// gzip works), then UTF-8 validation; a UTF-8 byte-order mark is dropped.
pub fn decode_bytes(raw: &[u8]) -> Result<String, String> {
    decode_into(raw, &mut Vec::new()).map(str::to_owned)
}

/// [`decode_bytes`] into `out` (cleared first), whose allocation a caller reading many files
/// keeps: the text, borrowed from `out`.
pub fn decode_into<'a>(raw: &[u8], out: &'a mut Vec<u8>) -> Result<&'a str, String> {
    out.clear();
    if raw.starts_with(&[0x1f, 0x8b]) {
        crate::gunzip::gunzip_members(raw, out).map_err(|e| {
            format!(
                "gzip stream is damaged or truncated after {} decoded bytes",
                e.decoded
            )
        })?;
    } else {
        out.extend_from_slice(raw);
    }
    let text = std::str::from_utf8(out).map_err(|e| {
        let at = e.valid_up_to();
        let line = 1 + out[..at].iter().filter(|&&b| b == b'\n').count();
        format!("invalid UTF-8 at byte {at} (line {line})")
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gunzip::tests::gz;

    #[test]
    fn gzip_is_recognised_by_content_and_members_concatenate() {
        let mut two = gz(b"a|b\n1|2\n");
        two.extend(gz(b"3|4\n"));
        assert_eq!(decode_bytes(&two).unwrap(), "a|b\n1|2\n3|4\n");
        assert_eq!(decode_bytes(b"a|b\n").unwrap(), "a|b\n");
    }

    #[test]
    fn truncated_gzip_and_bad_utf8_are_unreadable() {
        let whole = gz(&b"a|b\n1|2\n".repeat(1000));
        assert!(decode_bytes(&whole[..whole.len() / 2]).is_err());
        assert!(
            decode_bytes(&whole[..whole.len() - 4]).is_err(),
            "missing trailer"
        );
        let err = decode_bytes(b"a|b\n1|\xff\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn a_reused_buffer_holds_only_the_latest_file() {
        let mut out = Vec::new();
        assert_eq!(
            decode_into(&gz(b"a|b\n1|2\n"), &mut out).unwrap(),
            "a|b\n1|2\n"
        );
        assert_eq!(decode_into(b"c\n", &mut out).unwrap(), "c\n");
        assert!(decode_into(b"\xff", &mut out).is_err());
    }

    #[test]
    fn byte_order_mark_is_dropped() {
        assert_eq!(decode_bytes("\u{feff}a|b\n".as_bytes()).unwrap(), "a|b\n");
    }
}
