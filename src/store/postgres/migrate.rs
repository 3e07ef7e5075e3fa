//! The schema: versioned migrations built into the binary, applied at start under an advisory lock
//! so that servers starting together take turns; the first one seeds the languages.

use deadpool_postgres::{Object, Transaction};

use crate::language::seed;

/// The advisory lock that migrations run under, so that servers starting together take turns.
const MIGRATION_LOCK: i64 = 0x706c_6170_695f_6d67; // "plapi_mg"

/// The schema versions, in order; a database at version N has had the first N applied.
const MIGRATIONS: [&str; 2] = [
    include_str!("../migrations/0001_languages.sql"),
    include_str!("../migrations/0002_idempotency_keys.sql"),
];

/// Brings the schema to the newest version this server knows, under an advisory lock held for
/// the transaction, and returns the page-token key. A schema newer than this server knows is an
/// error: this server might break what a newer one relies on.
pub(super) async fn migrate(client: &mut Object) -> Result<Vec<u8>, String> {
    let failed = |error: tokio_postgres::Error| error.to_string();
    // Names and contributions are any Unicode text: a database in another encoding would refuse
    // some of them, and a client's valid request would fail.
    let encoding: String = client
        .query_one("SHOW server_encoding", &[])
        .await
        .map_err(failed)?
        .get(0);
    if encoding != "UTF8" {
        return Err(format!(
            "its encoding is {encoding}, not UTF8: create it with ENCODING 'UTF8'"
        ));
    }
    let transaction = client.transaction().await.map_err(failed)?;
    // Waiting for another server's migration, or running a long one, may take longer than an
    // API statement; the start's own deadline bounds it.
    transaction
        .batch_execute("SET LOCAL statement_timeout = 0")
        .await
        .map_err(failed)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(failed)?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS prog_lang_api_schema (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(failed)?;
    let current: i32 = transaction
        .query_one(
            "SELECT coalesce(max(version), 0) FROM prog_lang_api_schema",
            &[],
        )
        .await
        .map_err(failed)?
        .get(0);
    for (version, sql) in pending(&MIGRATIONS, current)? {
        transaction.batch_execute(sql).await.map_err(failed)?;
        if version == 1 {
            seed_store(&transaction).await.map_err(failed)?;
        }
        transaction
            .execute(
                "INSERT INTO prog_lang_api_schema (version) VALUES ($1)",
                &[&version],
            )
            .await
            .map_err(failed)?;
        tracing::info!(version, "database schema migrated");
    }
    let key: Vec<u8> = transaction
        .query_one("SELECT page_token_key FROM store_state", &[])
        .await
        .map_err(failed)?
        .get(0);
    transaction.commit().await.map_err(failed)?;
    Ok(key)
}

/// The migrations a database at schema version `current` still needs, each with its version, in
/// order; an error for a schema newer than `migrations` know.
fn pending<'a>(
    migrations: &'a [&'a str],
    current: i32,
) -> Result<impl Iterator<Item = (i32, &'a str)> + 'a, String> {
    let known = i32::try_from(migrations.len()).unwrap_or(i32::MAX);
    if current > known {
        return Err(format!(
            "its schema is version {current}, newer than this server knows ({known}): \
             run a newer prog-lang-api"
        ));
    }
    Ok((1..)
        .zip(migrations.iter().copied())
        .skip(usize::try_from(current).unwrap_or(0)))
}

/// The first migration's data: the seed languages, and the state row with a new page-token key.
async fn seed_store(transaction: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    let insert = transaction
        .prepare("INSERT INTO languages (name, publication_year, contribution) VALUES ($1, $2, $3)")
        .await?;
    let languages = seed();
    for language in &languages {
        transaction
            .execute(
                &insert,
                &[
                    &language.name.as_str(),
                    &language.publication_year,
                    &language.contribution.as_bytes(),
                ],
            )
            .await?;
    }
    let mut key = [0u8; 32];
    // Without an OS random source the tokens are still checked, only guessable.
    let _ = getrandom::fill(&mut key);
    let count = i64::try_from(languages.len()).unwrap_or(0);
    transaction
        .execute(
            "INSERT INTO store_state (language_count, page_token_key) VALUES ($1, $2)",
            &[&count, &key.as_slice()],
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_gets_the_migrations_it_lacks_in_order() {
        let migrations = ["one", "two", "three"];
        let all: Vec<_> = pending(&migrations, 0).expect("pending").collect();
        assert_eq!(all, [(1, "one"), (2, "two"), (3, "three")]);
        let rest: Vec<_> = pending(&migrations, 1).expect("pending").collect();
        assert_eq!(rest, [(2, "two"), (3, "three")]);
        assert_eq!(pending(&migrations, 3).expect("pending").count(), 0);
    }

    #[test]
    fn a_schema_newer_than_the_server_knows_stops_the_start() {
        let error = pending(&["one"], 2).err().expect("refused");
        assert!(
            error.contains("version 2, newer than this server knows (1)"),
            "{error}"
        );
    }
}
