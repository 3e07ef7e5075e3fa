//! The black-box suite again, on PostgreSQL, and the tests that only a shared database has:
//! restarts, several servers on one database, migrations racing, an outage.
//!
//! Every server gets a fresh database of its own on the PostgreSQL server that
//! PROG_LANG_API_TEST_DATABASE_URL names (its user must be allowed to create databases), so the
//! tests run in parallel. Without the variable this crate is empty, unless CI is set: then every
//! test fails, rather than the suite being skipped (see build.rs).
#![cfg(postgres_tests)]

#[path = "../api/compression.rs"]
mod compression;
#[path = "../api/conditional.rs"]
mod conditional;
#[path = "../api/connections.rs"]
mod connections;
mod crashes;
#[path = "../api/create.rs"]
mod create;
#[path = "../api/delete.rs"]
mod delete;
#[path = "../api/deploy.rs"]
mod deploy;
#[path = "../api/errors.rs"]
mod errors;
#[path = "../api/get.rs"]
mod get;
#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../api/hostile.rs"]
mod hostile;
#[path = "../api/list.rs"]
mod list;
#[path = "../api/metrics.rs"]
mod metrics;
#[path = "../api/patch.rs"]
mod patch;
#[path = "../api/retries.rs"]
mod retries;
mod servers;
#[path = "../api/spec.rs"]
mod spec;
#[path = "../api/tutorial.rs"]
mod tutorial;
#[path = "../api/update.rs"]
mod update;

/// The store this suite runs on.
const STORE: helpers::TestStore = helpers::TestStore::Postgres;
