//! Our generator of a client-like feed, with its ground truth.
//!
//! It reproduces what SPEC.md ("Inputs", "What that generator does") says the client's own
//! generator does, in the byte format of `conformance/real-feed-s001/`: the same file names,
//! headers, column order, value shapes and CRLF line ends, gzipped. Beside the feed it writes
//! `truth.csv`, the state every (account, phone) really ends in.
//!
//! The phone table is drawn once from the seed; then every file is written independently, in
//! parallel, from that table and its own random stream seeded by (seed, kind, file index), so
//! the bytes depend only on the options, never on thread scheduling.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::{Compression, GzBuilder};
use rayon::prelude::*;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Number of accounts, each with 1–4 phones; 143,000 give about 1 GB of gzipped files.
    pub accounts: u64,
    /// Seed of every random choice: the same options always write the same bytes.
    pub seed: u64,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GenerateSummary {
    /// Feed files written (`*.csv.gz` under `ENROLLMENT/` and `MAINTENANCE/`); `truth.csv`
    /// is not counted.
    pub files: u64,
    /// Data rows in those files, header rows excluded.
    pub rows: u64,
    /// Gzipped bytes of those files.
    pub bytes: u64,
    /// (account, phone) keys drawn, which is the number of rows of `truth.csv`.
    pub phones: u64,
}

/// Why [`generate`] failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// A folder or file could not be created or written.
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        /// The folder or file being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// More accounts were asked for than the generator supports.
    #[error("{requested} accounts requested, at most {max} are supported")]
    TooManyAccounts {
        /// The number asked for.
        requested: u64,
        /// The largest number supported.
        max: u64,
    },
}

/// The most accounts [`generate`] accepts (the phone table must fit in memory).
pub const MAX_ACCOUNTS: u64 = 100_000_000;

/// Writes a feed of `opts.accounts` accounts under `out`: `out/MAINTENANCE/` (60 NON-FIN
/// snapshots, 250 SUPPLFWD change files), `out/ENROLLMENT/` (100 ENRLMT files) and
/// `out/truth.csv`. Folders are created as needed; files of the same name are overwritten,
/// other files are left alone.
///
/// `truth.csv` has the header
/// `account_number,phone_number,phone_source,enrolled_at,consent,consent_date,deleted,deleted_at,withdrawn_at,may_send`,
/// one row per (account, phone): the final consent (a withdrawn `Y` ends as `N` dated by the
/// withdrawal), the generator's own delete type and date (not the snapshot that reveals a
/// hard delete), and `may_send` = source `CLIENT`, not deleted and final consent not `N`.
pub fn generate(out: &Path, opts: &GenerateOptions) -> Result<GenerateSummary, GenerateError> {
    generate_with_level(out, opts, GZIP_LEVEL)
}

