//! Reading one decoded file: header contract, rows, rejects and duplicates (SEMANTICS §1, §6).

use std::collections::HashSet;
use std::hash::BuildHasher;

use phone_consent_core::normalise::trim;
use phone_consent_core::{Date, FileKind, RawRow, Record, RejectReason, interpret};

use crate::contract::{self, RuleFields};
use crate::pii_screen::PiiScreen;

/// Receives a file's rows as they are read. Rows are only delivered for a file whose header
/// passed its contract; the file must already be fully decoded, so nothing is half-applied.
pub trait RowSink {
    /// An accepted row: its physical line (header = 1), its fields in the kind's canonical
    /// column order (absent optional columns as ""), and its interpretation.
    fn accept(&mut self, line: u32, fields: &[&str], record: Record);
    /// A rejected row: its line, its text, its fields in canonical order when it has the
    /// header's width (`None` for `wrong_field_count`), and the first reason in SEMANTICS §1
    /// order.
    fn reject(&mut self, line: u32, raw: &str, fields: Option<&[&str]>, reason: RejectReason);
}

/// The accounting of one file: `rows_read = accepted + rejected + duplicates`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Non-blank lines after the header.
    pub rows_read: u64,
    /// Rows accepted.
    pub accepted: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Accepted rows identical to an earlier one of the same file or snapshot, dropped.
    pub duplicates: u64,
    /// Rows with a consent flag whose consent date was empty or invalid (a warning).
    pub consent_date_substituted: u64,
    /// Optional contract columns the file lacks (a warning).
    pub missing_optional: Vec<&'static str>,
    /// Header names the contract does not know (a warning).
    pub unknown_columns: Vec<String>,
    /// Accepted rows with a PII-looking value in a column that keeps no PII.
    pub pii_suspects: u64,
    /// The columns those values sat in, in order of first sight.
    pub pii_suspect_columns: Vec<&'static str>,
    /// The line of the first such row.
    pub first_pii_suspect_line: Option<u64>,
}

/// A whole file rejected: the reason and what exactly was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReject {
    /// `missing_column`, `unreadable_file`, `invalid_file_name`, …
    pub reason: RejectReason,
    /// A sentence naming the problem.
    pub detail: String,
}

/// SEMANTICS §6: remembers the accepted rows of one file or one snapshot, by a 128-bit hash
/// of their fields in canonical column order joined by `|` (so column order does not matter;
/// no field holds a `|`, so the joined text tells the fields apart).
#[derive(Debug, Default)]
pub struct Dedup {
    seen: HashSet<u128, foldhash::fast::FixedState>,
}

impl Dedup {
    /// True the first time a row, as its canonical text, is seen.
    fn first_time(&mut self, canonical_text: &[u8]) -> bool {
        let hash =
            |seed: u64| foldhash::quality::FixedState::with_seed(seed).hash_one(canonical_text);
        let id = (u128::from(hash(0x9e37_79b9_7f4a_7c15)) << 64)
            | u128::from(hash(0x2545_f491_4f6c_dd1d));
        self.seen.insert(id)
    }
}

/// A row's fields in canonical order joined by `|`: the line itself when the file's columns
/// are the contract's, in its order (hashing one slice, not a field at a time, saved 2 % of
/// a run's CPU); otherwise built in `joined`.
fn canonical_text<'a>(
    in_order: bool,
    line: &'a str,
    canonical: &[&str],
    joined: &'a mut Vec<u8>,
) -> &'a [u8] {
    if in_order {
        return line.as_bytes();
    }
    joined.clear();
    for (i, field) in canonical.iter().enumerate() {
        if i > 0 {
            joined.push(b'|');
        }
        joined.extend_from_slice(field.as_bytes());
    }
    joined
}

/// The number of lines of a decoded file: an upper bound of its rows, to size what collects
/// them. Counted with memchr's vectorised count (a byte-by-byte count was 2 % of a run).
pub fn line_count(text: &str) -> usize {
    memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1
}

