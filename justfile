# Every command a developer or CI runs. The README's commands work without just.

# Serve on 127.0.0.1:5000 (flags after `--`, e.g. `just run --addr 0.0.0.0:8080`)
run *ARGS:
    cargo run --release -- {{ARGS}}

# Run every test
test:
    cargo test

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

# Clients generated from the spec, run against the release binary (Rust's is in `cargo test`)
clients:
    tests/python/run
    tests/typescript/run

# Every benchmark: the load benchmark, then the store's
bench: bench-load bench-store

# prog-lang-api beside a bare hyper server, under wrk, side by side (installs wrk when missing)
bench-load:
    benches/load/run

# The store's criterion benchmarks at 1,000 / 100,000 / 1,000,000 languages, and its memory per language
bench-store:
    cargo bench --bench store
