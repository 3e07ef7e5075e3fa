//! The black-box suite: real HTTP against a server spawned on port 0, one per test.

mod compression;
mod conditional;
mod connections;
mod create;
mod delete;
mod deploy;
mod errors;
mod get;
mod helpers;
mod hostile;
mod limits;
mod list;
mod metrics;
mod patch;
mod process;
mod retries;
mod spec;
mod tutorial;
mod update;

/// The store this suite runs on; `tests/postgres` runs it again on PostgreSQL.
const STORE: helpers::TestStore = helpers::TestStore::Memory;