/// Reads a decoded file of `kind` dated `file_date` into `sink`.
pub fn read_text(
    kind: FileKind,
    file_date: Date,
    text: &str,
    dedup: &mut Dedup,
    sink: &mut impl RowSink,
) -> Result<FileStats, FileReject> {
    if !lines_fit_u32(text.len(), || line_count(text)) {
        return Err(FileReject {
            reason: RejectReason::UnreadableFile,
            detail: format!(
                "the file has {} lines, more than the {} a row's line number can be",
                line_count(text),
                u32::MAX
            ),
        });
    }
    let mut lines = split_ascii(text, b'\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let header = lines
        .next()
        .filter(|h| !h.trim().is_empty())
        .ok_or_else(|| FileReject {
            reason: RejectReason::MissingColumn,
            detail: "the file has no header row".into(),
        })?;
    let map = contract::match_header(kind, header).map_err(|missing| FileReject {
        reason: RejectReason::MissingColumn,
        detail: format!("missing required column(s): {}", missing.join(", ")),
    })?;
    let fields_of = contract::rule_fields(kind);
    let screen = PiiScreen::new(kind);
    let mut stats = FileStats {
        missing_optional: map.missing_optional.clone(),
        unknown_columns: map.unknown.clone(),
        ..FileStats::default()
    };
    let in_order = map.width == map.positions.len()
        && (map.positions.iter().enumerate()).all(|(i, p)| *p == Some(i));
    let mut joined = Vec::new();
    let mut fields: Vec<&str> = Vec::with_capacity(map.width);
    let mut canonical: Vec<&str> = Vec::with_capacity(map.positions.len());
    for (i, line) in lines.enumerate() {
        // Exact: the file has at most `u32::MAX` lines (checked above).
        let line_no = (i + 2) as u32;
        if trim(line).is_empty() {
            continue;
        }
        stats.rows_read += 1;
        fields.clear();
        fields.extend(split_ascii(line, b'|'));
        if fields.len() != map.width {
            stats.rejected += 1;
            sink.reject(line_no, line, None, RejectReason::WrongFieldCount);
            continue;
        }
        canonical.clear();
        canonical.extend(map.positions.iter().map(|p| p.map_or("", |i| fields[i])));
        match interpret(kind, file_date, &raw_row(&fields_of, &canonical)) {
            Err(reason) => {
                stats.rejected += 1;
                sink.reject(line_no, line, Some(&canonical), reason);
            }
            Ok(_) if !dedup.first_time(canonical_text(in_order, line, &canonical, &mut joined)) => {
                stats.duplicates += 1
            }
            Ok(record) => {
                stats.accepted += 1;
                stats.consent_date_substituted += u64::from(record.consent_date_substituted);
                if let Some(column) = screen.first_suspect(line, &canonical) {
                    stats.pii_suspects += 1;
                    stats
                        .first_pii_suspect_line
                        .get_or_insert(u64::from(line_no));
                    if !stats.pii_suspect_columns.contains(&column) {
                        stats.pii_suspect_columns.push(column);
                    }
                }
                sink.accept(line_no, &canonical, record);
            }
        }
    }
    Ok(stats)
}

/// Whether every line of a text of `len` bytes and `lines()` lines can be numbered by a
/// `u32` (rows keep their line so, see `Provenance`): only a text of 4 GiB or more is counted.
fn lines_fit_u32(len: usize, lines: impl FnOnce() -> usize) -> bool {
    len < u32::MAX as usize || lines() <= u32::MAX as usize
}

/// `text.split(sep)` for an ASCII separator, found with memchr: `str::split` checks every
/// candidate through a `memcmp` call, a tenth of a snapshot's reading time.
fn split_ascii(text: &str, sep: u8) -> impl Iterator<Item = &str> {
    debug_assert!(sep.is_ascii());
    let mut hits = memchr::memchr_iter(sep, text.as_bytes());
    let mut start = Some(0);
    std::iter::from_fn(move || {
        let from = start?;
        match hits.next() {
            Some(at) => {
                start = Some(at + 1);
                Some(&text[from..at])
            }
            None => {
                start = None;
                Some(&text[from..])
            }
        }
    })
}

/// Interprets a row given in the kind's canonical column order, as bronze keeps it: the
/// same rules a row met when it was read from its file.
pub fn interpret_canonical(
    kind: FileKind,
    file_date: Date,
    canonical: &[&str],
) -> Result<Record, RejectReason> {
    interpret(
        kind,
        file_date,
        &raw_row(&contract::rule_fields(kind), canonical),
    )
}

fn raw_row<'a>(f: &RuleFields, c: &[&'a str]) -> RawRow<'a> {
    let opt = |i: Option<usize>| i.map_or("", |i| c[i]);
    RawRow {
        account: c[f.account],
        phone: c[f.phone],
        source: c[f.source],
        phone_type: c[f.phone_type],
        status: c[f.status],
        technology: c[f.technology],
        quality_score: c[f.quality_score],
        record_id: opt(f.record_id),
        consent_flag: opt(f.consent_flag),
        consent_date: opt(f.consent_date),
        delete_flag: opt(f.delete_flag),
        event_date: opt(f.event_date),
    }
}

