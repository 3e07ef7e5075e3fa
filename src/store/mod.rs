//! The store the handlers see: the operations on languages and the facts they report.
//!
//! It knows nothing of HTTP: it answers with languages, pages and `StoreError`s such as `NotFound`,
//! and the API layer maps those to statuses. `Store` hides which backend runs, so every handler and
//! every test works the same on each. Its operations are public for the store's benchmarks
//! (`benches/store.rs`).

mod keys;
mod memory;
mod postgres;
mod stored;

use std::{fmt, sync::Arc, time::Duration};

use crate::language::{Language, LanguageChanges, Name, YEAR_MAX, YEAR_MIN};

pub use keys::{Claim, Early, Kept, KeyLimits, KeyRequest, Keyed, Lease};
use memory::MemoryStore;
use postgres::PostgresStore;
pub use postgres::StartError;
pub use stored::Stored;

/// The languages, behind whichever backend was configured. Cheap to clone: clones share one store.
#[derive(Clone)]
pub struct Store(Arc<Backend>);

/// Each operation on PostgreSQL awaits a boxed future: unboxed, its size (kilobytes of driver
/// state) would be part of every `Store` future, and the in-memory store's too would be moved and
/// copied at that size on every call.
enum Backend {
    Memory(MemoryStore),
    Postgres(PostgresStore),
}

impl Store {
    /// A store in this process's memory, holding the seed languages, and at most `capacity`.
    pub fn in_memory(capacity: u64) -> Self {
        Self(Arc::new(Backend::Memory(MemoryStore::new(capacity))))
    }

    /// A store in the PostgreSQL database at `url`, shared with every other server on it, through
    /// at most `pool_size` connections and holding at most `capacity` languages. Creates or
    /// upgrades the schema (the first time, with the seed languages); fails when the database
    /// cannot be reached within 30 s or its schema is newer than this server knows.
    pub async fn postgres(url: &str, pool_size: usize, capacity: u64) -> Result<Self, StartError> {
        let store = PostgresStore::connect(url, pool_size, capacity).await?;
        Ok(Self(Arc::new(Backend::Postgres(store))))
    }

    /// One page of the languages that pass `filter`, in insertion order, after `after`.
    pub async fn list(
        &self,
        filter: YearFilter,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        match &*self.0 {
            Backend::Memory(store) => Ok(store.list(filter, after, limit)),
            Backend::Postgres(store) => Box::pin(store.list(filter, after, limit)).await,
        }
    }

    /// The language named exactly `name`.
    pub async fn get(&self, name: &Name) -> Result<Stored, StoreError> {
        match &*self.0 {
            Backend::Memory(store) => store.get(name),
            Backend::Postgres(store) => Box::pin(store.get(name)).await,
        }
    }

    /// Adds `language` at the end of the insertion order, unless its name is taken or the store is
    /// full.
    pub async fn create(&self, language: Language) -> Result<Stored, StoreError> {
        self.create_keyed(language, None).await
    }

    /// `create`, and, for a request with an idempotency key, the key completed with its answer in
    /// the same step.
    pub(crate) async fn create_keyed(
        &self,
        language: Language,
        keyed: Option<&Keyed<'_>>,
    ) -> Result<Stored, StoreError> {
        match &*self.0 {
            Backend::Memory(store) => store.create(&language, keyed),
            Backend::Postgres(store) => Box::pin(store.create(&language, keyed)).await,
        }
    }

    /// Applies `changes` to the language named `name` if `precondition` holds for it, all in one
    /// step; it keeps its place in the order. A `name` in `changes` is ignored: the caller checks
    /// that it is `name`.
    pub async fn update(
        &self,
        name: &Name,
        changes: LanguageChanges,
        precondition: Precondition<'_>,
    ) -> Result<Stored, StoreError> {
        self.update_keyed(name, changes, precondition, None).await
    }

    /// `update`, with its idempotency key (see `create_keyed`).
    pub(crate) async fn update_keyed(
        &self,
        name: &Name,
        changes: LanguageChanges,
        precondition: Precondition<'_>,
        keyed: Option<&Keyed<'_>>,
    ) -> Result<Stored, StoreError> {
        match &*self.0 {
            Backend::Memory(store) => store.update(name, changes, precondition, keyed),
            Backend::Postgres(store) => {
                Box::pin(store.update(name, changes, precondition, keyed)).await
            }
        }
    }

    /// Removes the language named `name` if `precondition` holds for it, and returns it.
    pub async fn delete(
        &self,
        name: &Name,
        precondition: Precondition<'_>,
    ) -> Result<Stored, StoreError> {
        self.delete_keyed(name, precondition, None).await
    }

    /// `delete`, with its idempotency key (see `create_keyed`).
    pub(crate) async fn delete_keyed(
        &self,
        name: &Name,
        precondition: Precondition<'_>,
        keyed: Option<&Keyed<'_>>,
    ) -> Result<Stored, StoreError> {
        match &*self.0 {
            Backend::Memory(store) => store.delete(name, precondition, keyed),
            Backend::Postgres(store) => Box::pin(store.delete(name, precondition, keyed)).await,
        }
    }

    /// Claims an idempotency key for a request about to run (README, "Retries").
    pub(crate) async fn claim(
        &self,
        request: KeyRequest,
        limits: KeyLimits,
    ) -> Result<Claim, StoreError> {
        match &*self.0 {
            Backend::Memory(store) => Ok(store.claim(request, limits)),
            Backend::Postgres(store) => Box::pin(store.claim(request, limits)).await,
        }
    }

