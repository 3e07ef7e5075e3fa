//! The PostgreSQL store: the languages in one table that any number of servers share.
//!
//! Insertion order is an identity column, `position`, which is also the page cursor; a unique
//! index finds a language by name and an index on (year, position) fills filtered pages. A
//! one-row table, `store_state`, holds the number of languages, for the capacity, and the key that
//! page tokens are signed with, so that a token from one server is good on every other.
//!
//! Every create and delete first locks that row, so they happen one at a time across all servers:
//! positions are handed out in commit order (a page walk never misses a language that committed
//! before it), and the count is exact. Updates and deletes lock the language's row, check the
//! precondition, then write, in one transaction. Contributions are stored as UTF-8 `bytea`,
//! because PostgreSQL's `text` cannot hold U+0000 and a contribution may.
//!
//! Nothing is cached: every request reads the database, so what one server acknowledged, the next
//! request to any server sees. Every operation is bounded in time; a database that does not answer
//! is `StoreError::Unavailable`, which the API answers with 503.

use std::{
    str::FromStr,
    sync::atomic::{AtomicI64, AtomicU64, Ordering},
    time::Duration,
};

use deadpool_postgres::Transaction;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::{NoTls, Row, types::ToSql};

mod connect;
mod keys;
mod migrate;

use connect::{describe, first_connection};
use migrate::migrate;
use reads::{ReadStatements, Readers};

use super::{
    Cursor, DatabaseStatus, Page, Precondition, StoreError, Stored, YearFilter,
    keys::{Claim, Early, Kept, KeyLimits, KeyRequest, Keyed, Lease},
};
use crate::language::{Language, LanguageChanges, Name, YEAR_MAX, YEAR_MIN};

/// The longest an operation may take, the wait for a connection included, before it is
/// `Unavailable`: the contract's 5 s, with a margin.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(4);
/// The longest the database may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest a statement may run on the server.
const STATEMENT_TIMEOUT_MS: u64 = 3_000;
/// The longest the server keeps a session that sits idle inside a transaction.
const IDLE_IN_TRANSACTION_TIMEOUT_MS: u64 = 5_000;
/// A read on the shared connection unanswered this long means the connection has stalled.
const STALLED: Duration = Duration::from_secs(2);
/// How long a server keeps trying to reach the database at start.
pub(super) const START_TIMEOUT: Duration = Duration::from_secs(25);

/// The columns a language is read from, in the order `stored` reads them: a macro, so that each
/// statement that names them is one string made at compile time (`concat!`), not on each call.
macro_rules! columns {
    () => {
        "position, name, publication_year, contribution"
    };
}

mod reads;

/// A year filter spanning fewer years than this is read year by year through the year index; a
/// wider one, in insertion order through the primary key.
const NARROW_FILTER_YEARS: i32 = 30;

pub(crate) struct PostgresStore {
    /// Connections for writes, each taken for a whole operation.
    pool: Pool,
    /// The connection that reads share; none when the pool size leaves no room for it.
    readers: Option<Box<Readers>>,
    page_token_key: Vec<u8>,
    capacity: i64,
    /// Operations that failed since the start.
    errors: AtomicU64,
    /// New idempotency keys this server may claim before it counts the live keys again: an
    /// eighth of the room left at the last count, so that up to eight servers claiming at once
    /// stay within the bound, while a table far from it is not counted at every claim.
    uncounted_claims: AtomicI64,
}

