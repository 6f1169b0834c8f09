//! SEMANTICS §1: the key of every rule, (account_number, phone_number).

use std::fmt;

use crate::normalise::PhoneNumber;

/// One (account, phone) pair. Every key is independent of every other.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// The account number: digits, leading zeros kept.
    pub account: Account,
    /// The normalised phone.
    pub phone: PhoneNumber,
}

/// An account number: a string of digits, leading zeros kept. Held as a number and a length
/// (up to 38 digits; longer ones as text), so keys hash and compare without touching the heap.
/// The number is kept as two `u64` halves: a `u128` field would align every key to 16 bytes
/// and make it 48 bytes instead of 32 in each of a run's key maps. Orders as its text does.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Account(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Digits { high: u64, low: u64, len: u8 },
    Long(Box<str>),
}

impl Repr {
    fn digits(value: u128, len: u8) -> Self {
        Repr::Digits {
            high: (value >> 64) as u64,
            low: value as u64,
            len,
        }
    }
}

/// The number held by [`Repr::Digits`].
fn value(high: u64, low: u64) -> u128 {
    (u128::from(high) << 64) | u128::from(low)
}

/// The longest account held as a number: 10^38 - 1 fits in a `u128`.
const MAX_DIGITS: usize = 38;

impl Account {
    /// The account of an already normalised, all-digit text.
    pub fn from_digits(digits: &str) -> Self {
        debug_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        if digits.len() > MAX_DIGITS {
            return Account(Repr::Long(digits.into()));
        }
        let value = digits
            .bytes()
            .fold(0u128, |acc, b| acc * 10 + u128::from(b - b'0'));
        Account(Repr::digits(value, digits.len() as u8))
    }

    /// The account's text, without allocating.
    pub fn text(&self) -> AccountText<'_> {
        match &self.0 {
            Repr::Digits { high, low, len } => {
                let mut buf = [b'0'; MAX_DIGITS];
                let n = usize::from(*len);
                // Most accounts fit a u64, whose division is much cheaper than a u128's.
                match *high {
                    0 => write_digits(&mut buf[..n], *low),
                    _ => {
                        const TEN_19: u128 = 10_000_000_000_000_000_000;
                        let value = value(*high, *low);
                        let split = n - 19;
                        write_digits(&mut buf[split..n], (value % TEN_19) as u64);
                        write_digits(&mut buf[..split], (value / TEN_19) as u64);
                    }
                }
                AccountText::Inline(buf, *len)
            }
            Repr::Long(text) => AccountText::Long(text),
        }
    }
}

/// Writes `n` right-aligned into `digits`, zero-padded, two digits per division (every
/// key's account is rendered for each table a run writes).
fn write_digits(digits: &mut [u8], mut n: u64) {
    const PAIRS: [u8; 200] = {
        let mut pairs = [0u8; 200];
        let mut i = 0;
        while i < 100 {
            pairs[2 * i] = b'0' + (i / 10) as u8;
            pairs[2 * i + 1] = b'0' + (i % 10) as u8;
            i += 1;
        }
        pairs
    };
    let mut end = digits.len();
    while end >= 2 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        digits[end - 2..end].copy_from_slice(&PAIRS[pair..pair + 2]);
        end -= 2;
    }
    if end == 1 {
        digits[0] = b'0' + (n % 10) as u8;
    }
}

impl Ord for Account {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (&self.0, &other.0) {
            (
                &Repr::Digits {
                    high: ha,
                    low: la,
                    len: na,
                },
                &Repr::Digits {
                    high: hb,
                    low: lb,
                    len: nb,
                },
            ) => {
                let (a, b) = (value(ha, la), value(hb, lb));
                if na == nb {
                    return a.cmp(&b);
                }
                let width = na.max(nb);
                let scale = |v: u128, len: u8| v * 10u128.pow(u32::from(width - len));
                scale(a, na).cmp(&scale(b, nb)).then(na.cmp(&nb))
            }
            _ => (*self.text()).cmp(&*other.text()),
        }
    }
}

impl PartialOrd for Account {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.text())
    }
}

/// An account's text (see [`Account::text`]).
pub enum AccountText<'a> {
    /// Up to 38 digits, on the stack.
    Inline([u8; MAX_DIGITS], u8),
    /// A longer account.
    Long(&'a str),
}

impl std::ops::Deref for AccountText<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            AccountText::Inline(buf, len) => {
                std::str::from_utf8(&buf[..usize::from(*len)]).expect("digits are ASCII")
            }
            AccountText::Long(text) => text,
        }
    }
}

impl AsRef<str> for AccountText<'_> {
    fn as_ref(&self) -> &str {
        self
    }
}

impl Key {
    /// A key from an account already normalised and a phone.
    pub fn new(account: &str, phone: PhoneNumber) -> Self {
        Key {
            account: Account::from_digits(account),
            phone,
        }
    }

    /// The key of a check's input (SEMANTICS §7): the account must be all digits after
    /// trimming, the phone in any common US format. `None` is `invalid_input`.
    pub fn parse_input(account: &str, phone: &str) -> Option<Self> {
        let account = crate::normalise::account_from_account_number(account)?;
        Some(Key::new(account, PhoneNumber::parse(phone)?))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.account, self.phone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_32_bytes() {
        assert_eq!(std::mem::size_of::<Key>(), 32);
    }

    #[test]
    fn accounts_keep_leading_zeros_and_order_as_text() {
        let texts = [
            "0",
            "00",
            "000123",
            "09",
            "1",
            "10",
            "100",
            "12",
            "120",
            "9",
            "99999999999999999999999999999999999999",
            "18446744073709551616",
            "00018446744073709551615",
            "999999999999999999999999999999999999999",
            "0000000000000000000000000000000000000000001",
        ];
        let accounts: Vec<Account> = texts.iter().map(|t| Account::from_digits(t)).collect();
        for (a, t) in accounts.iter().zip(texts) {
            assert_eq!(a.to_string(), t);
        }
        for (a, ta) in accounts.iter().zip(texts) {
            for (b, tb) in accounts.iter().zip(texts) {
                assert_eq!(a.cmp(b), ta.cmp(tb), "{ta} vs {tb}");
                assert_eq!(a == b, ta == tb);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn accounts_order_as_their_text(
            a in "[0-9]{1,45}",
            b in "[0-9]{1,45}",
            same_a in "[0-9]{16}",
            same_b in "[0-9]{16}",
        ) {
            for (a, b) in [(&a, &b), (&same_a, &same_b), (&a, &a)] {
                let (x, y) = (Account::from_digits(a), Account::from_digits(b));
                proptest::prop_assert_eq!(x.cmp(&y), a.cmp(b), "{} vs {}", a, b);
                proptest::prop_assert_eq!(&*x.text(), a.as_str());
            }
        }
    }

    #[test]
    fn check_input_is_normalised_like_the_feed() {
        let k = Key::parse_input(" 0300000000000003", "(415) 555-0103").unwrap();
        assert_eq!(k.to_string(), "0300000000000003 +14155550103");
        assert!(Key::parse_input("", "4155550103").is_none());
        assert!(Key::parse_input("03000x", "4155550103").is_none());
        assert!(Key::parse_input("0300000000000003", "555").is_none());
    }
}
