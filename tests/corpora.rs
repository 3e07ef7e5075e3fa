//! The fuzz targets' corpora replayed on stable (`fuzz/corpus/TARGET/`): every input the fuzzer
//! kept, and every crash it found, passes again through the same entry point, so that a fixed
//! crash stays fixed without a nightly toolchain.

use std::path::Path;

use prog_lang_api::fuzzing;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs = 0;
    for entry in
        std::fs::read_dir(&dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
    {
        let path = entry.expect("a corpus entry").path();
        let data = std::fs::read(&path).expect("a corpus input");
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        inputs += 1;
    }
    assert!(inputs > 0, "{target}: an empty corpus");
}

#[test]
fn json_body() {
    replay("json_body", fuzzing::json_body);
}

#[test]
fn query() {
    replay("query", fuzzing::query);
}

#[test]
fn path() {
    replay("path", fuzzing::path);
}

#[test]
fn conditional() {
    replay("conditional", fuzzing::conditional);
}

#[test]
fn accept_encoding() {
    replay("accept_encoding", fuzzing::accept_encoding);
}

#[test]
fn page_token() {
    replay("page_token", fuzzing::page_token);
}

#[test]
fn authorization() {
    replay("authorization", fuzzing::authorization);
}

#[test]
fn request() {
    replay("request", fuzzing::request);
}