/// Why a PostgreSQL store could not start. Its text never holds the URL's password.
#[derive(Debug)]
pub struct StartError(String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

impl PostgresStore {
    /// Connects to the database at `url` with at most `pool_size` connections, brings its schema
    /// up to date, and loads the page-token key.
    pub(crate) async fn connect(
        url: &str,
        pool_size: usize,
        capacity: u64,
    ) -> Result<Self, StartError> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(|_| {
            StartError("the database URL is not a valid PostgreSQL connection URL".to_owned())
        })?;
        // The server's side of the bounds: a statement cannot run on, and a session this server
        // lost inside a transaction (holding the row that creates and deletes lock) is ended
        // within seconds, not when the operating system's keepalive gives up hours later.
        let options = [
            config.get_options().unwrap_or_default(),
            &format!(
                "-c statement_timeout={STATEMENT_TIMEOUT_MS} \
                 -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS} \
                 -c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"
            ),
        ]
        .join(" ");
        config
            .options(options.trim())
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10));
        if config.get_application_name().is_none() {
            config.application_name("prog-lang-api");
        }
        let place = describe(&config);
        let (writers, readers) = split(pool_size);
        let readers = readers.then(|| Box::new(Readers::new(config.clone(), CONNECT_TIMEOUT)));
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(writers)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(OPERATION_TIMEOUT),
                create: Some(CONNECT_TIMEOUT),
                recycle: Some(CONNECT_TIMEOUT),
            })
            .build()
            .map_err(|error| StartError(format!("cannot set up the database pool: {error}")))?;

        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let mut client = first_connection(&pool, &place, deadline).await?;
        let prepared = tokio::time::timeout_at(deadline, migrate(&mut client)).await;
        let page_token_key = match prepared {
            Ok(Ok(key)) => key,
            Ok(Err(error)) => {
                return Err(StartError(format!(
                    "cannot prepare the database {place}: {error}"
                )));
            }
            Err(_) => {
                return Err(StartError(format!(
                    "the database {place} did not answer within {} s",
                    START_TIMEOUT.as_secs()
                )));
            }
        };
        Ok(Self {
            pool,
            readers,
            page_token_key,
            capacity: i64::try_from(capacity).unwrap_or(i64::MAX),
            errors: AtomicU64::new(0),
            uncounted_claims: AtomicI64::new(0),
        })
    }

    pub(crate) fn page_token_key(&self) -> &[u8] {
        &self.page_token_key
    }

    pub(crate) async fn list(
        &self,
        filter: YearFilter,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let Some((low, high)) = filter.years() else {
            return Ok(Page {
                languages: Vec::new(),
                next: None,
            });
        };
        let after = after.map_or(0, |Cursor(position)| {
            i64::try_from(position).unwrap_or(i64::MAX)
        });
        // One more than the page holds, to learn whether another page follows.
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        let rows = self
            .read(async |client, statements| {
                if (low, high) == (YEAR_MIN, YEAR_MAX) {
                    client.query(&statements.page, &[&after, &fetch]).await
                } else {
                    let statement = if high - low < NARROW_FILTER_YEARS {
                        &statements.narrow_page
                    } else {
                        &statements.wide_page
                    };
                    client
                        .query(statement, &[&low, &high, &after, &fetch])
                        .await
                }
            })
            .await?;
        let mut languages = rows.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
        let next = (languages.len() > limit).then(|| {
            languages.truncate(limit);
            Cursor(languages.last().map_or(0, Stored::position))
        });
        Ok(Page { languages, next })
    }

    pub(crate) async fn get(&self, name: &Name) -> Result<Stored, StoreError> {
        let name = name.as_str();
        let row = self
            .read(async |client, statements| client.query_opt(&statements.get, &[&name]).await)
            .await?;
        row.as_ref().map_or(Err(StoreError::NotFound), stored)
    }

    pub(crate) async fn create(
        &self,
        language: &Language,
        keyed: Option<&Keyed<'_>>,
    ) -> Result<Stored, StoreError> {
        let capacity = self.capacity;
        self.write(keyed, async |transaction| {
            let counted = transaction
                .query_opt(
                    &transaction
                        .prepare_cached(
                            "UPDATE store_state SET language_count = language_count + 1 \
                                 WHERE language_count < $1 RETURNING language_count",
                        )
                        .await?,
                    &[&capacity],
                )
                .await?;
            let exists = transaction
                .query_opt(
                    &transaction
                        .prepare_cached("SELECT 1 FROM languages WHERE name = $1")
                        .await?,
                    &[&language.name.as_str()],
                )
                .await?
                .is_some();
            if exists {
                return Ok(Err(StoreError::AlreadyExists));
            }
            if counted.is_none() {
                return Ok(Err(StoreError::Full));
            }
            let insert = concat!(
                "INSERT INTO languages (name, publication_year, contribution) \
                     VALUES ($1, $2, $3) RETURNING ",
                columns!()
            );
            row_written(transaction, insert, &language.name.as_str(), language).await
        })
        .await
    }

    pub(crate) async fn update(
        &self,
        name: &Name,
        changes: LanguageChanges,
        precondition: Precondition<'_>,
        keyed: Option<&Keyed<'_>>,
    ) -> Result<Stored, StoreError> {
        self.write(keyed, async |transaction| {
            let current = match locked(transaction, name, precondition).await? {
                Ok(current) => current,
                Err(error) => return Ok(Err(error)),
            };
            let Some(language) = current.changed_by(name, changes) else {
                return Ok(Ok(current));
            };
            let update = concat!(
                "UPDATE languages SET publication_year = $2, contribution = $3 \
                     WHERE position = $1 RETURNING ",
                columns!()
            );
            row_written(transaction, update, &position(&current), &language).await
        })
        .await
    }

    pub(crate) async fn delete(
        &self,
        name: &Name,
        precondition: Precondition<'_>,
        keyed: Option<&Keyed<'_>>,
    ) -> Result<Stored, StoreError> {
        self.write(keyed, async |transaction| {
            // The count's row first, as a create takes it: the two never wait on each other.
            transaction
                .execute(
                    &transaction
                        .prepare_cached(
                            "UPDATE store_state SET language_count = language_count - 1",
                        )
                        .await?,
                    &[],
                )
                .await?;
            let current = match locked(transaction, name, precondition).await? {
                Ok(current) => current,
                Err(error) => return Ok(Err(error)),
            };
            transaction
                .execute(
                    &transaction
                        .prepare_cached("DELETE FROM languages WHERE position = $1")
                        .await?,
                    &[&position(&current)],
                )
                .await?;
            Ok(Ok(current))
        })
        .await
    }

    /// Runs `operation`, a write, in a transaction committed when it succeeds. For a keyed
    /// request, the key is completed with the answer to the write's outcome: in the same
    /// transaction when the write succeeds, which then commits only if the request's claim
    /// still held the key; after the write is undone when it fails (a refusal changes nothing,
    /// so its answer is kept on its own). A request whose claim was taken over writes nothing
    /// and is answered 503.
    async fn write(
        &self,
        keyed: Option<&Keyed<'_>>,
        operation: impl AsyncFnOnce(
            &Transaction<'_>,
        )
            -> Result<Result<Stored, StoreError>, tokio_postgres::Error>,
    ) -> Result<Stored, StoreError> {
        self.run(async |client| {
            let transaction = client.transaction().await?;
            let Some(keyed) = keyed else {
                let outcome = operation(&transaction).await?;
                if outcome.is_ok() {
                    transaction.commit().await?;
                }
                return Ok(outcome);
            };
            let outcome = operation(&transaction).await?;
            let kept = (keyed.answer)(&outcome);
            let held = if outcome.is_ok() {
                let held = keys::settle(&transaction, keyed.lease, kept, keyed.ttl).await?;
                if held {
                    transaction.commit().await?;
                } else {
                    transaction.rollback().await?;
                }
                held
            } else {
                transaction.rollback().await?;
                keys::settle(&*client, keyed.lease, kept, keyed.ttl).await?
            };
            Ok(if held {
                outcome
            } else {
                Err(StoreError::Unavailable)
            })
        })
        .await?
    }

    /// Claims an idempotency key (`keys::claim`).
    pub(crate) async fn claim(
        &self,
        request: KeyRequest,
        limits: KeyLimits,
    ) -> Result<Claim, StoreError> {
        self.run(async |client| keys::claim(client, request, limits).await)
            .await
    }

    /// Looks at a key before its request's body is read (`keys::claim_early`).
    pub(crate) async fn claim_early(
        &self,
        scope: &[u8],
        key: &str,
        limits: KeyLimits,
    ) -> Result<Early, StoreError> {
        let count_live = self.uncounted_claims.fetch_sub(1, Ordering::Relaxed) <= 0;
        let (early, live) = self
            .run(async |client| keys::claim_early(client, scope, key, limits, count_live).await)
            .await?;
        if let Some(live) = live {
            // The count did not see this claim's own key.
            let room = limits
                .max_keys
                .saturating_sub(usize::try_from(live).unwrap_or(0).saturating_add(1))
                / 8;
            let room = i64::try_from(room).unwrap_or(i64::MAX);
            // Unless another count has set the budget since: this one may be the older.
            let _ =
                self.uncounted_claims
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                        (left <= 0).then_some(room)
                    });
        }
        Ok(early)
    }

    /// Renews a running key's claim (`keys::renew`).
    pub(crate) async fn renew(
        &self,
        lease: &Lease,
        read: bool,
        limits: KeyLimits,
    ) -> Result<(), StoreError> {
        self.run(async |client| keys::renew(client, lease, read, limits).await)
            .await
    }

    /// Completes a key whose request wrote nothing, or gives it up (`keys::settle`).
    pub(crate) async fn settle(
        &self,
        lease: &Lease,
        kept: Option<Kept>,
        ttl: std::time::Duration,
    ) -> Result<(), StoreError> {
        self.run(async |client| {
            keys::settle(&*client, lease, kept, ttl).await?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn count(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .run(async |client| {
                let row = client
                    .query_one("SELECT language_count FROM store_state", &[])
                    .await?;
                Ok(row.get(0))
            })
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub(crate) fn status(&self) -> DatabaseStatus {
        let pool = self.pool.status();
        DatabaseStatus {
            in_use: pool.size.saturating_sub(pool.available),
            idle: pool.available,
            shared: self.readers.as_ref().map_or(0, |readers| readers.open()),
            waiting: pool.waiting,
            errors: self.errors.load(Ordering::Relaxed),
        }
    }

    /// Whether reads and writes both reach the database: the shared connection and the pool.
    pub(crate) async fn health(&self) -> Result<(), StoreError> {
        self.read(async |client, _| client.simple_query("SELECT 1").await.map(drop))
            .await?;
        self.run(async |client| client.simple_query("SELECT 1").await.map(drop))
            .await
    }

    /// Runs `operation`, a read, on the shared connection (on a pooled one when there is none),
    /// the wait for room on it included, all within `OPERATION_TIMEOUT`. The shared connection is
    /// given up when a read on it failed (but for a statement the database cancelled) or went
    /// unanswered for `STALLED`; any failure is `Unavailable`, and is logged.
    async fn read<T>(
        &self,
        operation: impl AsyncFnOnce(
            &tokio_postgres::Client,
            &ReadStatements,
        ) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, StoreError> {
        let Some(readers) = &self.readers else {
            return self
                .run(async |client| {
                    let statements = ReadStatements::cached(client).await?;
                    operation(client, &statements).await
                })
                .await;
        };
        let deadline = tokio::time::Instant::now() + OPERATION_TIMEOUT;
        let reader = async {
            let admitted = readers.admit().await;
            readers
                .get()
                .await
                .map(|reader| reader.map(|reader| (admitted, reader)))
        };
        let (_admitted, reader) = match tokio::time::timeout_at(deadline, reader).await {
            Ok(Ok(Some(admitted))) => admitted,
            Ok(Ok(None)) => {
                tracing::warn!("the database did not answer within the connect timeout");
                return self.failed();
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "the database cannot be reached");
                return self.failed();
            }
            Err(_) => {
                tracing::warn!("no database connection within the timeout");
                return self.failed();
            }
        };
        let sent = tokio::time::Instant::now();
        match tokio::time::timeout_at(deadline, operation(&reader.client, &reader.statements)).await
        {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                tracing::warn!(%error, "a database operation failed");
                // A statement that ran out of time was cancelled by the database, which is
                // otherwise fine; any other failure may have left the connection unusable.
                if error.code() != Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) {
                    readers.discard(&reader);
                }
                self.failed()
            }
            Err(_) => {
                tracing::warn!("a database operation ran out of time");
                // Unanswered this long, the connection has stalled: a read that waited for its
                // turn and had little time left says nothing about it.
                if sent.elapsed() >= STALLED {
                    readers.discard(&reader);
                }
                self.failed()
            }
        }
    }

    /// An operation failed: counted, and `Unavailable`.
    fn failed<T>(&self) -> Result<T, StoreError> {
        self.errors.fetch_add(1, Ordering::Relaxed);
        Err(StoreError::Unavailable)
    }

    /// Runs `operation` on a pooled connection, all within `OPERATION_TIMEOUT`. A connection whose
    /// operation failed or ran out of time leaves the pool, so that a broken or unanswering one
    /// is never handed out again; any failure is `Unavailable`, and is logged.
    async fn run<T>(
        &self,
        operation: impl AsyncFnOnce(&mut Object) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, StoreError> {
        // One deadline for the wait and the work together.
        let deadline = tokio::time::Instant::now() + OPERATION_TIMEOUT;
        let mut client = match tokio::time::timeout_at(deadline, self.pool.get()).await {
            Ok(Ok(client)) => client,
            Ok(Err(error)) => {
                tracing::warn!(%error, "the database cannot be reached");
                return self.failed();
            }
            Err(_) => {
                tracing::warn!("no database connection within the timeout");
                return self.failed();
            }
        };
        match tokio::time::timeout_at(deadline, operation(&mut client)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                tracing::warn!(%error, "a database operation failed");
                drop(Object::take(client));
                self.failed()
            }
            Err(_) => {
                tracing::warn!("a database operation ran out of time");
                drop(Object::take(client));
                self.failed()
            }
        }
    }
}

/// How a pool of `size` connections is shared out: connections for writes, each taken for a whole
/// operation, and whether one is kept for reads to share (not when it would be the only one).
fn split(size: usize) -> (usize, bool) {
    let size = size.max(1);
    if size < 2 {
        (size, false)
    } else {
        (size - 1, true)
    }
}

/// The language named `name`, its row locked until the transaction ends, if `precondition` holds
/// for it.
async fn locked(
    transaction: &Transaction<'_>,
    name: &str,
    precondition: Precondition<'_>,
) -> Result<Result<Stored, StoreError>, tokio_postgres::Error> {
    let statement = transaction
        .prepare_cached(concat!(
            "SELECT ",
            columns!(),
            " FROM languages WHERE name = $1 FOR UPDATE"
        ))
        .await?;
    let row = transaction.query_opt(&statement, &[&name]).await?;
    Ok(match row {
        None => Err(StoreError::NotFound),
        Some(row) => stored(&row).and_then(|current| {
            if precondition(&current) {
                Ok(current)
            } else {
                Err(StoreError::PreconditionFailed)
            }
        }),
    })
}

/// Runs `statement`, which writes the row that `$1` (`key`) names with `language`'s year (`$2`) and
/// contribution (`$3`) and returns it, then commits.
async fn row_written(
    transaction: &Transaction<'_>,
    statement: &str,
    key: &(dyn ToSql + Sync),
    language: &Language,
) -> Result<Result<Stored, StoreError>, tokio_postgres::Error> {
    let statement = transaction.prepare_cached(statement).await?;
    let row = transaction
        .query_one(
            &statement,
            &[
                key,
                &language.publication_year,
                &language.contribution.as_bytes(),
            ],
        )
        .await?;
    Ok(stored(&row))
}

/// A row of `languages` as a stored language, read from the row's own bytes: the name and the
/// contribution are copied once, into the stored record.
fn stored(row: &Row) -> Result<Stored, StoreError> {
    let position: i64 = row.get(0);
    let Ok(contribution) = std::str::from_utf8(row.get::<_, &[u8]>(3)) else {
        // Only this server writes the table, always UTF-8: the data was changed behind its back.
        tracing::error!(position, "a stored contribution is not UTF-8");
        return Err(StoreError::Unavailable);
    };
    let name: &str = row.get(1);
    if !Name::is_valid(name) {
        // Only this server writes the table, always a valid name: the data was changed behind
        // its back.
        tracing::error!(position, "a stored name is not a valid name");
        return Err(StoreError::Unavailable);
    }
    Ok(Stored::from_parts(
        u64::try_from(position).unwrap_or(0),
        name,
        row.get(2),
        contribution,
    ))
}

fn position(language: &Stored) -> i64 {
    i64::try_from(language.position()).unwrap_or(i64::MAX)
}
