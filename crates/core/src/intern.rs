//! Process-wide interning: one copy of each distinct value, never freed.

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::thread::LocalKey;

/// Interned values, as the leaked references handed out.
pub(crate) type Table<T> = hashbrown::HashTable<&'static T>;

/// The hash of an interned value's text.
pub(crate) fn hash(text: &str) -> u64 {
    static HASHER: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0);
    HASHER.hash_one(text)
}

/// The interned value that `eq` accepts under `hash`, else `make`'s, leaked and recorded
/// (`rehash` hashes a recorded value). Looked up in this thread's table first, so that a hit
/// takes no lock; the global table makes equal values one address on every thread.
pub(crate) fn intern<T: 'static>(
    local: &'static LocalKey<RefCell<Table<T>>>,
    global: &Mutex<Table<T>>,
    hash: u64,
    eq: impl Fn(&T) -> bool,
    rehash: impl Fn(&T) -> u64,
    make: impl FnOnce() -> T,
) -> &'static T {
    local.with_borrow_mut(|local| {
        if let Some(found) = local.find(hash, |t| eq(t)) {
            return *found;
        }
        let interned = intern_global(global, hash, &eq, &rehash, make);
        local.insert_unique(hash, interned, |t| rehash(t));
        interned
    })
}

/// [`intern`] without a thread's table: the global table, under its lock.
pub(crate) fn intern_global<T: 'static>(
    global: &Mutex<Table<T>>,
    hash: u64,
    eq: impl Fn(&T) -> bool,
    rehash: impl Fn(&T) -> u64,
    make: impl FnOnce() -> T,
) -> &'static T {
    let mut global = global.lock().unwrap_or_else(|e| e.into_inner());
    match global.find(hash, |t| eq(t)) {
        Some(found) => found,
        None => {
            let made: &'static T = Box::leak(Box::new(make()));
            global.insert_unique(hash, made, |t| rehash(t));
            made
        }
    }
}
