//! The in-memory store: the tutorial's dict made ordered, indexed and atomic.
//!
//! Languages sit in a map keyed by insertion position, which is the list order and the page cursor;
//! a name index finds one by name and a year index fills filtered pages without scanning the rest.
//! One `RwLock` makes every operation atomic; it is a std lock, never held across an `.await`.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap},
    ops::Bound,
    sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use super::{Cursor, Page, Precondition, StoreError, Stored, YearFilter};
use crate::{
    schema::{Language, LanguageChanges, YEAR_MAX, YEAR_MIN},
    seed,
};

pub(crate) struct MemoryStore {
    state: RwLock<State>,
    page_token_key: [u8; 32],
    /// The most languages the store holds; a create beyond it fails with `Full`.
    capacity: usize,
}

#[derive(Default)]
struct State {
    /// Every language, keyed by insertion position.
    by_position: BTreeMap<u64, Stored>,
    /// Name to insertion position.
    by_name: HashMap<Arc<str>, u64>,
    /// For each year from `YEAR_MIN`, the insertion positions of the languages of that year.
    by_year: Vec<BTreeSet<u64>>,
    next_position: u64,
}

impl MemoryStore {
    pub(crate) fn new(capacity: u64) -> Self {
        let mut state = State {
            by_year: vec![BTreeSet::new(); year_slot(YEAR_MAX) + 1],
            ..State::default()
        };
        for language in seed::languages() {
            // The seed has distinct names: this cannot fail.
            let _ = state.insert(language);
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
        let positions: Vec<u64> = if (low, high) == (YEAR_MIN, YEAR_MAX) {
            state
                .by_position
                .range((start, Bound::Unbounded))
                .map(|(&position, _)| position)
                .take(limit + 1)
                .collect()
        } else {
            merge_in_order(
                state.by_year[year_slot(low)..=year_slot(high)]
                    .iter()
                    .map(|positions| positions.range((start, Bound::Unbounded)).copied()),
                limit + 1,
            )
        };
        let next = (positions.len() > limit).then(|| Cursor(positions[limit - 1]));
        let languages = positions
            .iter()
            .take(limit)
            .filter_map(|position| state.by_position.get(position))
            .map(Arc::clone)
            .collect();
        Page { languages, next }
    }

    pub(crate) fn get(&self, name: &str) -> Result<Stored, StoreError> {
        let state = self.read();
        state
            .position(name)
            .map(|(_, language)| Arc::clone(language))
    }

    pub(crate) fn create(&self, language: Language) -> Result<Stored, StoreError> {
        let mut state = self.write();
        if state.by_name.contains_key(language.name.as_str()) {
            return Err(StoreError::AlreadyExists);
        }
        if state.by_position.len() >= self.capacity {
            return Err(StoreError::Full);
        }
        state.insert(language)
    }

    pub(crate) fn update(
        &self,
        name: &str,
        changes: LanguageChanges,
        precondition: Precondition<'_>,
    ) -> Result<Stored, StoreError> {
        let mut state = self.write();
        let (position, current) = state.position(name)?;
        if !precondition(current) {
            return Err(StoreError::PreconditionFailed);
        }
        let mut language = Language::clone(current);
        if let Some(year) = changes.publication_year {
            language.publication_year = year;
        }
        if let Some(contribution) = changes.contribution {
            language.contribution = contribution;
        }
        if language == **current {
            return Ok(Arc::clone(current));
        }
        let old_year = current.publication_year;
        let updated = Arc::new(language);
        if old_year != updated.publication_year {
            state.by_year[year_slot(old_year)].remove(&position);
            state.by_year[year_slot(updated.publication_year)].insert(position);
        }
        state.by_position.insert(position, Arc::clone(&updated));
        Ok(updated)
    }

    pub(crate) fn delete(
        &self,
        name: &str,
        precondition: Precondition<'_>,
    ) -> Result<Stored, StoreError> {
        let mut state = self.write();
        let (position, current) = state.position(name)?;
        if !precondition(current) {
            return Err(StoreError::PreconditionFailed);
        }
        state.by_name.remove(name);
        let deleted = state
            .by_position
            .remove(&position)
            .ok_or(StoreError::NotFound)?;
        state.by_year[year_slot(deleted.publication_year)].remove(&position);
        Ok(deleted)
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
    /// The insertion position and the language of `name`.
    fn position(&self, name: &str) -> Result<(u64, &Stored), StoreError> {
        let &position = self.by_name.get(name).ok_or(StoreError::NotFound)?;
        let language = self
            .by_position
            .get(&position)
            .ok_or(StoreError::NotFound)?;
        Ok((position, language))
    }

    fn insert(&mut self, language: Language) -> Result<Stored, StoreError> {
        if self.by_name.contains_key(language.name.as_str()) {
            return Err(StoreError::AlreadyExists);
        }
        let position = self.next_position;
        self.next_position += 1;
        self.by_name
            .insert(Arc::from(language.name.as_str()), position);
        self.by_year[year_slot(language.publication_year)].insert(position);
        let language = Arc::new(language);
        self.by_position.insert(position, Arc::clone(&language));
        Ok(language)
    }
}

/// The index of `year`'s slot in `State::by_year`; years are checked before they reach the store.
fn year_slot(year: i32) -> usize {
    usize::try_from(year.clamp(YEAR_MIN, YEAR_MAX) - YEAR_MIN).unwrap_or(0)
}

/// The first `count` values of several ascending sequences, merged in ascending order.
fn merge_in_order(
    sequences: impl Iterator<Item = impl Iterator<Item = u64>>,
    count: usize,
) -> Vec<u64> {
    let mut sequences: Vec<_> = sequences.collect();
    let mut heads: BinaryHeap<Reverse<(u64, usize)>> = sequences
        .iter_mut()
        .enumerate()
        .filter_map(|(index, sequence)| sequence.next().map(|value| Reverse((value, index))))
        .collect();
    let mut merged = Vec::with_capacity(count.min(1024));
    while merged.len() < count {
        let Some(Reverse((value, index))) = heads.pop() else {
            break;
        };
        merged.push(value);
        if let Some(next) = sequences[index].next() {
            heads.push(Reverse((next, index)));
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use std::{sync::Barrier, thread};

    use super::*;
    use crate::store::unconditionally;

    fn language(name: &str, year: i32) -> Language {
        Language {
            name: name.to_owned(),
            publication_year: year,
            contribution: format!("{name}'s contribution"),
        }
    }

    fn names(page: &Page) -> Vec<&str> {
        page.languages.iter().map(|l| l.name.as_str()).collect()
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
        let cobol = store.delete("COBOL", &unconditionally).expect("delete");
        store.create(Language::clone(&cobol)).expect("create");
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
            .update("APL", changes, &unconditionally)
            .expect("update");
        assert_eq!(after.publication_year, 2000);
        assert_eq!(after.contribution, "array processing");
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
        let refuse = |_: &Language| false;
        assert_eq!(
            store.update("APL", changes, &refuse).unwrap_err(),
            StoreError::PreconditionFailed
        );
        assert_eq!(
            store.delete("APL", &refuse).unwrap_err(),
            StoreError::PreconditionFailed
        );
        assert_eq!(
            store.get("APL").expect("get").contribution,
            "array processing"
        );
        let only_apl = |language: &Language| language.name == "APL";
        assert!(store.delete("APL", &only_apl).is_ok());
        assert_eq!(
            store.delete("APL", &only_apl).unwrap_err(),
            StoreError::NotFound,
            "a missing language is not found, whatever the precondition"
        );
    }

    #[test]
    fn a_full_store_refuses_creates_until_a_delete() {
        let store = MemoryStore::new(9);
        store
            .create(language("Ninth", 1990))
            .expect("room for one more");
        assert_eq!(
            store.create(language("Tenth", 1990)).unwrap_err(),
            StoreError::Full
        );
        assert_eq!(
            store.create(language("COBOL", 1990)).unwrap_err(),
            StoreError::AlreadyExists
        );
        assert_eq!(all(&store).len(), 9);
        store.delete("Ninth", &unconditionally).expect("delete");
        store.create(language("Tenth", 1990)).expect("room again");
    }

    #[test]
    fn create_refuses_an_existing_name_and_delete_a_missing_one() {
        let store = MemoryStore::new(1_000_000);
        assert_eq!(
            store.create(language("COBOL", 1999)).unwrap_err(),
            StoreError::AlreadyExists
        );
        assert_eq!(
            store.delete("cobol", &unconditionally).unwrap_err(),
            StoreError::NotFound
        );
        assert_eq!(
            store
                .update("Nope", LanguageChanges::default(), &unconditionally)
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
        store.create(language("Old", 1961)).expect("create");
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
                .create(language(&format!("stable{i}"), 1900 + i % 100))
                .expect("create");
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
            thread::spawn(move || {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let name = format!("churn{i}");
                    let _ = store.create(language(&name, 1950));
                    if i % 2 == 0 {
                        let _ = store.delete(&name, &unconditionally);
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
                seen.extend(page.languages.iter().map(|l| l.name.clone()));
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
                    store.create(language("Rust", 2000 + i)).is_ok()
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
                            .update("CLU", changes, &unconditionally)
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
            clu.contribution,
            format!("writer {}", clu.publication_year - 1900)
        );
    }
}
