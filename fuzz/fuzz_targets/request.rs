//! `prog_lang_api::fuzzing::request`: see there for the input and the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| prog_lang_api::fuzzing::request(data));
