//! The cross-cutting layers: each wraps the whole service and leaves the operations alone.

mod access_log;
mod checks;
mod cors;
mod errors;
mod request_id;
mod tokens;

pub(crate) use access_log::access_log;
pub(crate) use checks::check_request;
pub(crate) use cors::{CorsPolicy, cors};
pub(crate) use errors::catch_errors;
pub(crate) use request_id::{RequestId, request_id};
pub(crate) use tokens::{WriteTokens, require_write_token};
