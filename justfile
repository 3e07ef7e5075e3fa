# Every command a developer or CI runs. The README's commands work without just.

# Serve on 127.0.0.1:5000 (flags after `--`, e.g. `just run --addr 0.0.0.0:8080`)
run *ARGS:
    cargo run --release -- {{ARGS}}

# Serve on 127.0.0.1:5000 with metrics for Prometheus at http://127.0.0.1:9090/metrics
run-metrics *ARGS:
    cargo run --release -- --metrics-addr 127.0.0.1:9090 {{ARGS}}

# Run every test (on PostgreSQL too when PROG_LANG_API_TEST_DATABASE_URL is set: see `just test-db`)
test:
    cargo test

# Run every test, the black-box suite on both stores, with the development database's server
test-db:
    PROG_LANG_API_TEST_DATABASE_URL="$(tests/postgres/cluster start target/dev-postgres)" cargo test

# Start a development PostgreSQL in target/dev-postgres, on a free port, and print its URL (needs
# Debian's postgresql package, and root or the postgres user)
db:
    tests/postgres/cluster start target/dev-postgres

# Stop the development PostgreSQL
db-stop:
    tests/postgres/cluster stop target/dev-postgres

# Serve on the development PostgreSQL, starting it if needed (flags after `--`, as for `run`)
run-db *ARGS:
    PROG_LANG_API_DATABASE_URL="$(tests/postgres/cluster start target/dev-postgres)" cargo run --release -- {{ARGS}}

# Format the code
fmt:
    cargo fmt

# Lint, warnings as errors
lint:
    cargo clippy --all-targets --locked -- -D warnings

# What CI checks: formatting, lints, tests
check:
    cargo fmt --check
    cargo clippy --all-targets --locked -- -D warnings
    cargo test

# Rewrite openapi/openapi.json and openapi/openapi.yaml from the live spec
spec:
    UPDATE_SPEC=1 cargo test --test api spec

# The spec from outside: its name pattern under ECMA-262, the linters, schemathesis
conformance:
    node tests/name_pattern.mjs
    openapi/lint
    tests/schemathesis/run

# Swagger UI used as a first-time user would, in headless Chromium (screenshots in target/browser/)
browser:
    tests/browser/run

# Clients generated from the spec, run against the release binary (Rust's is in `cargo test`)
clients:
    tests/python/run
    tests/typescript/run
    tests/openapi-generator/run

# Every benchmark: under load, on PostgreSQL beside pgbench and its cost there, compression, churn,
# then the store's
bench: bench-load bench-postgres bench-postgres-cost bench-compression bench-churn bench-store

# prog-lang-api beside a bare hyper server, under wrk, side by side (installs wrk when missing)
bench-load:
    benches/load/run

# On the development PostgreSQL beside pgbench running the same SQL: get, page of 100, write cycle
bench-postgres:
    benches/load/postgres

# What a get costs PostgreSQL under load: its CPU and context switches a request
bench-postgres-cost:
    benches/load/postgres-cost

# Resident memory under five minutes of creates and deletes at full speed
bench-churn:
    benches/load/churn

# What compression costs on the page of 1,000 languages: wrk with identity, gzip and br
bench-compression:
    benches/load/compression

# The stores' criterion benchmarks: in memory at 1,000 / 100,000 / 1,000,000 languages, with its
# memory per language; PostgreSQL at 1,000 and 1,000,000 rows, on the development database
bench-store:
    PROG_LANG_API_TEST_DATABASE_URL="$(tests/postgres/cluster start target/dev-postgres)" cargo bench --bench store

# Fuzz TARGET for SECONDS with cargo-fuzz (nightly; installs cargo-fuzz when missing): the
# committed corpus fuzz/corpus/TARGET seeds it, new inputs go to fuzz/target/corpus/TARGET, a crash
# to fuzz/artifacts/TARGET. Targets: json_body query path conditional accept_encoding page_token
# authorization request. `cargo test --test corpora` replays the committed corpora on stable.
fuzz TARGET SECONDS="60":
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    mkdir -p fuzz/target/corpus/{{TARGET}}
    cargo +nightly fuzz run -O {{TARGET}} fuzz/target/corpus/{{TARGET}} fuzz/corpus/{{TARGET}} -- -max_total_time={{SECONDS}}
