//! The in-memory store at 1,000, 100,000 and 1,000,000 languages: a page of 100 unfiltered and
//! under a narrow year filter, a get, a create and delete; and the memory each language costs.
//! Then, when PROG_LANG_API_TEST_DATABASE_URL names a PostgreSQL server it may create databases
//! on, the PostgreSQL store at 1,000 and 1,000,000 rows: a get, a page of 100, a create.
//! Run: cargo bench --bench store   (or: just bench-store, which starts a database)

use criterion::{BenchmarkId, Criterion, criterion_group};
use futures_util::FutureExt;
use prog_lang_api::{Cursor, Language, Name, Store, YearFilter};

/// This process's resident memory, in bytes (Linux), allocator overhead included: what a
/// language really costs.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

const SIZES: [u64; 3] = [1_000, 100_000, 1_000_000];

/// The `i`th generated language: years spread over the whole range, so that a one-year filter
/// selects about one language in 301.
fn language(i: u64) -> Language {
    Language {
        name: Name::try_from(format!("Language {i:07}")).expect("a valid name"),
        publication_year: 1800 + i32::try_from(i % 301).unwrap_or(0),
        contribution: format!("the contribution of language number {i}"),
    }
}

/// A store of `size` languages (the eight seeds among them).
fn store(size: u64) -> Store {
    let store = Store::in_memory(u64::MAX);
    for i in 8..size {
        run(store.create(language(i))).expect("create");
    }
    store
}

/// The pages a walk of `size` languages starts and ends with: the first, and the last full page
/// (at a million languages, 999,900 rows deep).
fn pages(size: u64) -> [(&'static str, Option<Cursor>); 2] {
    [("first", None), ("last", Some(Cursor(size - 100)))]
}

/// The in-memory store's futures are ready at once: no runtime needed to measure them.
fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    future
        .now_or_never()
        .expect("the in-memory store does not wait")
}

fn operations(c: &mut Criterion) {
    for size in SIZES {
        let store = store(size);
        let mut group = c.benchmark_group(format!("store/{size}"));
        for (depth, after) in pages(size) {
            group.bench_function(BenchmarkId::new("page of 100", depth), |b| {
                b.iter(|| run(store.list(YearFilter::default(), after, 100)).expect("page"))
            });
        }
        let narrow = YearFilter {
            after: Some(1949),
            before: Some(1951),
        };
        group.bench_function(BenchmarkId::new("page of 100", "one year"), |b| {
            b.iter(|| run(store.list(narrow, None, 100)).expect("page"))
        });
        let name = language(size / 2).name;
        group.bench_function("get", |b| b.iter(|| run(store.get(&name)).expect("get")));
        let mut next = size;
        group.bench_function("create and delete", |b| {
            b.iter(|| {
                let language = language(next);
                let name = language.name.clone();
                run(store.create(language)).expect("create");
                run(store.delete(&name, &|_| true)).expect("delete");
                next += 1;
            })
        });
        group.finish();
    }
}

/// Bytes per language beyond its strings' own bytes, at the largest size.
fn memory() {
    let size = *SIZES.last().unwrap_or(&1_000_000);
    let before = resident_bytes();
    let store = store(size);
    let after = resident_bytes();
    let strings: u64 = (8..size)
        .map(|i| {
            let language = language(i);
            (language.name.len() + language.contribution.len()) as u64
        })
        .sum();
    let total = after.saturating_sub(before);
    let languages = size - 8;
    println!(
        "memory: {languages} languages take {total} resident bytes: {:.1} bytes each beyond \
         their strings ({strings} bytes of strings)",
        (total.saturating_sub(strings)) as f64 / languages as f64
    );
    drop(store);
}

/// The PostgreSQL store, each size in a database of its own, filled by one `INSERT … SELECT`.
fn postgres(c: &mut Criterion) {
    let Ok(server) = std::env::var("PROG_LANG_API_TEST_DATABASE_URL") else {
        println!("PROG_LANG_API_TEST_DATABASE_URL is not set: no PostgreSQL benchmarks");
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    for size in [1_000_u64, 1_000_000] {
        let (store, url) = runtime.block_on(postgres_store(&server, size));
        let mut group = c.benchmark_group(format!("postgres/{size}"));
        let name = language(size / 2).name;
        group.bench_function("get", |b| {
            b.iter(|| runtime.block_on(store.get(&name)).expect("get"))
        });
        for (depth, after) in pages(size) {
            group.bench_function(BenchmarkId::new("page of 100", depth), |b| {
                b.iter(|| {
                    runtime
                        .block_on(store.list(YearFilter::default(), after, 100))
                        .expect("page")
                })
            });
        }
        let narrow = YearFilter {
            after: Some(1949),
            before: Some(1951),
        };
        group.bench_function(BenchmarkId::new("page of 100", "one year"), |b| {
            b.iter(|| {
                runtime
                    .block_on(store.list(narrow, None, 100))
                    .expect("page")
            })
        });
        let mut next = size;
        group.bench_function("create", |b| {
            b.iter(|| {
                runtime
                    .block_on(store.create(language(next)))
                    .expect("create");
                next += 1;
            })
        });
        group.finish();
        drop(store);
        runtime.block_on(drop_database(&server, &url));
    }
}

/// A PostgreSQL store of `size` languages in a new database on `server`, and that database's URL.
async fn postgres_store(server: &str, size: u64) -> (Store, String) {
    let admin = connect(server).await;
    let database = format!("prog_lang_api_bench_{size}_{}", std::process::id());
    for statement in [
        format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
        format!("CREATE DATABASE {database}"),
    ] {
        admin
            .batch_execute(&statement)
            .await
            .expect("a bench database");
    }
    let (scheme, rest) = server.split_once("://").expect("a postgres:// URL");
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let url = format!("{scheme}://{authority}/{database}");
    let store = Store::postgres(&url, 4, u64::MAX).await.expect("a store");
    let fill = connect(&url).await;
    let last = i64::try_from(size).expect("a size") - 1;
    fill.execute(
        "INSERT INTO languages (name, publication_year, contribution)
         SELECT format('Language %s', lpad(i::text, 7, '0')), 1800 + i % 301,
                convert_to(format('the contribution of language number %s', i), 'UTF8')
         FROM generate_series(8, $1::bigint) AS i",
        &[&last],
    )
    .await
    .expect("fill");
    for statement in [
        format!("UPDATE store_state SET language_count = {size}"),
        "VACUUM ANALYZE languages".to_owned(),
    ] {
        fill.batch_execute(&statement)
            .await
            .expect("count and analyze");
    }
    (store, url)
}

async fn drop_database(server: &str, url: &str) {
    let database = url.rsplit('/').next().unwrap_or_default();
    let _ = connect(server)
        .await
        .batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .await;
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = operations, postgres
}

fn main() {
    memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
