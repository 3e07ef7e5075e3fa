//! The in-memory store at 1,000, 100,000 and 1,000,000 languages: a page of 100 unfiltered and
//! under a narrow year filter, a get, a create and delete; and the memory each language costs.
//! Run: cargo bench --bench store   (or: just bench-store)

use criterion::{BenchmarkId, Criterion, criterion_group};
use futures_util::FutureExt;
use prog_lang_api::{Cursor, Language, Store, YearFilter};

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
        name: format!("Language {i:07}"),
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

/// The in-memory store's futures are ready at once: no runtime needed to measure them.
fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    future
        .now_or_never()
        .expect("the in-memory store does not wait")
}

fn operations(c: &mut Criterion) {
    for size in SIZES {
        let store = store(size);
        let middle = Some(Cursor(size / 2));
        let mut group = c.benchmark_group(format!("store/{size}"));
        group.bench_function(BenchmarkId::new("page of 100", "unfiltered"), |b| {
            b.iter(|| run(store.list(YearFilter::default(), middle, 100)).expect("page"))
        });
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
                let created = run(store.create(language(next))).expect("create");
                run(store.delete(created.name(), &|_| true)).expect("delete");
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

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = operations
}

fn main() {
    memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