/// The header map of a kind's canonical header (for tests and the generator).
pub fn canonical_header(kind: FileKind) -> String {
    contract::columns(kind)
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join("|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use phone_consent_core::EventKind;

    #[derive(Default)]
    struct Collect {
        accepted: Vec<(u32, Record)>,
        rejected: Vec<(u32, String, RejectReason)>,
    }

    impl RowSink for Collect {
        fn accept(&mut self, line: u32, _fields: &[&str], record: Record) {
            self.accepted.push((line, record));
        }
        fn reject(&mut self, line: u32, raw: &str, _fields: Option<&[&str]>, reason: RejectReason) {
            self.rejected.push((line, raw.to_owned(), reason));
        }
    }

    const H: &str = "cnsmr_phn_id|cnsmr_idntfr_lgcy_txt|cnsmr_idntfr_agncy_id|cnsmr_idntfr_ssn_txt|cnsmr_nm_frst_txt|cnsmr_nm_lst_txt|cnsmr_phn_nmbr_txt|cnsmr_phn_typ_val_txt|cnsmr_phn_stts_val_txt|cnsmr_phn_src_val_txt|cnsmr_phn_tchnlgy_typ_val_txt|cnsmr_phn_qlty_score_nmbr|cnsmr_phn_cnsnt_flg|cnsmr_phn_cnsnt_dt";

    fn read(text: &str) -> (Result<FileStats, FileReject>, Collect) {
        let mut sink = Collect::default();
        let d = Date::parse("2024-01-01").unwrap();
        let r = read_text(
            FileKind::Snapshot,
            d,
            text,
            &mut Dedup::default(),
            &mut sink,
        );
        (r, sink)
    }

    #[test]
    fn accepted_rows_holding_pii_in_other_columns_are_counted_by_line_and_column() {
        // Line 3: an e-mail address as the quality score; line 4: the row's own SSN as its
        // status; line 2: an `@` in a name only, which is no column the screen reads.
        let text = format!(
            "{H}\n\
             a|1000000000000001P|AG|123456789|A@B|B|2125550101|CELL|ACTIVE|CLIENT|WIRELESS|80||\n\
             b|1000000000000001P|AG|123456789|A|B|2125550102|CELL|ACTIVE|CLIENT|WIRELESS|a@b.com||\n\
             c|1000000000000001P|AG|987654321|A|B|2125550103|CELL|987654321|CLIENT|WIRELESS|80||\n"
        );
        let (stats, sink) = read(&text);
        let stats = stats.unwrap();
        assert_eq!((stats.accepted, stats.pii_suspects), (3, 2));
        assert_eq!(stats.first_pii_suspect_line, Some(3));
        assert_eq!(
            stats.pii_suspect_columns,
            ["cnsmr_phn_qlty_score_nmbr", "cnsmr_phn_stts_val_txt"]
        );
        assert_eq!(
            sink.accepted.len(),
            3,
            "suspects are accepted, only counted"
        );
    }

    #[test]
    fn rows_are_accepted_rejected_or_dropped_and_all_counted() {
        let text = format!(
            "{H}\r\na|1000000000000001P|AG|1|A|B|(212) 555-0101|CELL|ACTIVE|CLIENT|WIRELESS|80||\r\n\r\n\
             a|1000000000000001P|AG|1|A|B|(212) 555-0101|CELL|ACTIVE|CLIENT|WIRELESS|80||\n\
             c|1000000000000001P|AG|1|A|B|55501|CELL|ACTIVE|CLIENT|WIRELESS|80||\n\
             d|too|few\n\
             e|2P|AG|1|A|B|4155550103|CELL|ACTIVE|CLIENT|WIRELESS|80|MAYBE|2023-01-01\n"
        );
        let (stats, sink) = read(&text);
        let stats = stats.unwrap();
        assert_eq!(
            (
                stats.rows_read,
                stats.accepted,
                stats.rejected,
                stats.duplicates
            ),
            (5, 1, 3, 1)
        );
        assert_eq!(
            stats.rows_read,
            stats.accepted + stats.rejected + stats.duplicates
        );
        assert_eq!(sink.accepted[0].0, 2);
        assert_eq!(sink.accepted[0].1.kind, EventKind::Observed);
        let rejects: Vec<(u32, RejectReason)> = sink.rejected.iter().map(|r| (r.0, r.2)).collect();
        assert_eq!(
            rejects,
            [
                (5, RejectReason::InvalidPhone),
                (6, RejectReason::WrongFieldCount),
                (7, RejectReason::InvalidConsentFlag)
            ]
        );
        assert_eq!(sink.rejected[1].1, "d|too|few");
    }

    #[test]
    fn a_missing_required_column_rejects_the_file_and_delivers_nothing() {
        let header = H.replace("|cnsmr_phn_src_val_txt", "");
        let (r, sink) = read(&format!(
            "{header}\na|1P|AG|1|A|B|2125550101|CELL|ACTIVE|WIRELESS|80||\n"
        ));
        let err = r.unwrap_err();
        assert_eq!(err.reason, RejectReason::MissingColumn);
        assert!(err.detail.contains("cnsmr_phn_src_val_txt"));
        assert!(sink.accepted.is_empty() && sink.rejected.is_empty());
        assert_eq!(read("").0.unwrap_err().reason, RejectReason::MissingColumn);
    }

    #[test]
    fn duplicates_are_identical_in_every_column_whatever_the_column_order() {
        let mut dedup = Dedup::default();
        let mut sink = Collect::default();
        let d = Date::parse("2024-01-01").unwrap();
        let row = "a|1000000000000001P|AG|1|A|B|2125550101|CELL|ACTIVE|CLIENT|WIRELESS|80||";
        let s1 = read_text(
            FileKind::Snapshot,
            d,
            &format!("{H}\n{row}\n"),
            &mut dedup,
            &mut sink,
        )
        .unwrap();
        // Same row, columns in another order, in a second part of the snapshot.
        let mut cols: Vec<&str> = H.split('|').collect();
        let mut vals: Vec<&str> = row.split('|').collect();
        cols.swap(0, 1);
        vals.swap(0, 1);
        let text = format!(
            "{}\n{}\n{}\n",
            cols.join("|"),
            vals.join("|"),
            vals.join("|").replace("|80|", "|81|")
        );
        let s2 = read_text(FileKind::Snapshot, d, &text, &mut dedup, &mut sink).unwrap();
        assert_eq!((s1.accepted, s2.accepted, s2.duplicates), (1, 1, 1));
    }

    #[test]
    fn a_part_lacking_an_optional_column_or_with_an_unknown_one_still_finds_duplicates() {
        let mut dedup = Dedup::default();
        let mut sink = Collect::default();
        let d = Date::parse("2024-01-01").unwrap();
        // The row has no cnsmr_phn_id: in canonical order it is an empty first field.
        let tail = "1000000000000001P|AG|1|A|B|2125550101|CELL|ACTIVE|CLIENT|WIRELESS|80||";
        let s1 = read_text(
            FileKind::Snapshot,
            d,
            &format!("{H}\n|{tail}\n"),
            &mut dedup,
            &mut sink,
        )
        .unwrap();
        let header = format!("{}|note", H.split_once('|').unwrap().1);
        let text = format!(
            "{header}\n{tail}|x\n{tail}|y\n{}|y\n",
            tail.replace("|80|", "|81|")
        );
        let s2 = read_text(FileKind::Snapshot, d, &text, &mut dedup, &mut sink).unwrap();
        assert_eq!((s1.accepted, s2.accepted, s2.duplicates), (1, 1, 2));
    }

    #[test]
    fn line_count_counts_every_line() {
        for (text, lines) in [
            ("", 1),
            ("h", 1),
            ("h\n", 2),
            ("h\na\n\nb", 4),
            ("h\r\na", 2),
        ] {
            assert_eq!(line_count(text), lines, "{text:?}");
            assert_eq!(line_count(text), text.split('\n').count());
        }
    }

    #[test]
    fn lines_are_counted_only_in_a_text_of_4_gib_and_must_fit_a_u32() {
        let max = u32::MAX as usize;
        assert!(lines_fit_u32(max - 1, || unreachable!(
            "a shorter text has fewer lines"
        )));
        assert!(lines_fit_u32(max, || max));
        assert!(!lines_fit_u32(max, || max + 1));
    }

    #[test]
    fn split_ascii_is_str_split() {
        for text in ["", "|", "a", "a|b", "|a|", "a||b|", "é|x|\u{1f600}|"] {
            let ours: Vec<&str> = split_ascii(text, b'|').collect();
            assert_eq!(ours, text.split('|').collect::<Vec<_>>(), "{text:?}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn any_text() -> impl Strategy<Value = Vec<u8>> {
            // Arbitrary bytes, and mutations of a valid file, which reach deeper.
            let valid = format!(
                "{H}\na|1000000000000001P|AG|1|A|B|2125550101|CELL|ACTIVE|CLIENT|WIRELESS|80|Y|2023-01-01\n"
            );
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..400),
                (prop::collection::vec((0..200usize, any::<u8>()), 0..12)).prop_map(move |edits| {
                    let mut b = valid.clone().into_bytes();
                    for (at, byte) in edits {
                        let at = at % (b.len() + 1);
                        b.insert(at, byte);
                    }
                    b
                }),
            ]
        }

        proptest! {
            #[test]
            fn split_ascii_is_str_split_on_any_text(text in "[a|\n\r é]{0,12}") {
                let ours: Vec<&str> = split_ascii(&text, b'|').collect();
                prop_assert_eq!(ours, text.split('|').collect::<Vec<_>>());
            }

            #[test]
            fn no_input_panics_and_every_row_is_accounted_for(bytes in any_text(), kind in 0..3u8) {
                let kind = [FileKind::Snapshot, FileKind::Change, FileKind::Enrollment][kind as usize];
                if let Ok(text) = crate::decode::decode_bytes(&bytes) {
                    let mut sink = Collect::default();
                    let d = Date::parse("2024-01-01").unwrap();
                    if let Ok(stats) = read_text(kind, d, &text, &mut Dedup::default(), &mut sink) {
                        prop_assert_eq!(stats.rows_read, stats.accepted + stats.rejected + stats.duplicates);
                        prop_assert_eq!(stats.accepted as usize, sink.accepted.len());
                        prop_assert_eq!(stats.rejected as usize, sink.rejected.len());
                        let blank = text.split('\n').skip(1).filter(|l| l.trim().is_empty()).count() as u64;
                        prop_assert_eq!(stats.rows_read + blank, text.split('\n').count() as u64 - 1);
                    }
                }
            }
        }
    }
}
