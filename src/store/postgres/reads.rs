//! Reads on one connection that every request shares.
//!
//! tokio-postgres pipelines the queries that several tasks issue on one client: each is written
//! to the socket as it comes, without waiting for the answers before it, and the answers are read
//! back in order. So a get or a page does not take a connection of its own: it sends its query on
//! the shared connection, and the PostgreSQL backend, when it wakes up, finds the queries of many
//! requests waiting, not one. Writes keep connections of their own from the pool, since a
//! transaction must not take in other requests' statements.
//!
//! One connection, not several: on two cores a get under load cost PostgreSQL 23–35 µs of CPU and
//! 0.12 context switches with one, 33–52 µs and 0.46–0.72 with two, 67 µs and 1.1 with none (a
//! pooled connection each). A backend runs on one core, so a database with cores to spare would
//! serve more reads on more connections; that is not built.
//!
//! At most `MAX_IN_FLIGHT` reads are on the connection at once; the others wait in this process,
//! so that a read whose request has given up never reaches the database, and a burst past what the
//! database can answer queues here, not in its backend.
//!
//! The statements are prepared once, when the connection is made. A connection that failed or
//! stalled is closed at once (the reads still on it fail with it) and the next read makes a new
//! one: one read makes it while the others wait, within their own deadlines. So the shared
//! connection is one connection at any time, as the pool size counts it.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::{sync::Semaphore, task::AbortHandle};
use tokio_postgres::{Client, Error, NoTls, Statement};

/// The most reads on the shared connection at once.
const MAX_IN_FLIGHT: usize = 64;

/// A language by name.
const GET: &str = concat!("SELECT ", columns!(), " FROM languages WHERE name = $1");
/// A page of every language, in insertion order.
const PAGE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM languages WHERE position > $1 ORDER BY position LIMIT $2"
);
/// A page of a narrow year filter: each year's first languages through the (year, position)
/// index, merged, so that at most `$4` rows a year are read, however large the table.
const NARROW_PAGE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM generate_series($1::integer, $2::integer) AS year \
     CROSS JOIN LATERAL (SELECT ",
    columns!(),
    " FROM languages \
         WHERE publication_year = year AND position > $3 \
         ORDER BY position LIMIT $4) AS of_year \
     ORDER BY position LIMIT $4"
);
/// A page of a wide year filter, which passes most languages: walking them in order is cheapest.
const WIDE_PAGE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM languages \
     WHERE publication_year BETWEEN $1 AND $2 AND position > $3 \
     ORDER BY position LIMIT $4"
);

/// The reads' prepared statements on one connection.
pub(super) struct ReadStatements {
    pub(super) get: Statement,
    pub(super) page: Statement,
    pub(super) narrow_page: Statement,
    pub(super) wide_page: Statement,
}

impl ReadStatements {
    /// Prepares the statements on a shared connection, once.
    async fn prepare(client: &Client) -> Result<Self, Error> {
        Ok(Self {
            get: client.prepare(GET).await?,
            page: client.prepare(PAGE).await?,
            narrow_page: client.prepare(NARROW_PAGE).await?,
            wide_page: client.prepare(WIDE_PAGE).await?,
        })
    }

    /// The statements on a pooled connection, prepared at its first read.
    pub(super) async fn cached(client: &deadpool_postgres::Client) -> Result<Self, Error> {
        Ok(Self {
            get: client.prepare_cached(GET).await?,
            page: client.prepare_cached(PAGE).await?,
            narrow_page: client.prepare_cached(NARROW_PAGE).await?,
            wide_page: client.prepare_cached(WIDE_PAGE).await?,
        })
    }
}

/// A shared connection and its statements.
pub(super) struct Reader {
    pub(super) client: Client,
    pub(super) statements: ReadStatements,
    connection: Connection,
}

/// The task that drives a connection, aborted (which closes the connection) when this is dropped.
struct Connection(AbortHandle);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The connection that reads share, made when a read needs it.
pub(super) struct Readers {
    config: tokio_postgres::Config,
    /// The longest a new connection may take, its statements prepared.
    connect_timeout: Duration,
    reader: Mutex<Option<Arc<Reader>>>,
    /// Held while the connection is made, so that one read makes it.
    connecting: tokio::sync::Mutex<()>,
    /// A permit for each read that may be on the connection.
    in_flight: Semaphore,
}

impl Readers {
    /// Reads on a shared connection to the database `config` names, each new connection made
    /// within `connect_timeout`.
    pub(super) fn new(config: tokio_postgres::Config, connect_timeout: Duration) -> Self {
        Self {
            config,
            connect_timeout,
            reader: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
        }
    }

    /// Room for one more read on the connection, held until the read ends. The caller bounds the
    /// wait.
    pub(super) async fn admit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.in_flight
            .acquire()
            .await
            .unwrap_or_else(|_| unreachable!("the semaphore is never closed"))
    }

    /// The shared connection, made if there is none: `None` if it could not be made within the
    /// connect timeout. The caller bounds the wait.
    pub(super) async fn get(&self) -> Result<Option<Arc<Reader>>, Error> {
        if let Some(reader) = self.current() {
            return Ok(Some(reader));
        }
        let _turn = self.connecting.lock().await;
        if let Some(reader) = self.current() {
            return Ok(Some(reader));
        }
        let connect = async {
            let (client, connection) = self.config.connect(NoTls).await?;
            // Closed when this is dropped: if the statements cannot be prepared in time, too.
            let connection = Connection(
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "the shared database connection ended");
                    }
                })
                .abort_handle(),
            );
            Ok::<_, Error>(Reader {
                statements: ReadStatements::prepare(&client).await?,
                client,
                connection,
            })
        };
        let Ok(reader) = tokio::time::timeout(self.connect_timeout, connect).await else {
            return Ok(None);
        };
        let reader = Arc::new(reader?);
        *self.slot() = Some(Arc::clone(&reader));
        Ok(Some(reader))
    }

    /// Closes `reader`, which failed or stalled, failing the reads still on it: the next read
    /// makes a new connection.
    pub(super) fn discard(&self, reader: &Arc<Reader>) {
        reader.connection.0.abort();
        let mut current = self.slot();
        if current
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, reader))
        {
            *current = None;
        }
    }

    /// How many shared connections are open: 0 or 1.
    pub(super) fn open(&self) -> usize {
        usize::from(self.current().is_some())
    }

    /// The connection, unless it has closed.
    fn current(&self) -> Option<Arc<Reader>> {
        self.slot()
            .clone()
            .filter(|reader| !reader.client.is_closed())
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<Reader>>> {
        self.reader.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
