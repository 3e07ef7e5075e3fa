//! The in-memory store: the tutorial's dict made ordered, indexed and atomic.
//!
//! Languages sit in a map keyed by insertion position, which is the list order and the page cursor;
//! a name index finds one by name and a year index fills filtered pages without scanning the rest.
//! Each index holds the shared record itself, so no operation looks a language up twice. One
//! `RwLock` makes every operation atomic; it is a std lock, never held across an `.await`.

use std::{
    borrow::Borrow,
    cmp::{Ordering, Reverse},
    collections::{BTreeSet, BinaryHeap, HashSet},
    hash::{Hash, Hasher},
    ops::Bound,
    sync::{RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::{Duration, Instant},
};

use super::{
    Cursor, Page, Precondition, StoreError, Stored, YearFilter,
    keys::{Claim, Early, Kept, KeyLimits, KeyRequest, KeyTable, Keyed, Lease},
};
use crate::language::{Language, LanguageChanges, Name, YEAR_MAX, YEAR_MIN, seed};

pub(crate) struct MemoryStore {
    state: RwLock<State>,
    page_token_key: [u8; 32],
    /// The most languages the store holds; a create beyond it fails with `Full`.
    capacity: usize,
}

#[derive(Default)]
struct State {
    /// Every language, in insertion order.
    by_position: BTreeSet<ByPosition>,
    /// Every language, found by name.
    by_name: HashSet<ByName>,
    /// For each year from `YEAR_MIN`, the languages of that year in insertion order.
    by_year: Vec<BTreeSet<ByPosition>>,
    next_position: u64,
    /// The idempotency keys, completed in the same step as their writes.
    keys: KeyTable,
}

/// `write` on `state`, and, for a keyed request, its key completed with the answer to the write's
/// outcome, under the same lock: the two are one step. A request whose claim was taken over (it
/// outlived its lease) writes nothing: its retry is running.
fn keyed_write(
    state: &mut State,
    keyed: Option<&Keyed<'_>>,
    write: impl FnOnce(&mut State) -> Result<Stored, StoreError>,
) -> Result<Stored, StoreError> {
    let Some(keyed) = keyed else {
        return write(state);
    };
    if !state.keys.holds(keyed.lease) {
        return Err(StoreError::Unavailable);
    }
    let outcome = write(state);
    match (keyed.answer)(&outcome) {
        Some(kept) => {
            state
                .keys
                .complete(keyed.lease, kept, Instant::now(), keyed.ttl);
        }
        None => state.keys.release(keyed.lease),
    }
    outcome
}

impl MemoryStore {
    pub(crate) fn new(capacity: u64) -> Self {
        let mut state = State {
            by_year: vec![BTreeSet::new(); year_slot(YEAR_MAX) + 1],
            ..State::default()
        };
        for language in seed() {
            // The seed has distinct names: this cannot fail.
            let _ = state.insert(&language);
        }
        let mut page_token_key = [0; 32];
        // Without an OS random source the tokens are still checked, only guessable.
        let _ = getrandom::fill(&mut page_token_key);
        Self {
            state: RwLock::new(state),
            page_token_key,
            capacity: usize::try_from(capacity).unwrap_or(usize::MAX),
        }
    }

    pub(crate) fn page_token_key(&self) -> &[u8] {
        &self.page_token_key
    }

    pub(crate) fn list(&self, filter: YearFilter, after: Option<Cursor>, limit: usize) -> Page {
        let Some((low, high)) = filter.years() else {
            return Page {
                languages: Vec::new(),
                next: None,
            };
        };
        let start = after.map_or(Bound::Unbounded, |Cursor(position)| {
            Bound::Excluded(position)
        });
        let state = self.read();
        // One more than the page holds, to learn whether another page follows.
        let mut languages: Vec<Stored> = if (low, high) == (YEAR_MIN, YEAR_MAX) {
            state
                .by_position
                .range((start, Bound::Unbounded))
                .map(|by| by.0.clone())
                .take(limit + 1)
                .collect()
        } else {
            merge_in_order(
                state.by_year[year_slot(low)..=year_slot(high)]
                    .iter()
                    .map(|year| year.range((start, Bound::Unbounded)).map(|by| &by.0)),
                limit + 1,
            )
        };
        let next = (languages.len() > limit).then(|| {
            languages.truncate(limit);
            Cursor(languages.last().map_or(0, Stored::position))
        });
        Page { languages, next }
    }

    pub(crate) fn count(&self) -> u64 {
        self.read().by_position.len() as u64
    }

    pub(crate) fn get(&self, name: &str) -> Result<Stored, StoreError> {
        self.read().find(name).cloned()
    }

    pub(crate) fn create(
        &self,
        language: &Language,
        keyed: Option<&Keyed<'_>>,
    ) -> Result<Stored, StoreError> {
        let mut state = self.write();
        keyed_write(&mut state, keyed, |state| {
            if state.by_name.contains(language.name.as_str()) {
                return Err(StoreError::AlreadyExists);
            }
            if state.by_position.len() >= self.capacity {
                return Err(StoreError::Full);
            }
            state.insert(language)
        })
    }

    /// Claims an idempotency key for a request about to run.
    pub(crate) fn claim(&self, request: KeyRequest, limits: KeyLimits) -> Claim {
        self.write().keys.claim(request, Instant::now(), limits)
    }

    /// Looks at a key before its request's body is read (`KeyTable::claim_early`).
    pub(crate) fn claim_early(&self, scope: &[u8], key: &str, limits: KeyLimits) -> Early {
        self.write()
            .keys
            .claim_early(scope, key, Instant::now(), limits)
    }

    /// Renews a running key's claim (`KeyTable::renew`).
    pub(crate) fn renew(&self, lease: &Lease, read: bool, limits: KeyLimits) {
        self.write().keys.renew(lease, read, Instant::now(), limits);
    }

    /// Completes a key whose request wrote nothing with its answer, or (`None`) gives it up.
    pub(crate) fn settle(&self, lease: &Lease, kept: Option<Kept>, ttl: Duration) {
        let mut state = self.write();
        match kept {
            Some(kept) => {
                state.keys.complete(lease, kept, Instant::now(), ttl);
            }
            None => state.keys.release(lease),
        }
    }

    pub(crate) fn update(
        &self,
        name: &Name,
        changes: LanguageChanges,
        precondition: Precondition<'_>,
        keyed: Option<&Keyed<'_>>,
    ) -> Result<Stored, StoreError> {
        let mut state = self.write();
        keyed_write(&mut state, keyed, |state| {
            let current = state.find_where(name, precondition)?;
            let Some(language) = current.changed_by(name, changes) else {
                return Ok(current.clone());
            };
            let current = current.clone();
            let updated = Stored::new(current.position(), &language);
            state.remove(&current);
            state.add(&updated);
            Ok(updated)
        })
    }

    pub(crate) fn delete(
        &self,
        name: &str,
        precondition: Precondition<'_>,
        keyed: Option<&Keyed<'_>>,
    ) -> Result<Stored, StoreError> {
        let mut state = self.write();
        keyed_write(&mut state, keyed, |state| {
            let current = state.find_where(name, precondition)?;
            let deleted = current.clone();
            state.remove(&deleted);
            Ok(deleted)
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while the lock was held cannot leave the state half-changed: every write checks
        // first and changes after, so the data behind a poisoned lock is still whole.
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn find(&self, name: &str) -> Result<&Stored, StoreError> {
        self.by_name
            .get(name)
            .map(|by| &by.0)
            .ok_or(StoreError::NotFound)
    }

    /// The language named `name`, if `precondition` holds for it: what a write acts on.
    fn find_where(
        &self,
        name: &str,
        precondition: Precondition<'_>,
    ) -> Result<&Stored, StoreError> {
        let current = self.find(name)?;
        if precondition(current) {
            Ok(current)
        } else {
            Err(StoreError::PreconditionFailed)
        }
    }

    fn insert(&mut self, language: &Language) -> Result<Stored, StoreError> {
        if self.by_name.contains(language.name.as_str()) {
            return Err(StoreError::AlreadyExists);
        }
        let stored = Stored::new(self.next_position, language);
        self.next_position += 1;
        self.add(&stored);
        Ok(stored)
    }

    /// Puts `language` in every index.
    fn add(&mut self, language: &Stored) {
        self.by_name.insert(ByName(language.clone()));
        self.by_position.insert(ByPosition(language.clone()));
        self.by_year[year_slot(language.publication_year())].insert(ByPosition(language.clone()));
    }

    /// Takes `language` out of every index.
    fn remove(&mut self, language: &Stored) {
        self.by_name.remove(language.name());
        self.by_position.remove(&language.position());
        self.by_year[year_slot(language.publication_year())].remove(&language.position());
    }
}

/// A language in a set keyed by its name.
struct ByName(Stored);

impl Borrow<str> for ByName {
    fn borrow(&self) -> &str {
        self.0.name()
    }
}

impl Hash for ByName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.name().hash(state);
    }
}

impl PartialEq for ByName {
    fn eq(&self, other: &Self) -> bool {
        self.0.name() == other.0.name()
    }
}

impl Eq for ByName {}

/// A language in a set ordered by its insertion position.
#[derive(Clone)]
struct ByPosition(Stored);

impl Borrow<u64> for ByPosition {
    fn borrow(&self) -> &u64 {
        self.0.position_ref()
    }
}

impl Ord for ByPosition {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.position().cmp(&other.0.position())
    }
}

impl PartialOrd for ByPosition {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ByPosition {
    fn eq(&self, other: &Self) -> bool {
        self.0.position() == other.0.position()
    }
}

impl Eq for ByPosition {}

/// The index of `year`'s slot in `State::by_year`; years are checked before they reach the store.
fn year_slot(year: i32) -> usize {
    usize::try_from(year.clamp(YEAR_MIN, YEAR_MAX) - YEAR_MIN).unwrap_or(0)
}

/// The first `count` languages of several sequences in insertion order, merged in that order.
fn merge_in_order<'a>(
    sequences: impl Iterator<Item = impl Iterator<Item = &'a Stored>>,
    count: usize,
) -> Vec<Stored> {
    let mut sequences: Vec<_> = sequences.map(Iterator::peekable).collect();
    if let [sequence] = sequences.as_mut_slice() {
        return sequence.take(count).cloned().collect();
    }
    // The position of each sequence's next language, smallest first.
    let mut heads: BinaryHeap<Reverse<(u64, usize)>> = sequences
        .iter_mut()
        .enumerate()
        .filter_map(|(index, sequence)| Some(Reverse((sequence.peek()?.position(), index))))
        .collect();
    let mut merged = Vec::with_capacity(count.min(1024));
    while merged.len() < count {
        let Some(Reverse((_, index))) = heads.pop() else {
            break;
        };
        let sequence = &mut sequences[index];
        merged.extend(sequence.next().cloned());
        if let Some(next) = sequence.peek() {
            heads.push(Reverse((next.position(), index)));
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{Arc, Barrier},
        thread,
    };

    use super::*;
    use crate::store::unconditionally;

    fn name(name: &str) -> Name {
        Name::try_from(name).expect("a valid name")
    }

    fn language(name: &str, year: i32) -> Language {
        Language {
            name: self::name(name),
            publication_year: year,
            contribution: format!("{name}'s contribution"),
        }
    }

    fn names(page: &Page) -> Vec<&str> {
        page.languages.iter().map(Stored::name).collect()
    }

    fn all(store: &MemoryStore) -> Vec<String> {
        let page = store.list(YearFilter::default(), None, usize::MAX - 1);
        names(&page).into_iter().map(str::to_owned).collect()
    }

    const SEED_NAMES: [&str; 8] = [
        "COBOL", "ALGOL", "APL", "BASIC", "PL", "SIMULA67", "Pascal", "CLU",
    ];

    #[test]
    fn lists_the_seed_in_the_tutorials_order() {
        assert_eq!(all(&MemoryStore::new(1_000_000)), SEED_NAMES);
    }

    #[test]
    fn a_recreated_name_goes_last() {
        let store = MemoryStore::new(1_000_000);
        let cobol = store
            .delete("COBOL", &unconditionally, None)
            .expect("delete");
        store.create(&cobol.to_language(), None).expect("create");
        let mut expected = SEED_NAMES[1..].to_vec();
        expected.push("COBOL");
        assert_eq!(all(&store), expected);
    }

    #[test]
    fn an_update_keeps_its_place_and_changes_only_given_fields() {
        let store = MemoryStore::new(1_000_000);
        let changes = LanguageChanges {
            publication_year: Some(2000),
            ..LanguageChanges::default()
        };
        let after = store
            .update(&name("APL"), changes, &unconditionally, None)
            .expect("update");
        assert_eq!(after.publication_year(), 2000);
        assert_eq!(after.contribution(), "array processing");
        assert_eq!(all(&store), SEED_NAMES);
        let filter = YearFilter {
            after: Some(1999),
            before: Some(2001),
        };
        assert_eq!(names(&store.list(filter, None, 10)), ["APL"]);
        let old = YearFilter {
            after: Some(1961),
            before: Some(1963),
        };
        assert!(names(&store.list(old, None, 10)).is_empty());
    }

    #[test]
    fn a_failed_precondition_changes_nothing() {
        let store = MemoryStore::new(1_000_000);
        let changes = LanguageChanges {
            contribution: Some("changed".to_owned()),
            ..LanguageChanges::default()
        };
        let refuse = |_: &Stored| false;
        assert_eq!(
            store
                .update(&name("APL"), changes, &refuse, None)
                .unwrap_err(),
            StoreError::PreconditionFailed
        );
        assert_eq!(
            store.delete("APL", &refuse, None).unwrap_err(),
            StoreError::PreconditionFailed
        );
        assert_eq!(
            store.get("APL").expect("get").contribution(),
            "array processing"
        );
        let only_apl = |language: &Stored| language.name() == "APL";
        assert!(store.delete("APL", &only_apl, None).is_ok());
        assert_eq!(
            store.delete("APL", &only_apl, None).unwrap_err(),
            StoreError::NotFound,
            "a missing language is not found, whatever the precondition"
        );
    }

    #[test]
    fn a_full_store_refuses_creates_until_a_delete() {
        let store = MemoryStore::new(9);
        store
            .create(&language("Ninth", 1990), None)
            .expect("room for one more");
        assert_eq!(
            store.create(&language("Tenth", 1990), None).unwrap_err(),
            StoreError::Full
        );
        assert_eq!(
            store.create(&language("COBOL", 1990), None).unwrap_err(),
            StoreError::AlreadyExists
        );
        assert_eq!(all(&store).len(), 9);
        store
            .delete("Ninth", &unconditionally, None)
            .expect("delete");
        store
            .create(&language("Tenth", 1990), None)
            .expect("room again");
    }

    #[test]
    fn create_refuses_an_existing_name_and_delete_a_missing_one() {
        let store = MemoryStore::new(1_000_000);
        assert_eq!(
            store.create(&language("COBOL", 1999), None).unwrap_err(),
            StoreError::AlreadyExists
        );
        assert_eq!(
            store.delete("cobol", &unconditionally, None).unwrap_err(),
            StoreError::NotFound
        );
        assert_eq!(
            store
                .update(
                    &name("Nope"),
                    LanguageChanges::default(),
                    &unconditionally,
                    None
                )
                .unwrap_err(),
            StoreError::NotFound
        );
    }

    #[test]
    fn pages_hold_limit_languages_and_the_last_has_no_cursor() {
        let store = MemoryStore::new(1_000_000);
        let first = store.list(YearFilter::default(), None, 3);
        assert_eq!(names(&first), ["COBOL", "ALGOL", "APL"]);
        let second = store.list(YearFilter::default(), first.next, 5);
        assert_eq!(names(&second), SEED_NAMES[3..]);
        assert_eq!(second.next, None, "exactly `limit` left: no further page");
    }

    #[test]
    fn filtered_pages_follow_insertion_order() {
        let store = MemoryStore::new(1_000_000);
        store.create(&language("Old", 1961), None).expect("create");
        let filter = YearFilter {
            after: Some(1960),
            before: Some(1965),
        };
        let first = store.list(filter, None, 2);
        assert_eq!(names(&first), ["APL", "BASIC"]);
        let second = store.list(filter, first.next, 2);
        assert_eq!(names(&second), ["Old"]);
        assert_eq!(second.next, None);
    }

    #[test]
    fn a_page_walk_sees_every_language_that_lives_throughout_it_once() {
        let store = Arc::new(MemoryStore::new(1_000_000));
        for i in 0..500 {
            store
                .create(&language(&format!("stable{i}"), 1900 + i % 100), None)
                .expect("create");
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
            thread::spawn(move || {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let name = format!("churn{i}");
                    let _ = store.create(&language(&name, 1950), None);
                    if i % 2 == 0 {
                        let _ = store.delete(&name, &unconditionally, None);
                    }
                    i += 1;
                }
            })
        };
        for filter in [
            YearFilter::default(),
            YearFilter {
                after: Some(1940),
                before: Some(1960),
            },
        ] {
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let page = store.list(filter, cursor, 7);
                seen.extend(page.languages.iter().map(|l| l.name().to_owned()));
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            let stable: Vec<_> = seen.iter().filter(|n| n.starts_with("stable")).collect();
            let expected: Vec<String> = (0..500)
                .filter(|i| {
                    filter
                        .years()
                        .is_some_and(|(lo, hi)| (lo..=hi).contains(&(1900 + i % 100)))
                })
                .map(|i| format!("stable{i}"))
                .collect();
            assert_eq!(stable, expected.iter().collect::<Vec<_>>());
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().expect("writer");
    }

    #[test]
    fn of_concurrent_creates_of_one_name_exactly_one_succeeds() {
        let store = Arc::new(MemoryStore::new(1_000_000));
        let barrier = Arc::new(Barrier::new(8));
        let winners: usize = (0..8)
            .map(|i| {
                let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
                thread::spawn(move || {
                    barrier.wait();
                    store.create(&language("Rust", 2000 + i), None).is_ok()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|handle| usize::from(handle.join().expect("thread")))
            .sum();
        assert_eq!(winners, 1);
        assert_eq!(all(&store).iter().filter(|n| *n == "Rust").count(), 1);
    }

    #[test]
    fn concurrent_updates_never_mix_fields() {
        let store = Arc::new(MemoryStore::new(1_000_000));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let store = Arc::clone(&store);
                thread::spawn(move || {
                    for _ in 0..200 {
                        let changes = LanguageChanges {
                            name: None,
                            publication_year: Some(1900 + i),
                            contribution: Some(format!("writer {i}")),
                        };
                        store
                            .update(&name("CLU"), changes, &unconditionally, None)
                            .expect("update");
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("thread");
        }
        let clu = store.get("CLU").expect("get");
        assert_eq!(
            clu.contribution(),
            format!("writer {}", clu.publication_year() - 1900)
        );
    }
}
