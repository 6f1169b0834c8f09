//! SEMANTICS §2: events, their same-date order, and what each carries.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::sync::{Arc, Mutex};

use crate::date::Date;
use crate::intern;
use crate::record_id::{RecordId, RecordIdText};

/// The kinds of event on a key (SEMANTICS §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// An ENRLMT row: present.
    Enrolled,
    /// A NON-FIN row: present at the snapshot date.
    Observed,
    /// Derived: present just before snapshot S and carried by no row of S.
    Missing,
    /// A SUPPLFWD row with delete flag `N`: present unless deleted.
    Changed,
    /// A SUPPLFWD row with delete flag `Y`: soft-deleted.
    SoftDeleted,
}

impl EventKind {
    /// Same-date order: `enrolled` < `observed` = `missing` < `changed` < `soft_deleted`.
    pub fn same_date_rank(self) -> u8 {
        match self {
            Self::Enrolled => 0,
            Self::Observed | Self::Missing => 1,
            Self::Changed => 2,
            Self::SoftDeleted => 3,
        }
    }

    /// The name used in the lake and in explanations.
    pub fn name(self) -> &'static str {
        match self {
            Self::Enrolled => "enrolled",
            Self::Observed => "observed",
            Self::Missing => "missing",
            Self::Changed => "changed",
            Self::SoftDeleted => "soft_deleted",
        }
    }

    /// The kind of this name.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Enrolled,
            Self::Observed,
            Self::Missing,
            Self::Changed,
            Self::SoftDeleted,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// The phone's descriptive columns (SEMANTICS §5): source (`CLIENT`, `THIRD_PARTY`, …),
/// type, status, technology, quality score and phone record id (`cnsmr_phn_id` /
/// `cnsmr_phn_hst_id`; empty for ENRLMT). Every row and every event carries them, so they
/// are held small: the first five, which take few distinct values, as one interned tuple
/// (see [`Codes`]), the record id, which is nearly unique to its row, as a UUID's bytes or
/// inline when it can be (see [`RecordId`]). 32 bytes, and no allocation for the feed's ids,
/// where six `String`s took 144 bytes and six allocations.
#[derive(Clone, Eq)]
pub struct Attributes {
    codes: &'static Codes,
    record_id: RecordId,
}

/// Source, type, status, technology and quality score, as one text and the end of each.
/// Interned for the whole process: one copy of each distinct tuple, never freed. A feed has
/// thousands of tuples (the quality score is a number), so this is bounded by the feed's
/// vocabulary, not its rows.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Codes {
    text: &'static str,
    ends: [u32; 5],
}

static NO_CODES: Codes = Codes {
    text: "",
    ends: [0; 5],
};

impl Default for Attributes {
    fn default() -> Self {
        Attributes {
            codes: &NO_CODES,
            record_id: RecordId::new(""),
        }
    }
}

/// A tuple whose text is at most [`SHORT_TEXT`] bytes, held in place: its text zero-padded,
/// its length and its ends.
#[derive(Clone, Copy, PartialEq, Eq)]
struct ShortCodes {
    text: [u8; SHORT_TEXT],
    len: u8,
    ends: [u8; 5],
}

/// The longest text of a [`ShortCodes`]: the feed's tuples take 20–35 bytes.
const SHORT_TEXT: usize = 42;

impl ShortCodes {
    fn new(text: &str, ends: [u32; 5]) -> Option<Self> {
        if text.len() > SHORT_TEXT {
            return None;
        }
        let mut short = ShortCodes {
            text: [0; SHORT_TEXT],
            len: text.len() as u8,
            ends: ends.map(|end| end as u8),
        };
        short.text[..text.len()].copy_from_slice(text.as_bytes());
        Some(short)
    }
}

/// A thread's entry for a short tuple: one cache line holds what a lookup compares and
/// what it returns.
#[repr(align(64))]
struct ShortEntry {
    hash: u64,
    short: ShortCodes,
    codes: &'static Codes,
}

