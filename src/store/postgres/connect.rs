//! Reaching the database at start: the first connection, retried while the database is starting
//! up or out of reach, and messages about it that never hold the URL's password.

use std::time::Duration;

use deadpool_postgres::{Object, Pool};

use super::{START_TIMEOUT, StartError};

/// Where the database is, for messages: host, port and database name, never the password.
pub(super) fn describe(config: &tokio_postgres::Config) -> String {
    let host = config.get_hosts().first().map_or_else(
        || "localhost".to_owned(),
        |host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        },
    );
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().or(config.get_user()).unwrap_or("");
    format!("{host}:{port}/{database}")
}

/// The first connection, retried until `START_TIMEOUT` while the database is starting up or out
/// of reach.
pub(super) async fn first_connection(
    pool: &Pool,
    place: &str,
    deadline: tokio::time::Instant,
) -> Result<Object, StartError> {
    loop {
        match pool.get().await {
            Ok(client) => return Ok(client),
            // The database answered, and said no for good (a wrong password, no such database):
            // waiting will not change its mind. One that is starting up, or has no connection to
            // spare, may yet.
            Err(deadpool_postgres::PoolError::Backend(error))
                if error
                    .as_db_error()
                    .is_some_and(|error| refuses_for_good(error.code())) =>
            {
                return Err(StartError(format!(
                    "the database {place} refused the connection: {}",
                    error.as_db_error().map_or("", |error| error.message())
                )));
            }
            Err(error) if tokio::time::Instant::now() >= deadline => {
                return Err(StartError(format!(
                    "cannot reach the database {place} within {} s: {}",
                    START_TIMEOUT.as_secs(),
                    connect_failure(&error)
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Whether a database's refusal to connect is final: a failed authorization (class 28) or no such
/// database (3D000).
fn refuses_for_good(code: &tokio_postgres::error::SqlState) -> bool {
    code.code().starts_with("28") || *code == tokio_postgres::error::SqlState::INVALID_CATALOG_NAME
}

/// Why a connection failed, in words that hold no part of the URL.
fn connect_failure(error: &deadpool_postgres::PoolError) -> String {
    match error {
        deadpool_postgres::PoolError::Backend(error) => match error.as_db_error() {
            Some(error) => error.message().to_owned(),
            None => error.to_string(),
        },
        deadpool_postgres::PoolError::Timeout(_) => "no answer".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use tokio_postgres::error::SqlState;

    use super::*;

    #[test]
    fn a_database_is_described_without_its_password() {
        let config: tokio_postgres::Config = "postgres://app:s3cret@db.internal:6543/languages"
            .parse()
            .expect("a URL");
        let described = describe(&config);
        assert_eq!(described, "db.internal:6543/languages");
        assert!(!described.contains("s3cret"));
        // Without a host, a port or a database: libpq's defaults, the database named after the
        // user.
        let config: tokio_postgres::Config = "user=app password=s3cret".parse().expect("a DSN");
        assert_eq!(describe(&config), "localhost:5432/app");
    }

    #[test]
    fn only_a_final_refusal_stops_the_retries() {
        for final_refusal in [
            SqlState::INVALID_PASSWORD,
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            SqlState::INVALID_CATALOG_NAME,
        ] {
            assert!(refuses_for_good(&final_refusal), "{final_refusal:?}");
        }
        // Starting up, shutting down, or out of connections: it may yet say yes.
        for passing in [
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::TOO_MANY_CONNECTIONS,
        ] {
            assert!(!refuses_for_good(&passing), "{passing:?}");
        }
    }
}
