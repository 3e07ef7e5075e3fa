//! prog-lang-api: a REST API about programming languages, OpenAPI-first, on poem-openapi.
//!
//! How a request flows, outermost first:
//! - `server`: accepts connections, times out slow and idle ones, drains them on shutdown.
//! - `routes`: the URL map, wrapped by `middleware` (request id, access log, write tokens, request
//!   checks), CORS, and `problem::catch_errors`, which turns every error the framework raises into
//!   an RFC 9457 problem.
//! - `api`: one thin handler per operation, with its response enum; `json` reads and writes the
//!   bodies, `page_token` signs page cursors, `conditional` makes ETags and reads `If-Match`,
//!   `problem` builds the error bodies.
//! - `schema`: the wire types and the rules of the resource; `spec` publishes the OpenAPI document.
//! - `store`: the languages, behind one face for every backend; it knows nothing of HTTP.
//!
//! `main.rs` only parses `Config`, starts logging, binds and calls `serve`.

mod api;
mod app;
mod conditional;
mod config;
mod json;
mod language;
mod middleware;
mod page_token;
mod problem;
mod routes;
mod server;
mod spec;
mod store;

pub use config::{Config, LogFormat};
pub use language::{Language, LanguageChanges};
pub use server::serve;
pub use store::{Cursor, Page, Precondition, StartError, Store, StoreError, Stored, YearFilter};