/// A thread's entry for the first four codes of short tuples, with the tuples that follow
/// them, by their quality score's [`score_slot`]. The benchmark's snapshots hold 14,400
/// tuples but 144 such prefixes (scores go from 1 to 100, as in the real feed): a lookup reads
/// a small table and one pointer, where a 64-byte [`ShortEntry`] per tuple missed the cache
/// on nearly every row (5 % of a full run's samples, on the entry's first load).
struct PrefixEntry {
    hash: u64,
    /// The four codes' text and ends (the fifth end is the fourth).
    short: ShortCodes,
    by_score: Vec<Option<&'static Codes>>,
}

thread_local! {
    /// This thread's [`PrefixEntry`]s.
    static PREFIXES: RefCell<hashbrown::HashTable<PrefixEntry>> =
        const { RefCell::new(hashbrown::HashTable::new()) };
}

/// Most [`PrefixEntry`]s a thread keeps, so that a feed of many distinct codes holds at most
/// this many score vectors (each up to [`SCORE_SLOTS`] pointers); later prefixes' tuples go
/// to the [`ShortEntry`] table.
const MAX_PREFIXES: usize = 4096;

/// Slots of a [`PrefixEntry`]'s scores: the empty score and scores 0 to 126.
const SCORE_SLOTS: usize = 128;

/// The slot of a quality score written as a plain decimal number (no sign, no leading zero)
/// below 127, or empty: `""` is 0, `"n"` is n + 1. One text, one slot, and the other way
/// round. `None` for other scores.
fn score_slot(score: &str) -> Option<usize> {
    let slot = match score.as_bytes() {
        [] => 0,
        [b'0'] => 1,
        digits @ [b'1'..=b'9', ..]
            if digits.len() <= 3 && digits.iter().all(u8::is_ascii_digit) =>
        {
            digits.iter().fold(0, |n, d| n * 10 + usize::from(d - b'0')) + 1
        }
        _ => return None,
    };
    (slot < SCORE_SLOTS).then_some(slot)
}

/// The tuple of this text and these ends from this thread's [`PrefixEntry`]s, taken from
/// `global` and recorded there when first asked for; `None` when its prefix is not short,
/// its score has no slot, or the thread keeps [`MAX_PREFIXES`] other prefixes.
fn by_prefix(
    text: &str,
    ends: [u32; 5],
    global: impl FnOnce() -> &'static Codes,
) -> Option<&'static Codes> {
    let prefix_end = ends[3] as usize;
    let (prefix, score) = text.split_at(prefix_end);
    let short = ShortCodes::new(prefix, [ends[0], ends[1], ends[2], ends[3], ends[3]])?;
    let slot = score_slot(score)?;
    PREFIXES.with_borrow_mut(|table| {
        let hash = intern::hash(prefix);
        let room = table.len() < MAX_PREFIXES;
        let entry = match table.find_mut(hash, |e| e.short == short) {
            Some(entry) => entry,
            None if room => {
                let entry = PrefixEntry {
                    hash,
                    short,
                    by_score: Vec::new(),
                };
                table.insert_unique(hash, entry, |e| e.hash).into_mut()
            }
            None => return None,
        };
        if let Some(Some(codes)) = entry.by_score.get(slot) {
            return Some(*codes);
        }
        let codes = global();
        if entry.by_score.len() <= slot {
            entry.by_score.resize(slot + 1, None);
        }
        entry.by_score[slot] = Some(codes);
        Some(codes)
    })
}

impl Codes {
    /// The interned tuple of this text and these ends. Every row interns its tuple, looked
    /// up in this thread's tables first: by its first four codes, then its score's slot (see
    /// [`PrefixEntry`]); else, short, in its table of [`ShortEntry`], compared in place
    /// (following pointers from the table to the tuple to its text was ~7 % of a full run's
    /// samples); else, long, in its table of pointers. Each misses only to the global table.
    fn intern(text: &str, ends: [u32; 5]) -> &'static Codes {
        static GLOBAL: Mutex<intern::Table<Codes>> = Mutex::new(intern::Table::new());
        thread_local! {
            static SHORT: RefCell<hashbrown::HashTable<ShortEntry>> =
                const { RefCell::new(hashbrown::HashTable::new()) };
            static LONG: RefCell<intern::Table<Codes>> = const { RefCell::new(intern::Table::new()) };
        }
        if text.is_empty() {
            return &NO_CODES;
        }
        let eq = |c: &Codes| c.text == text && c.ends == ends;
        let rehash = |c: &Codes| intern::hash(c.text);
        let make = || Codes {
            text: Box::leak(text.into()),
            ends,
        };
        // The text alone: the ends seldom tell two tuples apart, and `eq` checks them.
        let global = || intern::intern_global(&GLOBAL, intern::hash(text), eq, rehash, make);
        if let Some(codes) = by_prefix(text, ends, global) {
            return codes;
        }
        let hash = intern::hash(text);
        let Some(short) = ShortCodes::new(text, ends) else {
            return intern::intern(&LONG, &GLOBAL, hash, eq, rehash, make);
        };
        SHORT.with_borrow_mut(|table| {
            if let Some(entry) = table.find(hash, |e| e.short == short) {
                return entry.codes;
            }
            let codes = intern::intern_global(&GLOBAL, hash, eq, rehash, make);
            table.insert_unique(hash, ShortEntry { hash, short, codes }, |e| e.hash);
            codes
        })
    }
}