    /// Looks at a key before its request's body is read, and claims it if it is new.
    pub(crate) async fn claim_early(
        &self,
        scope: &[u8],
        key: &str,
        limits: KeyLimits,
    ) -> Result<Early, StoreError> {
        match &*self.0 {
            Backend::Memory(store) => Ok(store.claim_early(scope, key, limits)),
            Backend::Postgres(store) => Box::pin(store.claim_early(scope, key, limits)).await,
        }
    }

    /// Renews a running key's claim for its lease from now, while its request's body comes; with
    /// `read`, once the body has been read, and sets its fingerprint.
    pub(crate) async fn renew(
        &self,
        lease: &Lease,
        read: bool,
        limits: KeyLimits,
    ) -> Result<(), StoreError> {
        match &*self.0 {
            Backend::Memory(store) => {
                store.renew(lease, read, limits);
                Ok(())
            }
            Backend::Postgres(store) => Box::pin(store.renew(lease, read, limits)).await,
        }
    }

    /// Completes the key of a request that wrote nothing with its answer, or (`None`) gives it
    /// up.
    pub(crate) async fn settle(
        &self,
        lease: &Lease,
        kept: Option<Kept>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        match &*self.0 {
            Backend::Memory(store) => {
                store.settle(lease, kept, ttl);
                Ok(())
            }
            Backend::Postgres(store) => Box::pin(store.settle(lease, kept, ttl)).await,
        }
    }

    /// Whether the store can serve requests.
    pub(crate) async fn health(&self) -> Result<(), StoreError> {
        match &*self.0 {
            Backend::Memory(_) => Ok(()),
            Backend::Postgres(store) => Box::pin(store.health()).await,
        }
    }

    /// How many languages the store holds: one read, whatever the number.
    pub(crate) async fn count(&self) -> Result<u64, StoreError> {
        match &*self.0 {
            Backend::Memory(store) => Ok(store.count()),
            Backend::Postgres(store) => Box::pin(store.count()).await,
        }
    }

    /// The database's connections and errors so far (PostgreSQL only).
    pub(crate) fn database(&self) -> Option<DatabaseStatus> {
        match &*self.0 {
            Backend::Memory(_) => None,
            Backend::Postgres(store) => Some(store.status()),
        }
    }

    /// The secret that page tokens are signed with, the same for every server sharing this store.
    pub(crate) fn page_token_key(&self) -> &[u8] {
        match &*self.0 {
            Backend::Memory(store) => store.page_token_key(),
            Backend::Postgres(store) => store.page_token_key(),
        }
    }
}

/// The state of a PostgreSQL store's connections, and how many of its operations have failed
/// since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DatabaseStatus {
    pub(crate) in_use: usize,
    pub(crate) idle: usize,
    /// Connections that reads share.
    pub(crate) shared: usize,
    /// Operations waiting for a connection.
    pub(crate) waiting: usize,
    /// Operations that failed: the database out of reach, an error, or out of time.
    pub(crate) errors: u64,
}

/// What went wrong, as a fact about the data; the API decides what status it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// No language has that name.
    NotFound,
    /// A language of that name exists already.
    AlreadyExists,
    /// The language is not in the state the caller required.
    PreconditionFailed,
    /// The store holds as many languages as it may.
    Full,
    /// The store cannot be reached (a database that is down or does not answer in time).
    Unavailable,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotFound => "no language has that name",
            Self::AlreadyExists => "a language of that name exists already",
            Self::PreconditionFailed => "the language is not in the required state",
            Self::Full => "the store is full",
            Self::Unavailable => "the store cannot be reached",
        })
    }
}

/// A condition on a language's current state that a write requires, checked in the same step as
/// the write (an `If-Match`, for the API).
pub type Precondition<'a> = &'a (dyn Fn(&Stored) -> bool + Sync);

/// The precondition that always holds.
#[cfg(test)]
pub(crate) fn unconditionally(_: &Stored) -> bool {
    true
}

/// Where a page ended: the insertion position of its last language. The next page starts after it,
/// so languages created or deleted meanwhile neither shift nor repeat what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor(pub u64);

/// One page of languages and, unless it is the last, where the next one starts.
#[derive(Debug, Clone)]
pub struct Page {
    pub languages: Vec<Stored>,
    pub next: Option<Cursor>,
}

/// Exclusive bounds on the publication year: `after < publication_year < before`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct YearFilter {
    pub after: Option<i32>,
    pub before: Option<i32>,
}

impl YearFilter {
    /// The years that pass, within the years a language can have; `None` when none can pass.
    pub(crate) fn years(self) -> Option<(i32, i32)> {
        let low = self
            .after
            .map_or(YEAR_MIN, |after| after.saturating_add(1).max(YEAR_MIN));
        let high = self
            .before
            .map_or(YEAR_MAX, |before| before.saturating_sub(1).min(YEAR_MAX));
        (low <= high).then_some((low, high))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn year_filters_are_exclusive_and_clipped() {
        let filter = |after, before| YearFilter { after, before }.years();
        assert_eq!(filter(None, None), Some((YEAR_MIN, YEAR_MAX)));
        assert_eq!(filter(Some(1960), Some(1965)), Some((1961, 1964)));
        assert_eq!(filter(Some(0), Some(30000)), Some((YEAR_MIN, YEAR_MAX)));
        assert_eq!(filter(Some(1964), Some(1965)), None);
        assert_eq!(filter(Some(2000), Some(1990)), None);
        assert_eq!(filter(Some(i32::MAX), None), None);
        assert_eq!(filter(None, Some(i32::MIN)), None);
    }
}
