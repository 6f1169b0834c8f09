//! SEMANTICS §1: the key of every rule, (account_number, phone_number).

use std::fmt;

use crate::normalise::PhoneNumber;

/// One (account, phone) pair. Every key is independent of every other.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// The account number: digits, leading zeros kept.
    pub account: Box<str>,
    /// The normalised phone.
    pub phone: PhoneNumber,
}

impl Key {
    /// A key from an account already normalised and a phone.
    pub fn new(account: &str, phone: PhoneNumber) -> Self {
        Key {
            account: account.into(),
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
    fn check_input_is_normalised_like_the_feed() {
        let k = Key::parse_input(" 0300000000000003", "(415) 555-0103").unwrap();
        assert_eq!(k.to_string(), "0300000000000003 +14155550103");
        assert!(Key::parse_input("", "4155550103").is_none());
        assert!(Key::parse_input("03000x", "4155550103").is_none());
        assert!(Key::parse_input("0300000000000003", "555").is_none());
    }
}