impl PartialEq for Attributes {
    /// Equal values: the interned codes first (one tuple, one address), then the record id.
    fn eq(&self, other: &Self) -> bool {
        (std::ptr::eq(self.codes, other.codes) || self.codes == other.codes)
            && self.record_id == other.record_id
    }
}

impl std::hash::Hash for Attributes {
    /// The values, as equality compares them.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.codes.hash(state);
        self.record_id.hash(state);
    }
}

impl Attributes {
    /// Attributes with these values (source, type, status, technology, quality score,
    /// record id), taken as they are.
    pub fn new(fields: [&str; 6]) -> Self {
        Self::build(fields, false)
    }

    /// SEMANTICS §1: attributes of a row as written (source, type, status, technology,
    /// quality score, record id) — codes trimmed and upper-cased, the quality score and
    /// record id trimmed.
    pub fn normalised(fields: [&str; 6]) -> Self {
        Self::build(fields, true)
    }

    /// Attributes with these values (as [`Attributes::new`]) for an event that follows
    /// `self`'s: `self`'s interned codes when they are equal (as for a key's successive
    /// change records), without a lookup, and its shared record id when that is equal too.
    pub fn followed_by(&self, fields: [&str; 6]) -> Self {
        let [codes @ .., record_id] = fields;
        if codes != self.codes() {
            return Self::new(fields);
        }
        Attributes {
            codes: self.codes,
            record_id: match *self.record_id() == *record_id {
                true => self.record_id.clone(),
                false => RecordId::new(record_id),
            },
        }
    }

    /// Attributes with only a source (the others empty).
    pub fn with_source(source: &str) -> Self {
        Self::new([source, "", "", "", "", ""])
    }

    /// Interns the first five values; `normalise` applies SEMANTICS §1 (the first four are
    /// codes).
    fn build(values: [&str; 6], normalise: bool) -> Self {
        thread_local! {
            // Every row builds attributes: packed here first, its codes cost no allocation.
            static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        let codes = SCRATCH.with_borrow_mut(|text| {
            text.clear();
            let mut ends = [0u32; 5];
            for (i, (end, value)) in ends.iter_mut().zip(values).enumerate() {
                match (normalise, i) {
                    (false, _) => text.push_str(value),
                    (true, 0..4) => crate::normalise::push_code(text, value),
                    (true, _) => text.push_str(crate::normalise::trim(value)),
                }
                *end = u32::try_from(text.len()).expect("attributes shorter than 4 GiB");
            }
            Codes::intern(text, ends)
        });
        let record_id = match normalise {
            true => crate::normalise::trim(values[5]),
            false => values[5],
        };
        Attributes {
            codes,
            record_id: RecordId::new(record_id),
        }
    }

    /// Makes `self` share `other`'s record id when it is held in shared storage and equal.
    pub fn share(&mut self, other: &Self) {
        if let (RecordId::Shared(mine), RecordId::Shared(theirs)) =
            (&mut self.record_id, &other.record_id)
            && !Arc::ptr_eq(mine, theirs)
            && mine == theirs
        {
            *mine = theirs.clone();
        }
    }

    fn field(&self, i: usize) -> &str {
        let start = if i == 0 {
            0
        } else {
            self.codes.ends[i - 1] as usize
        };
        &self.codes.text[start..self.codes.ends[i] as usize]
    }

    /// `CLIENT`, `CONSUMER`, `THIRD_PARTY`, `OTHER`, … (upper-cased).
    pub fn source(&self) -> &str {
        self.field(0)
    }

    /// `CELL`, `HOME`, …
    pub fn phone_type(&self) -> &str {
        self.field(1)
    }

    /// `ACTIVE`, `INACTIVE`, `DISCONNECTED`, …
    pub fn status(&self) -> &str {
        self.field(2)
    }

    /// `WIRELESS`, `LANDLINE`, `VOIP`, …
    pub fn technology(&self) -> &str {
        self.field(3)
    }

    /// The quality score as written.
    pub fn quality_score(&self) -> &str {
        self.field(4)
    }

    /// The phone record id.
    pub fn record_id(&self) -> RecordIdText<'_> {
        self.record_id.text()
    }

