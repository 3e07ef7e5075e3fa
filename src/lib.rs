//! prog-lang-api: a REST API about programming languages, OpenAPI-first, on poem-openapi.
//!
//! The modules, lowest first; each imports only from those above it:
//! - `language`: the resource (a language, its changes, the rules of each field, the seed).
//! - `store`: the languages, behind one face for the in-memory and PostgreSQL backends; it knows
//!   nothing of HTTP and answers with facts (`NotFound`, `AlreadyExists`...).
//! - `problem`: the RFC 9457 body of every error, built through its constructors.
//! - `json`, `conditional`, `page_token`: strict bodies, ETags and `If-Match`, page cursors.
//! - `compression`: `Accept-Encoding`, and bodies compressed with gzip or br.
//! - `routes`: the route table, derived once from the operations' declarations: paths, methods,
//!   query parameters; `Allow`, the checks, the token guard and `Location` read it.
//! - `api`: the `#[OpenApi]` operations, one response enum each, and the wire types; a handler
//!   reaches the store only by passing the request checks (`api/checks.rs`), and a write declares
//!   its token (`WriteToken`) and its 401 (`WriteRefused`) in its signature.
//! - `metrics`: the Prometheus series and `GET /metrics`.
//! - `middleware`: one layer around the routes: request id, access log, error boundary, rate
//!   limits (and who the client is), CORS, write tokens, request checks, compression.
//! - `spec`: the published document, with the corrections poem-openapi cannot express.
//! - `app`: the only module that wires everything together: the endpoints (the API's, the
//!   metrics'), the limits of each, and `run`, which serves them until shutdown.
//! - `config`: every setting; `server`: `serve(listener, endpoint, limits, shutdown)`, knowing
//!   nothing of the operations: connections, their timeouts and cap, the bodies an early answer left
//!   unread, graceful drain; `logging`: one formatter for every log line, written off the
//!   request's path.
//! - `fuzzing`: the fuzz targets' entry points (`fuzz/`), each with its invariants.
//!
//! `main.rs` only parses `Config`, starts logging, binds and calls `app::run`, which builds what each
//! listener serves and hands it to `server::serve`.
//!
//! Where a change goes: a new operation or parameter, `api/` alone (the route table, the checks,
//! the guard, CORS and the spec read its declarations); a rule of a field, `language`; a new
//! setting, `config` and its use in `app`; a new cross-cutting concern, a file in `middleware/`
//! ordered in its `mod.rs`.

mod api;
mod app;
mod compression;
mod conditional;
mod config;
#[doc(hidden)]
pub mod fuzzing;
mod json;
mod language;
mod logging;
mod metrics;
mod middleware;
mod page_token;
mod problem;
mod routes;
mod server;
mod spec;
mod store;

#[doc(hidden)]
pub use app::bare_operations;
pub use app::run;
pub use config::{Config, LogFormat, RateLimit, TrustedProxy};
pub use language::{InvalidName, Language, LanguageChanges, Name};
pub use logging::{LogGuard, start_logging};
pub use store::{Cursor, Page, Precondition, StartError, Store, StoreError, Stored, YearFilter};
