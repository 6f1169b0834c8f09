//! SEMANTICS §1: keys and normalisation of the values the rules read.

use crate::reject::RejectReason;

/// A normalised phone number: its 10 national digits. Displays as `+1XXXXXXXXXX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhoneNumber(u64);

impl PhoneNumber {
    /// The 10-digit national number as an integer.
    pub fn national(self) -> u64 {
        self.0
    }

    /// The phone with these 10 national digits (`None` when out of range).
    pub fn from_national(n: u64) -> Option<Self> {
        (n <= 9_999_999_999).then_some(PhoneNumber(n))
    }

    /// SEMANTICS §1: drop spaces, `-`, `.`, `(`, `)` and a leading `+`; an 11-digit number
    /// starting with `1` loses the `1`; what is left must be exactly 10 digits.
    pub fn parse(text: &str) -> Option<Self> {
        let text = trim(text);
        let text = text.strip_prefix('+').unwrap_or(text);
        let mut digits = [0u8; 11];
        let mut len = 0;
        for c in text.bytes() {
            match c {
                b' ' | b'-' | b'.' | b'(' | b')' => {}
                b'0'..=b'9' if len < digits.len() => {
                    digits[len] = c - b'0';
                    len += 1;
                }
                _ => return None,
            }
        }
        let national = match len {
            10 => &digits[..10],
            11 if digits[0] == 1 => &digits[1..11],
            _ => return None,
        };
        Some(PhoneNumber(
            national
                .iter()
                .fold(0u64, |acc, &d| acc * 10 + u64::from(d)),
        ))
    }
}

impl PhoneNumber {
    /// The E.164 text `+1XXXXXXXXXX` written into `buf`, without allocating.
    pub fn e164(self, buf: &mut [u8; 12]) -> &str {
        std::str::from_utf8(self.e164_ascii(buf)).expect("digits are ASCII")
    }

    /// [`Self::e164`] as ASCII bytes, without the UTF-8 check (bronze writes one a row).
    pub fn e164_ascii(self, buf: &mut [u8; 12]) -> &[u8; 12] {
        buf[0] = b'+';
        buf[1] = b'1';
        let mut n = self.0;
        for digit in buf[2..].iter_mut().rev() {
            *digit = b'0' + (n % 10) as u8;
            n /= 10;
        }
        buf
    }
}

impl std::fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "+1{:010}", self.0)
    }
}

/// `str::trim`, with a fast path for the usual value that starts and ends with a visible
/// ASCII character (no whitespace to find): the rules trim every field of every row.
#[inline]
pub fn trim(text: &str) -> &str {
    match text.as_bytes() {
        [] => text,
        [first, .., last] | [first @ last]
            if first.is_ascii_graphic() && last.is_ascii_graphic() =>
        {
            text
        }
        _ => text.trim(),
    }
}

/// SEMANTICS §1: the account of a legacy id (`cnsmr_idntfr_lgcy_txt`): trimmed, trailing
/// consumer-type letters removed; must then be non-empty and all digits.
pub fn account_from_legacy_id(text: &str) -> Option<&str> {
    digits_only(trim(text).trim_end_matches(|c: char| c.is_ascii_alphabetic()))
}

/// SEMANTICS §1: ENRLMT's `account_number`: trimmed, non-empty, all digits.
pub fn account_from_account_number(text: &str) -> Option<&str> {
    digits_only(trim(text))
}

fn digits_only(text: &str) -> Option<&str> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then_some(text)
}

/// SEMANTICS §1: codes (flags, source, type, status, technology) are trimmed and upper-cased.
pub fn code(text: &str) -> String {
    let mut code = String::new();
    push_code(&mut code, text);
    code
}

/// [`code`] appended to `buf`.
pub fn push_code(buf: &mut String, text: &str) {
    let t = trim(text);
    if t.bytes().all(|b| !b.is_ascii_lowercase() && b.is_ascii()) {
        buf.push_str(t);
    } else {
        buf.push_str(&t.to_uppercase());
    }
}

/// A flag as a code: `Some(true)` for `Y`, `Some(false)` for `N`, `None` for anything else.
/// Only ASCII letters upper-case to `Y` or `N`, so an ASCII comparison equals [`code`]'s.
fn yes_no(text: &str) -> Option<bool> {
    match trim(text).as_bytes() {
        [b'Y' | b'y'] => Some(true),
        [b'N' | b'n'] => Some(false),
        _ => None,
    }
}