fn generate_with_level(
    out: &Path,
    opts: &GenerateOptions,
    level: u32,
) -> Result<GenerateSummary, GenerateError> {
    if opts.accounts > MAX_ACCOUNTS {
        return Err(GenerateError::TooManyAccounts {
            requested: opts.accounts,
            max: MAX_ACCOUNTS,
        });
    }
    for kind in [FileKind::Enrollment, FileKind::Snapshot] {
        let dir = out.join(kind.folder());
        fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
    }
    let table = Table::draw(opts.accounts, opts.seed);

    // Largest first (snapshots), so the work left at the end comes in small pieces.
    let mut jobs = vec![Job::Truth];
    for kind in [FileKind::Snapshot, FileKind::Change, FileKind::Enrollment] {
        jobs.extend((0..kind.count()).map(|index| Job::Feed(kind, index)));
    }
    let done = jobs
        .par_iter()
        .map(|&job| match job {
            Job::Feed(kind, index) => write_feed_file(&table, out, opts.seed, kind, index, level)
                .map(|(rows, bytes)| (1, rows, bytes)),
            Job::Truth => write_truth(&table, &out.join("truth.csv")).map(|()| (0, 0, 0)),
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut summary = GenerateSummary {
        phones: table.phones.len() as u64,
        ..GenerateSummary::default()
    };
    for (files, rows, bytes) in done {
        summary.files += files;
        summary.rows += rows;
        summary.bytes += bytes;
    }
    Ok(summary)
}

// ---------------------------------------------------------------------------------------------
// The client's generator, as constants.

/// gzip level. Measured on 143,000 accounts (3.17 GB raw), zlib-rs: level 1 writes 1.61 GB,
/// level 2 1.13 GB, level 3 1.09 GB (the client's own feed scales to about 1.10 GB) for
/// about 1.6x and 2x the CPU of level 1. Level 2 is the cheapest that stays near 1 GB.
const GZIP_LEVEL: u32 = 2;
/// Days from 2019-01-01 to 2024-12-31; day offsets run 0..=PERIOD_LAST_DAY.
const PERIOD_LAST_DAY: u16 = 2191;
/// 2019-01-01 as days since 1970-01-01 (gzip header time).
const PERIOD_START_UNIX_DAY: u32 = 17_897;
/// A change or enrollment file dated F covers events in [F − 7, F].
const WINDOW_DAYS: u16 = 7;
const SNAPSHOT_FILES: u32 = 60;
const CHANGE_FILES: u32 = 250;
const ENROLLMENT_FILES: u32 = 100;
const P_CONSENT_Y: f64 = 0.05;
const P_CONSENT_N: f64 = 0.05;
const P_SOFT_DELETE: f64 = 0.08;
const P_HARD_DELETE: f64 = 0.05;
const P_WITHDRAW: f64 = 0.06;
/// 2 % of all phones get a routine row in each change file.
const ROUTINE_THRESHOLD: u64 = u64::MAX / 50;
/// A day that never comes.
const NEVER: u16 = u16::MAX;

const AREA_CODES: [&str; 20] = [
    "212", "213", "312", "404", "415", "469", "512", "617", "702", "713", "718", "747", "786",
    "818", "832", "917", "929", "949", "954", "972",
];
#[rustfmt::skip]
const FIRST_NAMES: [&str; 50] = [
    "Amanda", "Andrew", "Anthony", "Ashley", "Barbara", "Betty", "Brian", "Carol", "Charles",
    "Christopher", "Daniel", "David", "Deborah", "Donald", "Donna", "Dorothy", "Edward",
    "Elizabeth", "Emily", "George", "James", "Jennifer", "Jessica", "John", "Joseph", "Joshua",
    "Karen", "Kenneth", "Kevin", "Kimberly", "Linda", "Lisa", "Margaret", "Mark", "Mary",
    "Matthew", "Melissa", "Michael", "Michelle", "Nancy", "Patricia", "Paul", "Richard",
    "Robert", "Sandra", "Sarah", "Steven", "Susan", "Thomas", "William",
];
#[rustfmt::skip]
const LAST_NAMES: [&str; 48] = [
    "Adams", "Allen", "Anderson", "Baker", "Brown", "Campbell", "Clark", "Davis", "Flores",
    "Garcia", "Gonzalez", "Green", "Hall", "Harris", "Hernandez", "Hill", "Jackson", "Johnson",
    "Jones", "King", "Lee", "Lewis", "Lopez", "Martin", "Martinez", "Miller", "Mitchell",
    "Moore", "Nelson", "Nguyen", "Perez", "Ramirez", "Rivera", "Robinson", "Rodriguez",
    "Sanchez", "Scott", "Smith", "Taylor", "Thomas", "Thompson", "Torres", "Walker", "White",
    "Williams", "Wilson", "Wright", "Young",
];
const PHONE_TYPES: [&str; 4] = ["CELL", "HOME", "WORK", "OTHER"];
const PHONE_STATUSES: [&str; 3] = ["ACTIVE", "INACTIVE", "DISCONNECTED"];
const PHONE_SOURCES: [&str; 4] = ["CLIENT", "CONSUMER", "THIRD_PARTY", "OTHER"];
const PHONE_TECHNOLOGIES: [&str; 3] = ["WIRELESS", "LANDLINE", "VOIP"];
const CLIENT_SOURCE: u8 = 0;

const NON_FIN_HEADER: &str = "cnsmr_phn_id|cnsmr_idntfr_lgcy_txt|cnsmr_idntfr_agncy_id|cnsmr_idntfr_ssn_txt|cnsmr_nm_frst_txt|cnsmr_nm_lst_txt|cnsmr_phn_nmbr_txt|cnsmr_phn_typ_val_txt|cnsmr_phn_stts_val_txt|cnsmr_phn_src_val_txt|cnsmr_phn_tchnlgy_typ_val_txt|cnsmr_phn_qlty_score_nmbr|cnsmr_phn_cnsnt_flg|cnsmr_phn_cnsnt_dt";
const SUPPLFWD_HEADER: &str = "cnsmr_phn_hst_id|cnsmr_idntfr_lgcy_txt|cnsmr_idntfr_agncy_id|cnsmr_idntfr_ssn_txt|cnsmr_nm_frst_txt|cnsmr_nm_lst_txt|cnsmr_phn_nmbr_txt|cnsmr_phn_typ_val_txt|cnsmr_phn_stts_val_txt|cnsmr_phn_src_val_txt|cnsmr_phn_tchnlgy_typ_val_txt|cnsmr_phn_qlty_score_nmbr|cnsmr_phn_cnsnt_flg|cnsmr_phn_cnsnt_dt|cnsmr_phn_sft_dlt_flg|record_date";
const ENRLMT_HEADER: &str = "account_number|consumer_legacy_identifier|agency_id|ssn|first_name|last_name|phone_number|phone_type|phone_technology|phone_status|phone_source|quality_score|enrollment_date";
const TRUTH_HEADER: &str = "account_number,phone_number,phone_source,enrolled_at,consent,consent_date,deleted,deleted_at,withdrawn_at,may_send";

/// Length of a record id (`8-4-4-4-12` hex) plus its `|`.
const ID_FIELD_LEN: usize = 37;
/// Formatted rows are handed to the compressor in chunks of about this size.
const CHUNK: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Snapshot,
    Change,
    Enrollment,
}

impl FileKind {
    fn count(self) -> u32 {
        match self {
            FileKind::Snapshot => SNAPSHOT_FILES,
            FileKind::Change => CHANGE_FILES,
            FileKind::Enrollment => ENROLLMENT_FILES,
        }
    }

    fn folder(self) -> &'static str {
        match self {
            FileKind::Snapshot | FileKind::Change => "MAINTENANCE",
            FileKind::Enrollment => "ENROLLMENT",
        }
    }

    fn header(self) -> &'static str {
        match self {
            FileKind::Snapshot => NON_FIN_HEADER,
            FileKind::Change => SUPPLFWD_HEADER,
            FileKind::Enrollment => ENRLMT_HEADER,
        }
    }

    /// Name parts around the stamp: `<prefix>DataManager-<stamp><infix><index>.csv.gz`.
    fn name_parts(self) -> (&'static str, &'static str) {
        match self {
            FileKind::Snapshot => ("SN_SVC_DMBDL_DataManager-", "-NON-FIN-BDL_EXPORT_"),
            FileKind::Change => ("SN_SVC_DMBDL_DataManager-", "-SUPPLFWD-BDL_EXPORT_"),
            FileKind::Enrollment => ("IC_A2RGMRHG_DMENRL_DataManager-", "-ENRLMT-EXPORT_"),
        }
    }

    /// Random stream id of this kind's files (0 is the phone table's).
    fn stream(self) -> u64 {
        match self {
            FileKind::Snapshot => 1,
            FileKind::Change => 2,
            FileKind::Enrollment => 3,
        }
    }

    /// File `index` of `count` is dated start + floor(2191 · index / count) days.
    fn file_day(self, index: u32) -> u16 {
        (u64::from(PERIOD_LAST_DAY) * u64::from(index) / u64::from(self.count())) as u16
    }
}

#[derive(Debug, Clone, Copy)]
enum Job {
    Feed(FileKind, u32),
    Truth,
}

// ---------------------------------------------------------------------------------------------
// Random numbers: xoshiro256++ seeded through SplitMix64.

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// The stream of (seed, stream, index): independent of every other such stream.
    fn stream(seed: u64, stream: u64, index: u64) -> Self {
        let mut state = seed;
        let mut key = splitmix64(&mut state) ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let mut key = splitmix64(&mut key) ^ index.wrapping_mul(0xA076_1D64_78BD_642F);
        Rng {
            s: [
                splitmix64(&mut key),
                splitmix64(&mut key),
                splitmix64(&mut key),
                splitmix64(&mut key),
            ],
        }
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in 0..n by multiply-shift (bias at most n / 2^64: negligible here).
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in lo..=hi.
    fn between(&mut self, lo: u16, hi: u16) -> u16 {
        lo + self.below(u64::from(hi - lo) + 1) as u16
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < p
    }

    /// A version-4 UUID.
    fn uuid(&mut self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        b
    }
}

// ---------------------------------------------------------------------------------------------
// The phone table.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consent {
    Empty,
    Yes,
    No,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deletion {
    None,
    Soft,
    Hard,
}

struct Account {
    number: [u8; 16],
    enrolled: u16,
    agency: u32,
    ssn: u32,
    first: u8,
    last: u8,
    phones: Range<u32>,
}