    /// All six, in the order source, type, status, technology, quality score, record id.
    pub fn fields(&self) -> Fields<'_> {
        Fields {
            codes: self.codes(),
            record_id: self.record_id(),
        }
    }

    /// The first five, in [`Attributes::fields`]' order.
    fn codes(&self) -> [&str; 5] {
        [0, 1, 2, 3, 4].map(|i| self.field(i))
    }
}

impl std::fmt::Debug for Attributes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attributes")
            .field("source", &self.source())
            .field("phone_type", &self.phone_type())
            .field("status", &self.status())
            .field("technology", &self.technology())
            .field("quality_score", &self.quality_score())
            .field("record_id", &self.record_id())
            .finish()
    }
}

/// The source that alone allows texting.
pub const CLIENT: &str = "CLIENT";

impl Attributes {
    /// True when the source is `CLIENT`.
    pub fn is_client_sourced(&self) -> bool {
        self.source() == CLIENT
    }

    /// SEMANTICS §5 tie-break between rows of the same date and event kind: the greatest
    /// (source, type, status, technology, quality score, record id) wins, compared as
    /// strings — except that `CLIENT` sorts before every other source, empty and unknown
    /// ones included, so the row that forbids sending always wins.
    pub fn deny_wins_cmp(&self, other: &Self) -> Ordering {
        let rank = |a: &Self| !a.is_client_sourced();
        rank(self)
            .cmp(&rank(other))
            .then_with(|| self.codes().cmp(&other.codes()))
            .then_with(|| self.record_id.text_cmp(&other.record_id))
    }
}

/// An attributes' six values (see [`Attributes::fields`]).
pub struct Fields<'a> {
    codes: [&'a str; 5],
    record_id: RecordIdText<'a>,
}

impl Fields<'_> {
    /// Source, type, status, technology, quality score, record id.
    pub fn as_array(&self) -> [&str; 6] {
        let [source, phone_type, status, technology, quality_score] = self.codes;
        [
            source,
            phone_type,
            status,
            technology,
            quality_score,
            &self.record_id,
        ]
    }
}

/// A consent statement (SEMANTICS §4): a `Y` or `N` flag with its consent date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConsentStatement {
    /// `true` for `Y`, `false` for `N`.
    pub consent: bool,
    /// `cnsmr_phn_cnsnt_dt`, or the row's event date when that is empty or invalid.
    pub date: Date,
}

impl ConsentStatement {
    /// SEMANTICS §4: the statement with the latest consent date wins; on the same date `N`
    /// beats `Y`. `Greater` means `self` wins over `other`.
    pub fn precedence_cmp(&self, other: &Self) -> Ordering {
        self.date
            .cmp(&other.date)
            .then_with(|| (!self.consent).cmp(&!other.consent))
    }

    /// The better of two optional statements (the first on a full tie).
    pub fn better(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(x), Some(y)) if y.precedence_cmp(&x) == Ordering::Greater => Some(y),
            (None, y) => y,
            (x, _) => x,
        }
    }
}

/// A feed file's name, interned for the whole process: a 4-byte number, copied freely, one
/// copy of each name (never freed; a process sees as many names as the feed has files).
/// Every stored event carries two, with a line number beside each (see [`Provenance`]).
#[derive(Clone, Copy)]
pub struct FileName(u32);

