//! Builds the black-box suite on PostgreSQL (`tests/postgres`) when there is a server to run it
//! on: when PROG_LANG_API_TEST_DATABASE_URL is set, or when CI is, where its absence must fail
//! the run rather than skip the suite.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rerun-if-env-changed=PROG_LANG_API_TEST_DATABASE_URL");
    println!("cargo::rerun-if-env-changed=CI");
    let database = std::env::var_os("PROG_LANG_API_TEST_DATABASE_URL").is_some();
    let ci = std::env::var_os("CI").is_some_and(|value| !value.is_empty() && value != "false");
    if database || ci {
        println!("cargo::rustc-cfg=postgres_tests");
    } else {
        println!(
            "cargo::warning=PROG_LANG_API_TEST_DATABASE_URL is not set: the black-box suite runs \
             on the in-memory store only"
        );
    }
}