struct Phone {
    account: u32,
    number: [u8; 10],
    kind: u8,
    status: u8,
    source: u8,
    technology: u8,
    quality: u8,
    /// The consent the phone starts with (what routine change rows re-state).
    consent: Consent,
    consent_day: u16,
    deletion: Deletion,
    /// Day of the soft or hard delete, `NEVER` when not deleted.
    deleted_day: u16,
    /// Day a `Y` phone withdrew, `NEVER` when it did not.
    withdrawn_day: u16,
}

struct Table {
    /// `yyyy-MM-dd` of every day of the period.
    dates: Vec<[u8; 10]>,
    accounts: Vec<Account>,
    phones: Vec<Phone>,
    /// Per phone, its snapshot row up to the consent columns:
    /// `id|legacy|agency|ssn|first|last|phone|type|status|source|technology|quality|`.
    records: Vec<u8>,
    record_starts: Vec<usize>,
}

impl Table {
    fn draw(accounts: u64, seed: u64) -> Table {
        let mut rng = Rng::stream(seed, 0, 0);
        let n = accounts as usize;
        let mut table = Table {
            dates: period_dates(),
            accounts: Vec::with_capacity(n),
            phones: Vec::with_capacity(n * 5 / 2 + 16),
            records: Vec::with_capacity(n * 5 / 2 * 112 + 16),
            record_starts: Vec::with_capacity(n * 5 / 2 + 17),
        };
        table.record_starts.push(0);
        let mut numbers = HashSet::with_capacity(n);
        for account_index in 0..n {
            let number = loop {
                let candidate = rng.below(10_000_000_000_000_000);
                if numbers.insert(candidate) {
                    break candidate;
                }
            };
            let first_phone = table.phones.len() as u32;
            let phone_count = 1 + rng.below(4) as u32;
            let account = Account {
                number: digits::<16>(number),
                enrolled: rng.between(0, PERIOD_LAST_DAY),
                agency: 100_000 + rng.below(900_000) as u32,
                ssn: 910_000_000 + rng.below(90_000_000) as u32,
                first: rng.below(FIRST_NAMES.len() as u64) as u8,
                last: rng.below(LAST_NAMES.len() as u64) as u8,
                phones: first_phone..first_phone + phone_count,
            };
            for _ in 0..phone_count {
                let phone = draw_phone(&mut rng, account_index as u32, &account, &table.phones);
                let id = rng.uuid();
                table.push_record(&id, &account, &phone);
                table.phones.push(phone);
            }
            table.accounts.push(account);
        }
        table
    }

    fn push_record(&mut self, id: &[u8; 16], account: &Account, phone: &Phone) {
        let r = &mut self.records;
        put_uuid(r, id);
        r.push(b'|');
        r.extend_from_slice(&account.number);
        r.extend_from_slice(b"P|AGN");
        r.extend_from_slice(&digits::<6>(u64::from(account.agency)));
        r.push(b'|');
        r.extend_from_slice(&digits::<9>(u64::from(account.ssn)));
        r.push(b'|');
        r.extend_from_slice(FIRST_NAMES[usize::from(account.first)].as_bytes());
        r.push(b'|');
        r.extend_from_slice(LAST_NAMES[usize::from(account.last)].as_bytes());
        r.push(b'|');
        r.extend_from_slice(&phone.number);
        for value in [
            PHONE_TYPES[usize::from(phone.kind)],
            PHONE_STATUSES[usize::from(phone.status)],
            PHONE_SOURCES[usize::from(phone.source)],
            PHONE_TECHNOLOGIES[usize::from(phone.technology)],
        ] {
            r.push(b'|');
            r.extend_from_slice(value.as_bytes());
        }
        r.push(b'|');
        put_small(r, phone.quality);
        r.push(b'|');
        self.record_starts.push(r.len());
    }

    /// The phone's snapshot row up to (and with the `|` before) the consent columns.
    #[inline]
    fn record(&self, phone: usize) -> &[u8] {
        &self.records[self.record_starts[phone]..self.record_starts[phone + 1]]
    }

    #[inline]
    fn date(&self, day: u16) -> &[u8; 10] {
        &self.dates[usize::from(day)]
    }

    /// Writes `flag|date` (or `|` for no consent).
    #[inline]
    fn put_consent(&self, buf: &mut Vec<u8>, consent: Consent, day: u16) {
        match consent {
            Consent::Empty => buf.push(b'|'),
            Consent::Yes => {
                buf.extend_from_slice(b"Y|");
                buf.extend_from_slice(self.date(day));
            }
            Consent::No => {
                buf.extend_from_slice(b"N|");
                buf.extend_from_slice(self.date(day));
            }
        }
    }
}

fn draw_phone(rng: &mut Rng, account_index: u32, account: &Account, drawn: &[Phone]) -> Phone {
    let siblings = &drawn[account.phones.start as usize..];
    let number = loop {
        let mut number = [0u8; 10];
        number[..3]
            .copy_from_slice(AREA_CODES[rng.below(AREA_CODES.len() as u64) as usize].as_bytes());
        number[3..6].copy_from_slice(&digits::<3>(200 + rng.below(800)));
        number[6..].copy_from_slice(&digits::<4>(rng.below(10_000)));
        // Two phones of one account never share a number: each key is one phone.
        if siblings.iter().all(|p| p.number != number) {
            break number;
        }
    };
    let kind = rng.below(PHONE_TYPES.len() as u64) as u8;
    let status = rng.below(PHONE_STATUSES.len() as u64) as u8;
    let source = rng.below(PHONE_SOURCES.len() as u64) as u8;
    let technology = rng.below(PHONE_TECHNOLOGIES.len() as u64) as u8;
    let quality = 1 + rng.below(100) as u8;
    let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    let consent = if u < P_CONSENT_Y {
        Consent::Yes
    } else if u < P_CONSENT_Y + P_CONSENT_N {
        Consent::No
    } else {
        Consent::Empty
    };
    let consent_day = match consent {
        Consent::Empty => NEVER,
        _ => rng.between(0, PERIOD_LAST_DAY),
    };
    let deletion = if rng.chance(P_SOFT_DELETE) {
        Deletion::Soft
    } else if rng.chance(P_HARD_DELETE) {
        Deletion::Hard
    } else {
        Deletion::None
    };
    let deleted_day = match deletion {
        Deletion::None => NEVER,
        _ => rng.between(account.enrolled, PERIOD_LAST_DAY),
    };
    let withdrawn_day =
        if consent == Consent::Yes && consent_day < PERIOD_LAST_DAY && rng.chance(P_WITHDRAW) {
            rng.between(consent_day + 1, PERIOD_LAST_DAY)
        } else {
            NEVER
        };
    Phone {
        account: account_index,
        number,
        kind,
        status,
        source,
        technology,
        quality,
        consent,
        consent_day,
        deletion,
        deleted_day,
        withdrawn_day,
    }
}

