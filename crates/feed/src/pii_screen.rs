//! PII-looking values in columns that keep no PII: an accepted row's non-PII column holding
//! the row's own SSN or name, an SSN shape (`123-45-6789`, or nine digits alone) or an
//! e-mail address. Such values would reach silver and gold in clear (a data-quality check).

use phone_consent_core::FileKind;
use phone_consent_core::normalise::trim;

use crate::contract::{self, Column};

/// The most PII columns a contract has (SSN, first and last name).
const MAX_PII: usize = 3;

/// Where a kind's PII columns and screened columns sit in canonical order.
#[derive(Clone, Debug)]
pub(crate) struct PiiScreen {
    pii: Vec<usize>,
    screened: Vec<usize>,
    columns: &'static [Column],
}

impl PiiScreen {
    pub(crate) fn new(kind: FileKind) -> Self {
        let columns = contract::columns(kind);
        let rule = contract::rule_fields(kind);
        // Account and phone must normalise for a row to be accepted: no PII can hide there.
        let normalised = [rule.account, rule.phone];
        let (pii, screened): (Vec<usize>, Vec<usize>) = (0..columns.len())
            .filter(|i| !normalised.contains(i))
            .partition(|i| columns[*i].pii);
        assert!(
            pii.len() <= MAX_PII,
            "a contract with more PII columns than screened"
        );
        PiiScreen {
            pii,
            screened,
            columns,
        }
    }

    /// The first screened column of the row (canonical order) whose value looks like PII.
    /// `line` is the row's text, which holds every field: fields are searched for an e-mail
    /// address only when it has an `@` (one search a row instead of one a field).
    pub(crate) fn first_suspect(&self, line: &str, fields: &[&str]) -> Option<&'static str> {
        let email_possible = memchr::memchr(b'@', line.as_bytes()).is_some();
        // The row's own PII values, those not blank (every row is screened: no allocation).
        let mut own = [""; MAX_PII];
        let mut n = 0;
        for p in self.pii.iter().filter_map(|i| fields.get(*i)) {
            if !trim(p).is_empty() {
                own[n] = p;
                n += 1;
            }
        }
        let own = &own[..n];
        self.screened
            .iter()
            .find(|i| {
                let value = fields.get(**i).map_or("", |v| trim(v));
                !value.is_empty()
                    && (looks_like_ssn(value)
                        || (email_possible && looks_like_email(value))
                        || own.contains(&value))
            })
            .map(|i| self.columns[*i].name)
    }
}

/// An SSN shape: `123-45-6789`, or nine digits alone.
fn looks_like_ssn(value: &str) -> bool {
    let b = value.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    (b.len() == 9 && digits(b))
        || (b.len() == 11
            && b[3] == b'-'
            && b[6] == b'-'
            && digits(&b[..3])
            && digits(&b[4..6])
            && digits(&b[7..]))
}

/// An e-mail address shape: something, `@`, a domain with a dot.
fn looks_like_email(value: &str) -> bool {
    value
        .split_once('@')
        .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonfin(fields: [(usize, &'static str); 3]) -> Vec<&'static str> {
        let mut row = vec![
            "4fc96ba4-6767-4eb2-aa6b-b60761b22041",
            "0433218196001338P",
            "AGN731262",
            "913814257",
            "Amanda",
            "Adams",
            "9544841106",
            "HOME",
            "ACTIVE",
            "CLIENT",
            "LANDLINE",
            "36",
            "Y",
            "2020-01-01",
        ];
        for (i, v) in fields {
            row[i] = v;
        }
        row
    }

    /// The screen's verdict on a row whose line is its fields joined by `|`.
    fn suspect(screen: &PiiScreen, row: &[&str]) -> Option<&'static str> {
        screen.first_suspect(&row.join("|"), row)
    }

    #[test]
    fn a_clean_row_of_the_real_feed_passes() {
        let screen = PiiScreen::new(FileKind::Snapshot);
        assert_eq!(suspect(&screen, &nonfin([(7, "HOME"); 3])), None);
    }

    #[test]
    fn own_ssn_or_name_ssn_shapes_and_emails_are_suspects() {
        let screen = PiiScreen::new(FileKind::Snapshot);
        for (i, value, column) in [
            (7, "Amanda", "cnsmr_phn_typ_val_txt"),
            (8, "913814257", "cnsmr_phn_stts_val_txt"),
            (2, "123-45-6789", "cnsmr_idntfr_agncy_id"),
            (11, "a.adams@example.com", "cnsmr_phn_qlty_score_nmbr"),
        ] {
            let row = nonfin([(i, value), (i, value), (i, value)]);
            assert_eq!(suspect(&screen, &row), Some(column), "{value}");
        }
    }

    #[test]
    fn pii_columns_themselves_and_short_numbers_are_not_screened() {
        let screen = PiiScreen::new(FileKind::Snapshot);
        // The SSN column holds an SSN; a quality score of 9 digits' worth is not an SSN shape.
        let row = nonfin([(3, "123-45-6789"), (11, "100"), (2, "AGN123456")]);
        assert_eq!(suspect(&screen, &row), None);
        assert!(!looks_like_ssn("12345678") && !looks_like_email("@home"));
    }
}