/// A consent flag: `Y`, `N`, or empty (no statement).
pub fn consent_flag(text: &str) -> Result<Option<bool>, RejectReason> {
    match yes_no(text) {
        Some(flag) => Ok(Some(flag)),
        None if trim(text).is_empty() => Ok(None),
        None => Err(RejectReason::InvalidConsentFlag),
    }
}

/// A soft-delete flag: `Y` (soft-deleted) or `N`; anything else, empty included, rejects.
pub fn delete_flag(text: &str) -> Result<bool, RejectReason> {
    yes_no(text).ok_or(RejectReason::InvalidDeleteFlag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_is_str_trim() {
        for text in [
            "",
            " ",
            "\t",
            "x",
            " x",
            "x ",
            "\tCELL\r",
            "CELL",
            "\u{a0}Y",
            "Y\u{2003}",
            "é",
            " é ",
            "\u{feff}N",
            "a b",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn trim_is_str_trim_on_any_text(text in "[ \t\r\u{a0}\u{2003}aZ9é-]{0,6}") {
            proptest::prop_assert_eq!(trim(&text), text.trim());
        }
    }

    #[test]
    fn phone_formats_normalise_to_e164() {
        for ok in [
            "2125550101",
            "(212) 555-0101",
            "212.555.0101",
            "1-212-555-0101",
            "+1 212 555 0101",
            "+12125550101",
            " 212-555-0101 ",
            "12125550101",
            "+2125550101",
        ] {
            assert_eq!(
                PhoneNumber::parse(ok).map(|p| p.to_string()).as_deref(),
                Some("+12125550101"),
                "{ok:?}"
            );
        }
    }

    #[test]
    fn e164_text_matches_display() {
        for n in [0, 125550101, 2125550101, 9_999_999_999] {
            let p = PhoneNumber::from_national(n).unwrap();
            assert_eq!(p.e164(&mut [0; 12]), p.to_string());
        }
    }

    #[test]
    fn unusable_phones_are_rejected() {
        for bad in [
            "",
            "55501",
            "212555010",
            "22125550101",
            "121255501011",
            "212-555-010x",
            "212/555/0101",
            "++12125550101",
            "212555O101",
            "1",
        ] {
            assert_eq!(PhoneNumber::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn leading_zero_area_is_kept_as_ten_digits() {
        assert_eq!(
            PhoneNumber::parse("0125550101").unwrap().to_string(),
            "+10125550101"
        );
    }

    #[test]
    fn legacy_id_loses_consumer_type_letters_and_keeps_leading_zeros() {
        assert_eq!(
            account_from_legacy_id("0433218196001338P"),
            Some("0433218196001338")
        );
        assert_eq!(
            account_from_legacy_id(" 1000000000000001C "),
            Some("1000000000000001")
        );
        assert_eq!(
            account_from_legacy_id("1000000000000001"),
            Some("1000000000000001")
        );
        assert_eq!(account_from_legacy_id("ABCP"), None);
        assert_eq!(account_from_legacy_id("P"), None);
        assert_eq!(account_from_legacy_id("12a4P"), None);
        assert_eq!(account_from_legacy_id(""), None);
    }

    #[test]
    fn enrollment_account_number_must_be_digits_itself() {
        assert_eq!(
            account_from_account_number(" 0300000000000003 "),
            Some("0300000000000003")
        );
        assert_eq!(account_from_account_number("0300000000000003P"), None);
        assert_eq!(account_from_account_number(""), None);
    }

    #[test]
    fn codes_are_trimmed_and_upper_cased() {
        assert_eq!(code(" client "), "CLIENT");
        assert_eq!(code("Third_Party"), "THIRD_PARTY");
        assert_eq!(consent_flag(" y "), Ok(Some(true)));
        assert_eq!(consent_flag("n"), Ok(Some(false)));
        assert_eq!(consent_flag("  "), Ok(None));
        assert_eq!(consent_flag("MAYBE"), Err(RejectReason::InvalidConsentFlag));
        assert_eq!(delete_flag("y"), Ok(true));
        assert_eq!(delete_flag("N"), Ok(false));
        assert_eq!(delete_flag(""), Err(RejectReason::InvalidDeleteFlag));
    }
}