/// `yyyy-MM-dd` for every day 2019-01-01..=2024-12-31.
fn period_dates() -> Vec<[u8; 10]> {
    let mut dates = Vec::with_capacity(usize::from(PERIOD_LAST_DAY) + 1);
    let (mut year, mut month, mut day) = (2019u64, 1u64, 1u64);
    while dates.len() <= usize::from(PERIOD_LAST_DAY) {
        let mut date = [b'-'; 10];
        date[..4].copy_from_slice(&digits::<4>(year));
        date[5..7].copy_from_slice(&digits::<2>(month));
        date[8..].copy_from_slice(&digits::<2>(day));
        dates.push(date);
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let month_days = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        day += 1;
        if day > month_days {
            day = 1;
            month += 1;
            if month > 12 {
                month = 1;
                year += 1;
            }
        }
    }
    dates
}

// ---------------------------------------------------------------------------------------------
// Formatting.

/// `value` as exactly N decimal digits, zero-padded.
fn digits<const N: usize>(mut value: u64) -> [u8; N] {
    let mut out = [b'0'; N];
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
    out
}

/// 1..=100 without padding.
fn put_small(buf: &mut Vec<u8>, value: u8) {
    if value >= 100 {
        buf.push(b'0' + value / 100);
    }
    if value >= 10 {
        buf.push(b'0' + value / 10 % 10);
    }
    buf.push(b'0' + value % 10);
}

#[inline]
fn put_uuid(buf: &mut Vec<u8>, id: &[u8; 16]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [b'-'; 36];
    let mut at = 0;
    for (i, byte) in id.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        text[at] = HEX[usize::from(byte >> 4)];
        text[at + 1] = HEX[usize::from(byte & 0x0f)];
        at += 2;
    }
    buf.extend_from_slice(&text);
}

fn io_error(path: &Path, source: io::Error) -> GenerateError {
    GenerateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

// ---------------------------------------------------------------------------------------------
// Writing files.

/// Counts the compressed bytes that reach the file.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One gzipped feed file being written: rows are formatted into `buf` and compressed in chunks.
struct FeedWriter {
    path: PathBuf,
    encoder: GzEncoder<Counting<BufWriter<File>>>,
    buf: Vec<u8>,
    rows: u64,
}

impl FeedWriter {
    fn create(path: PathBuf, header: &str, day: u16, level: u32) -> Result<Self, GenerateError> {
        let file = File::create(&path).map_err(|e| io_error(&path, e))?;
        let inner_name = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".gz"))
            .unwrap_or_default()
            .to_owned();
        let encoder = GzBuilder::new()
            .filename(inner_name)
            .mtime((PERIOD_START_UNIX_DAY + u32::from(day)) * 86_400)
            .write(
                Counting {
                    inner: BufWriter::with_capacity(1 << 18, file),
                    bytes: 0,
                },
                Compression::new(level),
            );
        let mut buf = Vec::with_capacity(CHUNK + (1 << 12));
        buf.extend_from_slice(header.as_bytes());
        buf.extend_from_slice(b"\r\n");
        Ok(FeedWriter {
            path,
            encoder,
            buf,
            rows: 0,
        })
    }

    #[inline]
    fn end_row(&mut self) -> Result<(), GenerateError> {
        self.buf.extend_from_slice(b"\r\n");
        self.rows += 1;
        if self.buf.len() >= CHUNK {
            self.compress_chunk()?;
        }
        Ok(())
    }

    fn compress_chunk(&mut self) -> Result<(), GenerateError> {
        self.encoder
            .write_all(&self.buf)
            .map_err(|e| io_error(&self.path, e))?;
        self.buf.clear();
        Ok(())
    }

    /// Returns (rows, compressed bytes).
    fn finish(mut self) -> Result<(u64, u64), GenerateError> {
        self.compress_chunk()?;
        let mut counting = self.encoder.finish().map_err(|e| io_error(&self.path, e))?;
        counting.flush().map_err(|e| io_error(&self.path, e))?;
        Ok((self.rows, counting.bytes))
    }
}

fn write_feed_file(
    table: &Table,
    out: &Path,
    seed: u64,
    kind: FileKind,
    index: u32,
    level: u32,
) -> Result<(u64, u64), GenerateError> {
    let mut rng = Rng::stream(seed, kind.stream(), u64::from(index));
    let day = kind.file_day(index);
    let date = table.date(day);
    let (prefix, infix) = kind.name_parts();
    let stamp_digits = 100 + rng.below(900);
    let name = format!(
        "{prefix}{}{}{}000000{stamp_digits}{infix}{index:03}.csv.gz",
        std::str::from_utf8(&date[..4]).unwrap_or_default(),
        std::str::from_utf8(&date[5..7]).unwrap_or_default(),
        std::str::from_utf8(&date[8..]).unwrap_or_default(),
    );
    let mut file = FeedWriter::create(
        out.join(kind.folder()).join(name),
        kind.header(),
        day,
        level,
    )?;
    match kind {
        FileKind::Snapshot => write_snapshot(table, day, &mut file)?,
        FileKind::Change => write_changes(table, day, &mut rng, &mut file)?,
        FileKind::Enrollment => write_enrollments(table, day, &mut file)?,
    }
    file.finish()
}

/// A snapshot dated S lists every phone (even before its account's enrollment) except those
/// deleted before S; a phone withdrawn on or before S shows `N` and the withdrawal date.
fn write_snapshot(table: &Table, day: u16, file: &mut FeedWriter) -> Result<(), GenerateError> {
    for (i, phone) in table.phones.iter().enumerate() {
        if phone.deleted_day < day {
            continue;
        }
        file.buf.extend_from_slice(table.record(i));
        if phone.withdrawn_day <= day {
            table.put_consent(&mut file.buf, Consent::No, phone.withdrawn_day);
        } else {
            table.put_consent(&mut file.buf, phone.consent, phone.consent_day);
        }
        file.end_row()?;
    }
    Ok(())
}

