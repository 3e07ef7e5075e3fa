//! The black-box suite: real HTTP against a server spawned on port 0, one per test.

mod create;
mod delete;
mod errors;
mod get;
mod helpers;
mod list;
mod process;
mod spec;
mod tutorial;
mod update;
