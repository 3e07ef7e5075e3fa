//! The prog-lang-api client progenitor generates from `openapi/openapi.json` (see `build.rs`);
//! `tests/client.rs` drives it against a server.

include!(concat!(env!("OUT_DIR"), "/client.rs"));