/// A change file dated F holds, per phone in table order: a `Y` row for a soft delete in
/// [F − 7, F], an `N` row with consent `N` for a withdrawal in that window, and for 2 % of all
/// phones (live or deleted) a routine `N` row dated F re-stating the original consent. Every
/// row has a fresh history id.
fn write_changes(
    table: &Table,
    day: u16,
    rng: &mut Rng,
    file: &mut FeedWriter,
) -> Result<(), GenerateError> {
    let window = day.saturating_sub(WINDOW_DAYS)..=day;
    for (i, phone) in table.phones.iter().enumerate() {
        let routine = rng.next_u64() < ROUTINE_THRESHOLD;
        let soft_deleted = phone.deletion == Deletion::Soft && window.contains(&phone.deleted_day);
        let withdrawn = window.contains(&phone.withdrawn_day);
        if !(routine || soft_deleted || withdrawn) {
            continue;
        }
        let body = &table.record(i)[ID_FIELD_LEN..];
        if soft_deleted {
            put_uuid(&mut file.buf, &rng.uuid());
            file.buf.push(b'|');
            file.buf.extend_from_slice(body);
            table.put_consent(&mut file.buf, phone.consent, phone.consent_day);
            file.buf.extend_from_slice(b"|Y|");
            file.buf.extend_from_slice(table.date(phone.deleted_day));
            file.end_row()?;
        }
        if withdrawn {
            put_uuid(&mut file.buf, &rng.uuid());
            file.buf.push(b'|');
            file.buf.extend_from_slice(body);
            table.put_consent(&mut file.buf, Consent::No, phone.withdrawn_day);
            file.buf.extend_from_slice(b"|N|");
            file.buf.extend_from_slice(table.date(phone.withdrawn_day));
            file.end_row()?;
        }
        if routine {
            put_uuid(&mut file.buf, &rng.uuid());
            file.buf.push(b'|');
            file.buf.extend_from_slice(body);
            table.put_consent(&mut file.buf, phone.consent, phone.consent_day);
            file.buf.extend_from_slice(b"|N|");
            file.buf.extend_from_slice(table.date(day));
            file.end_row()?;
        }
    }
    Ok(())
}

/// An enrollment file dated F lists the phones of the accounts enrolled in [F − 7, F].
fn write_enrollments(table: &Table, day: u16, file: &mut FeedWriter) -> Result<(), GenerateError> {
    let window = day.saturating_sub(WINDOW_DAYS)..=day;
    for account in &table.accounts {
        if !window.contains(&account.enrolled) {
            continue;
        }
        for p in account.phones.clone() {
            let phone = &table.phones[p as usize];
            let b = &mut file.buf;
            b.extend_from_slice(&account.number);
            b.push(b'|');
            b.extend_from_slice(&account.number);
            b.extend_from_slice(b"P|AGN");
            b.extend_from_slice(&digits::<6>(u64::from(account.agency)));
            b.push(b'|');
            b.extend_from_slice(&digits::<9>(u64::from(account.ssn)));
            b.push(b'|');
            b.extend_from_slice(FIRST_NAMES[usize::from(account.first)].as_bytes());
            b.push(b'|');
            b.extend_from_slice(LAST_NAMES[usize::from(account.last)].as_bytes());
            b.push(b'|');
            b.extend_from_slice(&phone.number);
            for value in [
                PHONE_TYPES[usize::from(phone.kind)],
                PHONE_TECHNOLOGIES[usize::from(phone.technology)],
                PHONE_STATUSES[usize::from(phone.status)],
                PHONE_SOURCES[usize::from(phone.source)],
            ] {
                b.push(b'|');
                b.extend_from_slice(value.as_bytes());
            }
            b.push(b'|');
            put_small(b, phone.quality);
            b.push(b'|');
            b.extend_from_slice(table.date(account.enrolled));
            file.end_row()?;
        }
    }
    Ok(())
}