impl FileName {
    /// The interned name.
    pub fn new(name: &str) -> Self {
        static GLOBAL: Mutex<intern::Table<u32>> = Mutex::new(intern::Table::new());
        thread_local! {
            static LOCAL: RefCell<intern::Table<u32>> = const { RefCell::new(intern::Table::new()) };
        }
        FileName(*intern::intern(
            &LOCAL,
            &GLOBAL,
            intern::hash(name),
            |n| file_names::get(*n) == name,
            |n| intern::hash(file_names::get(*n)),
            // Called with the global table locked: numbers are handed out one at a time.
            || file_names::push(Box::leak(name.into())),
        ))
    }

    /// The name.
    pub fn as_str(&self) -> &'static str {
        file_names::get(self.0)
    }
}

/// Every interned file name by its number, readable without a lock: numbers `64·(2^c − 1)`
/// up to `64·(2^(c+1) − 1)` live in chunk `c`, allocated when its first number is given.
mod file_names {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};

    const FIRST: usize = 64;
    /// Enough chunks for every `u32`.
    const CHUNKS: usize = 27;

    type Chunk = Box<[OnceLock<&'static str>]>;
    static CHUNK: [OnceLock<Chunk>; CHUNKS] = [const { OnceLock::new() }; CHUNKS];
    static NEXT: AtomicU32 = AtomicU32::new(0);

    /// The chunk and slot of a number.
    fn locate(number: u32) -> (usize, usize) {
        let j = number as usize + FIRST;
        let chunk = (j.ilog2() - FIRST.ilog2()) as usize;
        (chunk, j - (FIRST << chunk))
    }

    /// Records a new name under the next number (callers hold the interner's global lock).
    pub(super) fn push(name: &'static str) -> u32 {
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        assert_ne!(number, u32::MAX, "more than 2^32 - 1 distinct file names");
        let (chunk, slot) = locate(number);
        let slots =
            CHUNK[chunk].get_or_init(|| (0..FIRST << chunk).map(|_| OnceLock::new()).collect());
        slots[slot]
            .set(name)
            .expect("a file name number is given once");
        number
    }

    /// The name recorded under a number that [`push`] returned.
    pub(super) fn get(number: u32) -> &'static str {
        let (chunk, slot) = locate(number);
        CHUNK[chunk]
            .get()
            .and_then(|slots| slots[slot].get())
            .expect("a file name number comes from push")
    }

    #[cfg(test)]
    #[test]
    fn numbers_fill_each_chunk_then_the_next() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(63), (0, 63));
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(191), (1, 127));
        assert_eq!(locate(192), (2, 0));
        let (chunk, slot) = locate(u32::MAX - 1);
        assert!(chunk < CHUNKS && slot < FIRST << chunk);
    }
}

impl std::ops::Deref for FileName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for FileName {
    fn from(name: &str) -> Self {
        FileName::new(name)
    }
}

impl From<String> for FileName {
    fn from(name: String) -> Self {
        FileName::new(&name)
    }
}

impl PartialEq for FileName {
    /// One number per name.
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for FileName {}

impl std::hash::Hash for FileName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for FileName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FileName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::fmt::Debug for FileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for FileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

/// Where a row came from: the file's name and the row's 1-based line (the header is line 1).
/// 8 bytes: a file of more lines than a `u32` numbers is refused whole when it is read.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Provenance {
    /// The file name (no directory).
    pub file: FileName,
    /// The physical line of the row in the decoded file.
    pub line: u32,
}

/// One stored event of a key's history: a row event (enrolled, changed, soft-deleted), or a
/// run of `observed` events — the key carried, with the same attributes and consent, by
/// every snapshot of the calendar from `date` to `last_date`. Runs keep the history
/// proportional to keys, not rows, and lose nothing: the fold expands them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `Enrolled`, `Observed`, `Changed` or `SoftDeleted` (never the derived `Missing`).
    pub kind: EventKind,
    /// The event date (a run: its first snapshot date).
    pub date: Date,
    /// A run's last snapshot date; otherwise equal to `date`.
    pub last_date: Date,
    /// The date of the file that carried the row (a run: equal to `date`).
    pub file_date: Date,
    /// The row (a run: the row of its first snapshot).
    pub provenance: Provenance,
    /// A run: the row of its last snapshot; otherwise equal to `provenance`.
    pub last_provenance: Provenance,
    /// The row's descriptive columns.
    pub attributes: Attributes,
    /// The consent statement the row makes, if its flag is `Y` or `N`.
    pub consent: Option<ConsentStatement>,
}

