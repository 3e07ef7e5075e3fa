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
//! The statements are prepared once, when the connection is made. A connection whose query failed
//! or ran out of time is given up, and the next read makes a new one: one read makes it while the
//! others wait, within their own deadlines.

use std::sync::{Arc, Mutex, PoisonError};

use tokio_postgres::{Client, Error, NoTls, Statement};

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
}

/// The connection that reads share, made when a read needs it.
pub(super) struct Readers {
    config: tokio_postgres::Config,
    reader: Mutex<Option<Arc<Reader>>>,
    /// Held while the connection is made, so that one read makes it.
    connecting: tokio::sync::Mutex<()>,
}

impl Readers {
    /// Reads on a shared connection to the database `config` names.
    pub(super) fn new(config: tokio_postgres::Config) -> Self {
        Self {
            config,
            reader: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
        }
    }

    /// The shared connection, made if there is none. The caller bounds the wait.
    pub(super) async fn get(&self) -> Result<Arc<Reader>, Error> {
        if let Some(reader) = self.current() {
            return Ok(reader);
        }
        let _turn = self.connecting.lock().await;
        if let Some(reader) = self.current() {
            return Ok(reader);
        }
        let (client, connection) = self.config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "the shared database connection ended");
            }
        });
        let reader = Arc::new(Reader {
            statements: ReadStatements::prepare(&client).await?,
            client,
        });
        *self.slot() = Some(Arc::clone(&reader));
        Ok(reader)
    }

    /// Gives up `reader`, whose query failed or ran out of time: the next read makes a new
    /// connection. It closes once the reads still on it have ended.
    pub(super) fn discard(&self, reader: &Arc<Reader>) {
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