/// The ground truth: one row per (account, phone) with its final state.
fn write_truth(table: &Table, path: &Path) -> Result<(), GenerateError> {
    let file = File::create(path).map_err(|e| io_error(path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(160);
    line.extend_from_slice(TRUTH_HEADER.as_bytes());
    line.push(b'\n');
    for phone in &table.phones {
        let account = &table.accounts[phone.account as usize];
        let withdrawn = phone.withdrawn_day != NEVER;
        let (consent, consent_day) = if withdrawn {
            (Consent::No, phone.withdrawn_day)
        } else {
            (phone.consent, phone.consent_day)
        };
        let may_send = phone.source == CLIENT_SOURCE
            && phone.deletion == Deletion::None
            && consent != Consent::No;
        line.extend_from_slice(&account.number);
        line.extend_from_slice(b",+1");
        line.extend_from_slice(&phone.number);
        line.push(b',');
        line.extend_from_slice(PHONE_SOURCES[usize::from(phone.source)].as_bytes());
        line.push(b',');
        line.extend_from_slice(table.date(account.enrolled));
        line.extend_from_slice(match consent {
            Consent::Empty => b",,".as_slice(),
            Consent::Yes => b",Y,".as_slice(),
            Consent::No => b",N,".as_slice(),
        });
        if consent != Consent::Empty {
            line.extend_from_slice(table.date(consent_day));
        }
        line.extend_from_slice(match phone.deletion {
            Deletion::None => b",,".as_slice(),
            Deletion::Soft => b",soft_delete,".as_slice(),
            Deletion::Hard => b",hard_delete,".as_slice(),
        });
        if phone.deletion != Deletion::None {
            line.extend_from_slice(table.date(phone.deleted_day));
        }
        line.push(b',');
        if withdrawn {
            line.extend_from_slice(table.date(phone.withdrawn_day));
        }
        line.extend_from_slice(if may_send {
            b",true\n".as_slice()
        } else {
            b",false\n".as_slice()
        });
        if line.len() >= 1 << 16 {
            out.write_all(&line).map_err(|e| io_error(path, e))?;
            line.clear();
        }
    }
    out.write_all(&line).map_err(|e| io_error(path, e))?;
    out.flush().map_err(|e| io_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};
    use std::io::Read;

    /// Headers copied from `conformance/real-feed-s001/`.
    const REAL_NON_FIN_HEADER: &str = "cnsmr_phn_id|cnsmr_idntfr_lgcy_txt|cnsmr_idntfr_agncy_id|cnsmr_idntfr_ssn_txt|cnsmr_nm_frst_txt|cnsmr_nm_lst_txt|cnsmr_phn_nmbr_txt|cnsmr_phn_typ_val_txt|cnsmr_phn_stts_val_txt|cnsmr_phn_src_val_txt|cnsmr_phn_tchnlgy_typ_val_txt|cnsmr_phn_qlty_score_nmbr|cnsmr_phn_cnsnt_flg|cnsmr_phn_cnsnt_dt";
    const REAL_SUPPLFWD_HEADER: &str = "cnsmr_phn_hst_id|cnsmr_idntfr_lgcy_txt|cnsmr_idntfr_agncy_id|cnsmr_idntfr_ssn_txt|cnsmr_nm_frst_txt|cnsmr_nm_lst_txt|cnsmr_phn_nmbr_txt|cnsmr_phn_typ_val_txt|cnsmr_phn_stts_val_txt|cnsmr_phn_src_val_txt|cnsmr_phn_tchnlgy_typ_val_txt|cnsmr_phn_qlty_score_nmbr|cnsmr_phn_cnsnt_flg|cnsmr_phn_cnsnt_dt|cnsmr_phn_sft_dlt_flg|record_date";
    const REAL_ENRLMT_HEADER: &str = "account_number|consumer_legacy_identifier|agency_id|ssn|first_name|last_name|phone_number|phone_type|phone_technology|phone_status|phone_source|quality_score|enrollment_date";

    /// A fresh folder under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "phone-consent-generate-{name}-{}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn gunzip(path: &Path) -> String {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(File::open(path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    /// (file name, file) of one folder, sorted by name.
    fn listing(dir: &Path) -> Vec<(String, PathBuf)> {
        let mut files: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().into_string().unwrap(), e.path())
            })
            .collect();
        files.sort();
        files
    }

    /// Data rows of a feed file, split on `|`, after checking CRLF ends and the header.
    fn rows(path: &Path, header: &str) -> Vec<Vec<String>> {
        let text = gunzip(path);
        assert!(text.ends_with("\r\n"), "{}", path.display());
        let mut lines = text.strip_suffix("\r\n").unwrap().split("\r\n");
        assert_eq!(lines.next(), Some(header), "{}", path.display());
        let fields = header.split('|').count();
        lines
            .map(|line| {
                let row: Vec<String> = line.split('|').map(str::to_owned).collect();
                assert_eq!(row.len(), fields, "{line}");
                row
            })
            .collect()
    }

    /// Parsed name: (kind, date `yyyy-MM-dd`, index).
    fn parse_name(name: &str) -> (&'static str, String, u32) {
        let (prefix, kind, infix) = if name.contains("-NON-FIN-BDL_EXPORT_") {
            (
                "SN_SVC_DMBDL_DataManager-",
                "NON-FIN",
                "-NON-FIN-BDL_EXPORT_",
            )
        } else if name.contains("-SUPPLFWD-BDL_EXPORT_") {
            (
                "SN_SVC_DMBDL_DataManager-",
                "SUPPLFWD",
                "-SUPPLFWD-BDL_EXPORT_",
            )
        } else {
            (
                "IC_A2RGMRHG_DMENRL_DataManager-",
                "ENRLMT",
                "-ENRLMT-EXPORT_",
            )
        };
        let rest = name.strip_prefix(prefix).expect(name);
        let (stamp, rest) = rest.split_at(17);
        assert!(stamp.bytes().all(|b| b.is_ascii_digit()), "{name}");
        assert_eq!(&stamp[8..14], "000000", "{name}");
        let digits: u32 = stamp[14..].parse().unwrap();
        assert!((100..=999).contains(&digits), "{name}");
        let index = rest
            .strip_prefix(infix)
            .and_then(|r| r.strip_suffix(".csv.gz"))
            .expect(name);
        assert_eq!(index.len(), 3, "{name}");
        let date = format!("{}-{}-{}", &stamp[..4], &stamp[4..6], &stamp[6..8]);
        (kind, date, index.parse().unwrap())
    }

    fn day_of(date: &str) -> u16 {
        static DAYS: std::sync::OnceLock<HashMap<Vec<u8>, u16>> = std::sync::OnceLock::new();
        let days = DAYS.get_or_init(|| {
            (0..)
                .zip(period_dates())
                .map(|(day, date)| (date.to_vec(), day))
                .collect()
        });
        *days
            .get(date.as_bytes())
            .unwrap_or_else(|| panic!("date {date} outside the period"))
    }

    #[test]
    fn period_runs_2019_to_2024() {
        let dates = period_dates();
        assert_eq!(dates.len(), 2192);
        assert_eq!(&dates[0], b"2019-01-01");
        assert_eq!(&dates[59], b"2019-03-01");
        assert_eq!(&dates[365 + 59], b"2020-02-29");
        assert_eq!(&dates[2191], b"2024-12-31");
    }

    #[test]
    fn same_seed_writes_identical_bytes_on_any_thread_count() {
        let (a, b, c) = (
            TempDir::new("det-a"),
            TempDir::new("det-b"),
            TempDir::new("det-c"),
        );
        let opts = GenerateOptions {
            accounts: 300,
            seed: 7,
        };
        let sa = generate(&a.0, &opts).unwrap();
        // Another thread count schedules the files differently: the bytes must not change.
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let sb = one_thread.install(|| generate(&b.0, &opts)).unwrap();
        assert_eq!(sa, sb);
        for sub in ["ENROLLMENT", "MAINTENANCE"] {
            let (la, lb) = (listing(&a.0.join(sub)), listing(&b.0.join(sub)));
            assert_eq!(la.len(), lb.len());
            for ((na, pa), (nb, pb)) in la.iter().zip(&lb) {
                assert_eq!(na, nb);
                assert!(
                    fs::read(pa).unwrap() == fs::read(pb).unwrap(),
                    "{na} differs"
                );
            }
        }
        assert!(
            fs::read(a.0.join("truth.csv")).unwrap() == fs::read(b.0.join("truth.csv")).unwrap()
        );

        generate(&c.0, &GenerateOptions { seed: 8, ..opts }).unwrap();
        assert!(
            fs::read(a.0.join("truth.csv")).unwrap() != fs::read(c.0.join("truth.csv")).unwrap()
        );
    }

    #[test]
    fn file_counts_names_and_dates() {
        let dir = TempDir::new("names");
        let summary = generate(
            &dir.0,
            &GenerateOptions {
                accounts: 20,
                seed: 1,
            },
        )
        .unwrap();
        assert_eq!(summary.files, 410);
        let mut counts = BTreeMap::new();
        for sub in ["ENROLLMENT", "MAINTENANCE"] {
            for (name, _) in listing(&dir.0.join(sub)) {
                let (kind, date, index) = parse_name(&name);
                assert_eq!(sub == "ENROLLMENT", kind == "ENRLMT", "{name}");
                let n: u64 = match kind {
                    "NON-FIN" => 60,
                    "SUPPLFWD" => 250,
                    _ => 100,
                };
                assert!(u64::from(index) < n, "{name}");
                let expected = 2191 * u64::from(index) / n;
                assert_eq!(u64::from(day_of(&date)), expected, "{name}");
                *counts.entry(kind).or_insert(0u64) += 1;
            }
        }
        assert_eq!(counts["NON-FIN"], 60);
        assert_eq!(counts["SUPPLFWD"], 250);
        assert_eq!(counts["ENRLMT"], 100);
        // Names of the real feed's shape.
        assert!(listing(&dir.0.join("MAINTENANCE")).iter().any(|(n, _)| {
            n.starts_with("SN_SVC_DMBDL_DataManager-20190206000000")
                && n.ends_with("-NON-FIN-BDL_EXPORT_001.csv.gz")
        }));
        assert!(listing(&dir.0.join("ENROLLMENT")).iter().any(|(n, _)| {
            n.starts_with("IC_A2RGMRHG_DMENRL_DataManager-20190122000000")
                && n.ends_with("-ENRLMT-EXPORT_001.csv.gz")
        }));
    }

    #[test]
    fn headers_and_line_ends_match_the_real_feed() {
        let dir = TempDir::new("headers");
        generate(
            &dir.0,
            &GenerateOptions {
                accounts: 5,
                seed: 3,
            },
        )
        .unwrap();
        for sub in ["ENROLLMENT", "MAINTENANCE"] {
            for (name, path) in listing(&dir.0.join(sub)) {
                let expected = match parse_name(&name).0 {
                    "NON-FIN" => REAL_NON_FIN_HEADER,
                    "SUPPLFWD" => REAL_SUPPLFWD_HEADER,
                    _ => REAL_ENRLMT_HEADER,
                };
                let text = gunzip(&path);
                assert_eq!(text.split("\r\n").next(), Some(expected), "{name}");
                assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
            }
        }
    }

    /// One row of truth.csv.
    struct Truth {
        source: String,
        enrolled_at: String,
        consent: String,
        consent_date: String,
        deleted: String,
        deleted_at: String,
        withdrawn_at: String,
        may_send: bool,
    }

    #[test]
    fn truth_agrees_with_every_file() {
        let dir = TempDir::new("truth");
        let summary = generate(
            &dir.0,
            &GenerateOptions {
                accounts: 200,
                seed: 11,
            },
        )
        .unwrap();

        let text = fs::read_to_string(dir.0.join("truth.csv")).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(TRUTH_HEADER));
        let mut truth: HashMap<(String, String), Truth> = HashMap::new();
        let mut accounts = HashMap::<String, String>::new();
        for line in lines {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 10, "{line}");
            assert_eq!(f[0].len(), 16);
            assert!(f[0].bytes().all(|b| b.is_ascii_digit()));
            assert!(f[1].starts_with("+1") && f[1].len() == 12, "{line}");
            let t = Truth {
                source: f[2].into(),
                enrolled_at: f[3].into(),
                consent: f[4].into(),
                consent_date: f[5].into(),
                deleted: f[6].into(),
                deleted_at: f[7].into(),
                withdrawn_at: f[8].into(),
                may_send: f[9] == "true",
            };
            assert!(matches!(f[9], "true" | "false"));
            assert_eq!(
                t.may_send,
                t.source == "CLIENT" && t.deleted.is_empty() && t.consent != "N"
            );
            assert_eq!(t.deleted.is_empty(), t.deleted_at.is_empty());
            assert_eq!(t.consent.is_empty(), t.consent_date.is_empty());
            if !t.withdrawn_at.is_empty() {
                assert_eq!(
                    (t.consent.as_str(), &t.consent_date),
                    ("N", &t.withdrawn_at)
                );
            }
            if !t.deleted_at.is_empty() {
                assert!(t.deleted_at >= t.enrolled_at);
            }
            // One enrollment date per account.
            let enrolled = accounts.entry(f[0].into()).or_insert(t.enrolled_at.clone());
            assert_eq!(enrolled, &t.enrolled_at);
            let key = (f[0].to_owned(), f[1][2..].to_owned());
            assert!(truth.insert(key, t).is_none(), "duplicate key {line}");
        }
        assert_eq!(accounts.len(), 200);
        assert_eq!(truth.len() as u64, summary.phones);
        assert!(truth.len() >= 200 && truth.len() <= 800);

        let maintenance = listing(&dir.0.join("MAINTENANCE"));
        let enrollment = listing(&dir.0.join("ENROLLMENT"));
        let mut total_rows = 0u64;
        let mut total_bytes = 0u64;
        for (_, path) in maintenance.iter().chain(&enrollment) {
            total_bytes += fs::metadata(path).unwrap().len();
        }
        let key_of = |row: &[String]| {
            let legacy = &row[1];
            assert!(legacy.ends_with('P') && legacy.len() == 17, "{legacy}");
            (legacy[..16].to_owned(), row[6].clone())
        };

        // Snapshots: presence and consent follow the truth; record ids are stable.
        let mut original = HashMap::new();
        let mut ids = HashMap::new();
        let mut snapshots: Vec<_> = maintenance
            .iter()
            .filter(|(n, _)| n.contains("-NON-FIN-"))
            .collect();
        snapshots.sort_by_key(|(n, _)| parse_name(n).2);
        for (n, (name, path)) in snapshots.iter().enumerate() {
            let (_, snapshot_date, _) = parse_name(name);
            let rows = rows(path, REAL_NON_FIN_HEADER);
            total_rows += rows.len() as u64;
            let mut seen = HashSet::new();
            for row in &rows {
                let key = key_of(row);
                let t = truth
                    .get(&key)
                    .unwrap_or_else(|| panic!("{key:?} not in truth"));
                assert!(seen.insert(key.clone()), "{key:?} twice in {name}");
                assert_eq!(row[9], t.source);
                assert_eq!(ids.entry(key.clone()).or_insert(row[0].clone()), &row[0]);
                assert!(row[2].starts_with("AGN") && row[2].len() == 9);
                assert!(row[3].len() == 9 && row[3].bytes().all(|b| b.is_ascii_digit()));
                let quality: u8 = row[11].parse().unwrap();
                assert!((1..=100).contains(&quality));
                if n == 0 {
                    original.insert(key.clone(), (row[12].clone(), row[13].clone()));
                }
                if !t.withdrawn_at.is_empty() && t.withdrawn_at <= snapshot_date {
                    assert_eq!((row[12].as_str(), &row[13]), ("N", &t.withdrawn_at));
                } else {
                    assert_eq!((&row[12], &row[13]), (&original[&key].0, &original[&key].1));
                }
            }
            for (key, t) in &truth {
                let gone = !t.deleted_at.is_empty() && t.deleted_at < snapshot_date;
                assert_eq!(seen.contains(key), !gone, "{key:?} in {name}");
            }
        }
        // Original consent is the final one unless withdrawn (then it was Y, dated earlier).
        for (key, t) in &truth {
            let (flag, date) = &original[key];
            if t.withdrawn_at.is_empty() {
                assert_eq!((flag, date), (&t.consent, &t.consent_date));
            } else {
                assert_eq!(flag, "Y");
                assert!(date < &t.withdrawn_at);
            }
        }

        // Change files: every row inside its window and true; every event in a window present.
        let mut history_ids = HashSet::new();
        let mut routine = 0usize;
        for (name, path) in maintenance.iter().filter(|(n, _)| n.contains("-SUPPLFWD-")) {
            let (_, file_date, _) = parse_name(name);
            let file_day = day_of(&file_date);
            let in_window = |date: &str| {
                !date.is_empty() && {
                    let d = day_of(date);
                    d <= file_day && d + WINDOW_DAYS >= file_day
                }
            };
            let rows = rows(path, REAL_SUPPLFWD_HEADER);
            total_rows += rows.len() as u64;
            let mut soft = HashSet::new();
            let mut withdrawals = HashSet::new();
            for row in &rows {
                assert!(history_ids.insert(row[0].clone()), "history id reused");
                let key = key_of(row);
                let t = &truth[&key];
                let record_date = &row[15];
                if row[14] == "Y" {
                    assert_eq!(
                        (t.deleted.as_str(), &t.deleted_at),
                        ("soft_delete", record_date)
                    );
                    assert!(in_window(record_date), "{name}");
                    assert_eq!((&row[12], &row[13]), (&original[&key].0, &original[&key].1));
                    soft.insert(key);
                } else if *record_date != file_date {
                    assert_eq!(row[14], "N");
                    assert_eq!(&t.withdrawn_at, record_date);
                    assert_eq!((row[12].as_str(), &row[13]), ("N", record_date));
                    assert!(in_window(record_date), "{name}");
                    withdrawals.insert(key);
                } else if row[12] == "N" && t.withdrawn_at == file_date && row[13] == file_date {
                    withdrawals.insert(key);
                } else {
                    assert_eq!(row[14], "N");
                    assert_eq!((&row[12], &row[13]), (&original[&key].0, &original[&key].1));
                    routine += 1;
                }
            }
            for (key, t) in &truth {
                assert_eq!(
                    t.deleted == "soft_delete" && in_window(&t.deleted_at),
                    soft.contains(key),
                    "{key:?} {name}"
                );
                assert_eq!(
                    in_window(&t.withdrawn_at),
                    withdrawals.contains(key),
                    "{key:?} {name}"
                );
            }
        }
        let expected_routine = truth.len() as f64 * 250.0 * 0.02;
        assert!(
            (routine as f64) > expected_routine * 0.8 && (routine as f64) < expected_routine * 1.2
        );

        // Enrollment files: exactly the accounts enrolled in the window, with all their phones.
        let mut enrolled_keys = HashSet::new();
        for (name, path) in &enrollment {
            let (_, file_date, _) = parse_name(name);
            let file_day = day_of(&file_date);
            let rows = rows(path, REAL_ENRLMT_HEADER);
            total_rows += rows.len() as u64;
            let mut keys = HashSet::new();
            for row in &rows {
                assert_eq!(format!("{}P", row[0]), row[1]);
                let key = (row[0].clone(), row[6].clone());
                let t = &truth[&key];
                assert_eq!(t.enrolled_at, row[12]);
                assert_eq!(t.source, row[10]);
                let d = day_of(&row[12]);
                assert!(d <= file_day && d + WINDOW_DAYS >= file_day, "{name}");
                assert!(enrolled_keys.insert(key.clone()));
                keys.insert(key);
            }
            for (key, t) in &truth {
                let d = day_of(&t.enrolled_at);
                assert_eq!(
                    d <= file_day && d + WINDOW_DAYS >= file_day,
                    keys.contains(key)
                );
            }
        }
        assert!(!enrolled_keys.is_empty());
        assert_eq!(total_rows, summary.rows);
        assert_eq!(total_bytes, summary.bytes);
    }

    #[test]
    fn table_has_the_client_generators_proportions() {
        let table = Table::draw(20_000, 5);
        let phones = table.phones.len() as f64;
        let share = |pred: &dyn Fn(&Phone) -> bool| {
            table.phones.iter().filter(|p| pred(p)).count() as f64 / phones
        };
        assert!((phones / 20_000.0 - 2.5).abs() < 0.05);
        assert!((share(&|p| p.deletion == Deletion::Soft) - 0.08).abs() < 0.01);
        assert!((share(&|p| p.deletion == Deletion::Hard) - 0.046).abs() < 0.01);
        assert!((share(&|p| p.consent == Consent::Yes) - 0.05).abs() < 0.01);
        assert!((share(&|p| p.consent == Consent::No) - 0.05).abs() < 0.01);
        assert!((share(&|p| p.source == CLIENT_SOURCE) - 0.25).abs() < 0.02);
        let yes = table.phones.iter().filter(|p| p.consent == Consent::Yes);
        let (n, w) = yes.fold((0, 0), |(n, w), p| {
            (n + 1, w + usize::from(p.withdrawn_day != NEVER))
        });
        assert!((w as f64 / n as f64 - 0.06).abs() < 0.02);
        let mut numbers = HashSet::new();
        for account in &table.accounts {
            assert!(numbers.insert(account.number), "account number reused");
            let mut mine = HashSet::new();
            for p in account.phones.clone() {
                assert!(mine.insert(table.phones[p as usize].number));
            }
        }
        assert!(table.accounts.iter().any(|a| a.number[0] == b'0'));
    }

    /// Times the full 143,000-account feed: `cargo test --release -p phone-consent-feed --
    /// --ignored --nocapture generate_full_size` (`GENERATE_GZIP_LEVEL=n` tries another level).
    #[test]
    #[ignore]
    fn generate_full_size() {
        let dir = TempDir::new("full");
        let level = std::env::var("GENERATE_GZIP_LEVEL")
            .ok()
            .and_then(|l| l.parse().ok())
            .unwrap_or(GZIP_LEVEL);
        let cpu_before = process_cpu_seconds();
        let started = std::time::Instant::now();
        let summary = generate_with_level(
            &dir.0,
            &GenerateOptions {
                accounts: 143_000,
                seed: 1,
            },
            level,
        )
        .unwrap();
        let elapsed = started.elapsed();
        let cpu = process_cpu_seconds() - cpu_before;
        let raw: u64 = ["ENROLLMENT", "MAINTENANCE"]
            .iter()
            .flat_map(|sub| listing(&dir.0.join(sub)))
            .map(|(_, path)| {
                let mut n = 0u64;
                let mut decoder = flate2::read::MultiGzDecoder::new(File::open(path).unwrap());
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let got = decoder.read(&mut buf).unwrap();
                    if got == 0 {
                        break n;
                    }
                    n += got as u64;
                }
            })
            .sum();
        eprintln!(
            "level {level}: {summary:?} in {elapsed:.2?} ({cpu:.1} s CPU); \
             {:.3} GB gzipped, {:.3} GB raw",
            summary.bytes as f64 / 1e9,
            raw as f64 / 1e9
        );
    }

    /// User + system CPU seconds of this process so far (Linux `/proc`; 0 elsewhere).
    fn process_cpu_seconds() -> f64 {
        let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let after_name = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // Fields 14 and 15 of stat (utime, stime), counted from field 3 after the name.
        (ticks(11) + ticks(12)) / 100.0
    }
}
