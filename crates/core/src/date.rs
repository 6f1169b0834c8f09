//! Calendar dates as days since 1970-01-01: the unit of every event and of Arrow's `Date32`.

use std::fmt;

/// A calendar date, stored as days since 1970-01-01 (Arrow `Date32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i32);

impl Date {
    /// The date `days` days after 1970-01-01.
    pub const fn from_days(days: i32) -> Self {
        Date(days)
    }

    /// Days since 1970-01-01.
    pub const fn days(self) -> i32 {
        self.0
    }

    /// The date of a valid (year, month, day), or `None`.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date(days_from_civil(year, month, day)))
    }

    /// Parses exactly `yyyy-MM-dd` (SEMANTICS §1), surrounding spaces allowed.
    pub fn parse(text: &str) -> Option<Self> {
        let b = crate::normalise::trim(text).as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year = digits(&b[0..4])?;
        let month = digits(&b[5..7])?;
        let day = digits(&b[8..10])?;
        Self::from_ymd(year as i32, month, day)
    }

    /// Parses the 8 digits `yyyyMMdd` of a file-name stamp.
    pub fn parse_compact(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() != 8 {
            return None;
        }
        Self::from_ymd(
            digits(&b[0..4])? as i32,
            digits(&b[4..6])?,
            digits(&b[6..8])?,
        )
    }

    /// (year, month, day) of this date.
    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    /// This date moved by `days` days.
    pub const fn add_days(self, days: i32) -> Self {
        Date(self.0 + days)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days.
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe as u32 * 365 + yoe as u32 / 4 - yoe as u32 / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097) as u32;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe as i32 + era * 400 + i32::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_round_trip() {
        assert_eq!(Date::parse("1970-01-01"), Some(Date::from_days(0)));
        assert_eq!(Date::parse("2024-02-29").unwrap().to_string(), "2024-02-29");
        let first = Date::from_ymd(1, 1, 1).unwrap().days();
        let last = Date::from_ymd(9999, 12, 31).unwrap().days();
        for days in (first..=last).step_by(7) {
            let d = Date::from_days(days);
            assert_eq!(Date::parse(&d.to_string()), Some(d), "{d}");
        }
    }

    #[test]
    fn rejects_anything_but_yyyy_mm_dd() {
        for bad in [
            "",
            "2024-2-01",
            "2024/02/01",
            "20240201",
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-01-32",
            "2024-01-00",
            "abcd-ef-gh",
            "2024-01-01T00:00",
            "+202-01-01",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad:?}");
        }
        assert!(Date::parse(" 2024-01-01 ").is_some());
    }

    #[test]
    fn compact_stamp() {
        assert_eq!(Date::parse_compact("20190206"), Date::parse("2019-02-06"));
        assert_eq!(Date::parse_compact("20190230"), None);
        assert_eq!(Date::parse_compact("2019020"), None);
    }
}