impl Event {
    /// A row event (anything but an observed run).
    pub fn row(
        kind: EventKind,
        date: Date,
        file_date: Date,
        provenance: Provenance,
        attributes: Attributes,
        consent: Option<ConsentStatement>,
    ) -> Self {
        Event {
            kind,
            date,
            last_date: date,
            file_date,
            last_provenance: provenance.clone(),
            provenance,
            attributes,
            consent,
        }
    }

    /// Whether this event is visible as of `as_of` (SEMANTICS §8): dated ≤ D and carried by a
    /// file dated ≤ D. A run is visible from its first snapshot on.
    pub fn visible(&self, as_of: Option<Date>) -> bool {
        as_of.is_none_or(|d| self.date <= d && self.file_date <= d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(source: &str, record_id: &str) -> Attributes {
        Attributes::new([source, "", "", "", "", record_id])
    }

    #[test]
    fn attributes_keep_their_six_fields_apart() {
        let a = Attributes::normalised([" client ", "cell", "", "Voip", " 80 ", " h1 "]);
        assert_eq!(
            a.fields().as_array(),
            ["CLIENT", "CELL", "", "VOIP", "80", "h1"]
        );
        assert_ne!(
            a,
            Attributes::new(["CLIENTCELL", "", "", "VOIP", "80", "h1"])
        );
        assert_eq!(Attributes::default().fields().as_array(), [""; 6]);
    }

    #[test]
    fn equal_codes_are_one_interned_tuple_on_every_thread() {
        let here = Attributes::normalised(["client", "cell", "active", "voip", "7", " a "]);
        let there = std::thread::spawn(|| {
            Attributes::normalised([" CLIENT", "CELL ", "ACTIVE", "VOIP", "7", "b"])
        })
        .join()
        .unwrap();
        assert!(std::ptr::eq(here.codes, there.codes));
        assert_ne!(here, there, "the record id still tells them apart");
        assert_eq!(
            Attributes::new(["CLIENT", "CELL", "ACTIVE", "VOIP", "7", "a"]),
            here
        );
        assert_eq!(std::mem::size_of::<Attributes>(), 32);
        assert_eq!(std::mem::size_of::<Event>(), 72);
    }

    #[test]
    fn short_and_long_tuples_are_interned_alike_and_kept_apart_by_their_ends() {
        let longest_short = "X".repeat(SHORT_TEXT);
        let long = "Y".repeat(90);
        for (text, split) in [("CLIENTCELL", 6), (&*longest_short, 20), (&*long, 45)] {
            let (a, b) = text.split_at(split);
            let (c, d) = text.split_at(split + 1);
            let first = Attributes::new([a, b, "", "", "", ""]);
            let (a2, b2) = (a.to_owned(), b.to_owned());
            let again = std::thread::spawn(move || Attributes::new([&a2, &b2, "", "", "", ""]));
            let again = again.join().unwrap();
            assert!(std::ptr::eq(first.codes, again.codes), "{text:?}");
            assert!(std::ptr::eq(
                first.codes,
                Attributes::new([a, b, "", "", "", ""]).codes
            ));
            let other = Attributes::new([c, d, "", "", "", ""]);
            assert_ne!(first, other, "same text, other ends: {text:?}");
            assert_eq!(other.fields().as_array(), [c, d, "", "", "", ""]);
        }
        assert_eq!(std::mem::size_of::<ShortEntry>(), 64);
    }

    #[test]
    fn a_score_slot_is_one_score_text_and_back() {
        let scores = ["", "0", "1", "7", "42", "126"];
        let slots: Vec<_> = scores.iter().map(|s| score_slot(s)).collect();
        assert_eq!(slots, [0, 1, 2, 8, 43, 127].map(Some));
        for other in [
            "127", "999", "1000", "07", "00", "-1", " 5", "5 ", "1e2", "x",
        ] {
            assert_eq!(score_slot(other), None, "{other:?}");
        }
    }

    #[test]
    fn a_tuple_is_one_address_whichever_table_of_a_thread_finds_it() {
        // Scores with a slot and without; prefixes that differ in text or only in their ends.
        let scores = ["", "0", "7", "07", "126", "127", "999", "-1", "ABC"];
        let prefixes = [["CLIENT", "CELL"], ["CLIENTC", "ELL"], ["OTHER", "HOME"]];
        let tuples: Vec<[String; 6]> = prefixes
            .iter()
            .flat_map(|[source, kind]| {
                scores.map(|score| [*source, kind, "ACTIVE", "VOIP", score, ""].map(String::from))
            })
            .collect();
        let intern_all = |tuples: Vec<[String; 6]>| {
            let first: Vec<_> = (tuples.iter())
                .map(|t| Attributes::new(t.each_ref().map(String::as_str)))
                .collect();
            for (t, a) in tuples.iter().zip(&first) {
                let again = Attributes::new(t.each_ref().map(String::as_str));
                assert!(std::ptr::eq(a.codes, again.codes), "{t:?}");
                assert_eq!(a.fields().as_array(), t.each_ref().map(String::as_str));
            }
            first.into_iter().map(|a| a.codes as *const Codes as usize)
        };
        let here: Vec<_> = intern_all(tuples.clone()).collect();
        let there = std::thread::spawn(move || intern_all(tuples).collect::<Vec<_>>());
        assert_eq!(here, there.join().unwrap());
        let distinct: std::collections::HashSet<_> = here.iter().collect();
        assert_eq!(distinct.len(), here.len());
    }

    #[test]
    fn past_a_threads_prefix_limit_tuples_are_still_found() {
        let tuples: Vec<[String; 6]> = (0..MAX_PREFIXES + 50)
            .map(|i| ["CLIENT", &format!("T{i}"), "", "", "5", ""].map(String::from))
            .collect();
        std::thread::spawn(move || {
            for t in &tuples {
                let fields = t.each_ref().map(String::as_str);
                let (a, b) = (Attributes::new(fields), Attributes::new(fields));
                assert!(std::ptr::eq(a.codes, b.codes), "{t:?}");
                assert_eq!(a.fields().as_array(), fields);
            }
            PREFIXES.with_borrow(|table| assert_eq!(table.len(), MAX_PREFIXES));
        })
        .join()
        .unwrap();
    }

    fn shared(a: &Attributes) -> &Arc<str> {
        match &a.record_id {
            RecordId::Shared(text) => text,
            _ => panic!("{a:?} does not share its record id"),
        }
    }

    #[test]
    fn a_uuid_record_id_is_its_bytes_and_a_longer_one_shared_when_repeated() {
        let uuid = "cf6d4ea3-62e3-457b-ae9c-72ac2a5cc59a";
        let a = attrs("CLIENT", uuid);
        assert!(matches!(a.record_id, RecordId::Uuid { .. }));
        assert_eq!(&*a.record_id(), uuid);
        assert_ne!(a, attrs("CLIENT", &uuid[..35]));
        let long = "x".repeat(RecordId::INLINE + 1);
        let first = attrs("CLIENT", &long);
        let mut same = attrs("CLIENT", &long);
        assert_eq!(same, first);
        assert!(!Arc::ptr_eq(shared(&same), shared(&first)));
        same.share(&first);
        assert!(Arc::ptr_eq(shared(&same), shared(&first)));
        assert_eq!(&*same.record_id(), long);
        let at_limit = "y".repeat(RecordId::INLINE);
        assert_eq!(&*attrs("", &at_limit).record_id(), at_limit);
        assert_eq!(&*Attributes::default().record_id(), "");
    }

    #[test]
    fn a_following_event_shares_what_it_repeats() {
        let long = "a".repeat(RecordId::INLINE + 1);
        let first = Attributes::new(["CLIENT", "CELL", "ACTIVE", "VOIP", "7", &long]);
        let same = first.followed_by(["CLIENT", "CELL", "ACTIVE", "VOIP", "7", &long]);
        assert!(Arc::ptr_eq(shared(&same), shared(&first)));
        let next = first.followed_by(["CLIENT", "CELL", "ACTIVE", "VOIP", "7", "b"]);
        assert!(std::ptr::eq(next.codes, first.codes));
        assert_eq!(
            next.fields().as_array(),
            ["CLIENT", "CELL", "ACTIVE", "VOIP", "7", "b"]
        );
        let other = first.followed_by(["OTHER", "CELL", "ACTIVE", "VOIP", "7", "b"]);
        assert_eq!(
            other,
            Attributes::new(["OTHER", "CELL", "ACTIVE", "VOIP", "7", "b"])
        );
        assert_eq!(
            Attributes::new(["CLIENT", "CELL", "", "", "", ""]).followed_by([
                "CLIENTCELL",
                "",
                "",
                "",
                "",
                ""
            ]),
            Attributes::new(["CLIENTCELL", "", "", "", "", ""])
        );
    }

    #[test]
    fn a_file_name_is_interned_once_and_reads_as_its_text() {
        let a = FileName::new("SN_a.csv.gz");
        let b = std::thread::spawn(|| FileName::from(String::from("SN_a.csv.gz")))
            .join()
            .unwrap();
        assert_eq!(a.0, b.0);
        assert_eq!(a, b);
        assert_eq!(&*a, "SN_a.csv.gz");
        assert_eq!(format!("{a} {a:?}"), "SN_a.csv.gz \"SN_a.csv.gz\"");
        assert!(FileName::new("SN_b.csv.gz") > a);
        assert_eq!(std::mem::size_of::<FileName>(), 4);
        assert_eq!(std::mem::size_of::<Provenance>(), 8);
    }

    #[test]
    fn same_date_order_puts_supplfwd_last_and_delete_after_change() {
        use EventKind::*;
        let ranks: Vec<u8> = [Enrolled, Observed, Missing, Changed, SoftDeleted]
            .iter()
            .map(|k| k.same_date_rank())
            .collect();
        assert_eq!(ranks, [0, 1, 1, 2, 3]);
        for k in [Enrolled, Observed, Missing, Changed, SoftDeleted] {
            assert_eq!(EventKind::from_name(k.name()), Some(k));
        }
    }

    #[test]
    fn deny_wins_every_other_source_beats_client() {
        let client = attrs("CLIENT", "z");
        for other in ["THIRD_PARTY", "CONSUMER", "OTHER", "", "AGENCY", "BANK"] {
            assert_eq!(
                attrs(other, "a").deny_wins_cmp(&client),
                Ordering::Greater,
                "{other}"
            );
        }
        assert_eq!(
            attrs("OTHER", "a").deny_wins_cmp(&attrs("THIRD_PARTY", "a")),
            Ordering::Less
        );
        assert_eq!(
            attrs("CLIENT", "b").deny_wins_cmp(&attrs("CLIENT", "a")),
            Ordering::Greater
        );
    }

    #[test]
    fn latest_consent_date_wins_and_no_wins_ties() {
        let d = |s| Date::parse(s).unwrap();
        let y_old = ConsentStatement {
            consent: true,
            date: d("2023-01-01"),
        };
        let n_new = ConsentStatement {
            consent: false,
            date: d("2024-01-10"),
        };
        let y_new = ConsentStatement {
            consent: true,
            date: d("2024-01-10"),
        };
        assert_eq!(
            ConsentStatement::better(Some(n_new), Some(y_old)),
            Some(n_new)
        );
        assert_eq!(
            ConsentStatement::better(Some(y_old), Some(n_new)),
            Some(n_new)
        );
        assert_eq!(
            ConsentStatement::better(Some(y_new), Some(n_new)),
            Some(n_new)
        );
        assert_eq!(
            ConsentStatement::better(Some(n_new), Some(y_new)),
            Some(n_new)
        );
        assert_eq!(ConsentStatement::better(None, Some(y_old)), Some(y_old));
        assert_eq!(ConsentStatement::better(Some(y_old), None), Some(y_old));
    }

    #[test]
    fn visibility_needs_both_event_and_file_date() {
        let d = |s| Date::parse(s).unwrap();
        let p = Provenance {
            file: "f".into(),
            line: 2,
        };
        let e = Event::row(
            EventKind::Changed,
            d("2024-01-03"),
            d("2024-01-08"),
            p,
            attrs("CLIENT", ""),
            None,
        );
        assert!(e.visible(None));
        assert!(e.visible(Some(d("2024-01-08"))));
        assert!(!e.visible(Some(d("2024-01-07"))));
        assert!(!e.visible(Some(d("2024-01-02"))));
    }
}
