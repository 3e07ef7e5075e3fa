//! Metrics: `GET /metrics` on a listener of its own, parsed as Prometheus reads it, moving as
//! requests are made, and never growing a series for what a client makes up.

use std::{collections::BTreeSet, net::SocketAddr};

use prometheus_parse::{Scrape, Value};
use reqwest::StatusCode;

use crate::helpers::*;

/// A free loopback address, for the metrics listener, whose port the test must know.
pub(crate) fn free_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
}

/// A server with metrics on, and its metrics URL.
async fn spawn_with_metrics() -> (TestApp, String) {
    let metrics = free_address();
    let app = spawn_app_with(with(|c| c.metrics_addr = Some(metrics))).await;
    (app, format!("http://{metrics}/metrics"))
}

pub(crate) async fn scrape(app: &TestApp, url: &str) -> Scrape {
    let response = app.client.get(url).send().await.expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        content_type(&response),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.expect("text");
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("Prometheus text")
}

/// The value of the counter or gauge `metric` with exactly `labels`.
pub(crate) fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == metric
                && sample.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(name, value)| sample.labels.get(name) == Some(value))
        })
        .map(|sample| match sample.value {
            Value::Counter(value) | Value::Gauge(value) | Value::Untyped(value) => value,
            _ => panic!("{metric} is not a counter or gauge"),
        })
}

/// Every series: a metric and its labels.
fn series(scrape: &Scrape) -> BTreeSet<String> {
    scrape
        .samples
        .iter()
        .map(|sample| {
            let labels: BTreeSet<String> = sample
                .labels
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            format!("{}{labels:?}", sample.metric)
        })
        .collect()
}

#[tokio::test]
async fn request_counts_and_durations_move_as_requests_are_made() {
    let (app, metrics) = spawn_with_metrics().await;
    for _ in 0..3 {
        assert_eq!(app.list("").await.status(), StatusCode::OK);
    }
    assert_eq!(
        app.get_language("Nope").await.status(),
        StatusCode::NOT_FOUND
    );
    let created = app.create(&language("Metered", 2020, "counted")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(app.get("/openapi.json").await.status(), StatusCode::OK);

    let scrape = scrape(&app, &metrics).await;
    let requests = |operation, method, status| {
        value(
            &scrape,
            "http_server_requests_total",
            &[
                ("operation", operation),
                ("method", method),
                ("status", status),
            ],
        )
    };
    assert_eq!(requests("list_languages", "GET", "200"), Some(3.0));
    assert_eq!(requests("get_language", "GET", "404"), Some(1.0));
    assert_eq!(requests("create_language", "POST", "201"), Some(1.0));
    assert_eq!(requests("spec", "GET", "200"), Some(1.0));

    let histogram = scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == "http_server_request_duration_seconds"
                && sample.labels.get("operation") == Some("list_languages")
                && sample.labels.get("method") == Some("GET")
        })
        .expect("a histogram for list_languages");
    let Value::Histogram(buckets) = &histogram.value else {
        panic!("not a histogram: {histogram:?}");
    };
    let smallest = buckets.first().expect("buckets").less_than;
    let largest = buckets
        .iter()
        .map(|bucket| bucket.less_than)
        .filter(|le| le.is_finite())
        .fold(0.0, f64::max);
    assert!(
        smallest <= 0.0001 && largest >= 10.0,
        "{smallest} .. {largest}"
    );
    let all = buckets.last().expect("+Inf").count;
    assert_eq!(all, 3.0, "every list request is in the +Inf bucket");
    assert!(
        buckets
            .iter()
            .any(|bucket| bucket.less_than <= 1.0 && bucket.count == 3.0)
    );

    assert_eq!(value(&scrape, "prog_lang_api_languages", &[]), Some(9.0));
    assert_eq!(
        value(&scrape, "http_server_active_requests", &[]),
        Some(0.0)
    );
    for process in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        let value = value(&scrape, process, &[]).unwrap_or_else(|| panic!("{process}"));
        assert!(value >= 0.0, "{process}");
    }
    assert!(value(&scrape, "process_open_fds", &[]).unwrap_or(0.0) >= 3.0);

    let deleted = app.delete("Metered").await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let later = self::scrape(&app, &metrics).await;
    assert_eq!(value(&later, "prog_lang_api_languages", &[]), Some(8.0));
}

#[tokio::test]
async fn made_up_paths_and_methods_add_no_series() {
    let (app, metrics) = spawn_with_metrics().await;
    assert_eq!(app.get("/first/miss").await.status(), StatusCode::NOT_FOUND);
    let brew = reqwest::Method::from_bytes(b"BREW").expect("a method");
    let odd = app
        .client
        .request(brew.clone(), app.url("/programming_languages"))
        .send()
        .await
        .expect("BREW");
    assert_eq!(odd.status(), StatusCode::METHOD_NOT_ALLOWED);
    let before = series(&scrape(&app, &metrics).await);

    for i in 0..50 {
        let path = format!("/made/up/{i}?x={i}");
        assert_eq!(app.get(&path).await.status(), StatusCode::NOT_FOUND);
        let method = reqwest::Method::from_bytes(format!("X{i}").as_bytes()).expect("a method");
        let response = app
            .client
            .request(method, app.url(&format!("/programming_languages/{i}")))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    let after = scrape(&app, &metrics).await;
    assert_eq!(series(&after), before, "no new series");
    let misses = value(
        &after,
        "http_server_requests_total",
        &[("operation", "other"), ("method", "GET"), ("status", "404")],
    );
    assert_eq!(misses, Some(51.0));
    let odd = value(
        &after,
        "http_server_requests_total",
        &[
            ("operation", "other"),
            ("method", "other"),
            ("status", "405"),
        ],
    );
    assert_eq!(odd, Some(51.0));
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_only() {
    let (app, metrics) = spawn_with_metrics().await;
    let on_the_api = app.get("/metrics").await;
    problem(
        on_the_api,
        StatusCode::NOT_FOUND,
        "/problems/not-found",
        "/metrics",
    )
    .await;
    let base = metrics.trim_end_matches("/metrics");
    let elsewhere = app
        .client
        .get(format!("{base}/programming_languages"))
        .send()
        .await
        .expect("GET");
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let post = app.client.post(&metrics).send().await.expect("POST");
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers()["allow"], "GET, HEAD");

    let openmetrics = app
        .client
        .get(&metrics)
        .header("Accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .expect("GET");
    assert!(content_type(&openmetrics).starts_with("application/openmetrics-text"));
    let text = openmetrics.text().await.expect("text");
    assert!(text.ends_with("# EOF\n"), "{text}");

    let off = spawn_app().await;
    assert_eq!(off.get("/metrics").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_slow_upload_is_a_request_in_flight_on_an_open_connection() {
    let (app, metrics) = spawn_with_metrics().await;
    let upload = SlowUpload::begin(&app.address, "Slowly", UploadHead::default()).await;
    // The head is in: the request is being answered, its body still coming.
    let mut in_flight = None;
    for _ in 0..100 {
        let scrape = scrape(&app, &metrics).await;
        in_flight = value(&scrape, "http_server_active_requests", &[]);
        if in_flight == Some(1.0) {
            assert!(value(&scrape, "http_server_open_connections", &[]) >= Some(1.0));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(in_flight, Some(1.0));
    let answer = upload.finish().await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let after = scrape(&app, &metrics).await;
    assert_eq!(value(&after, "http_server_active_requests", &[]), Some(0.0));
    let created = value(
        &after,
        "http_server_requests_total",
        &[
            ("operation", "create_language"),
            ("method", "POST"),
            ("status", "201"),
        ],
    );
    assert_eq!(created, Some(1.0));
}

#[tokio::test]
async fn the_database_series_are_there_on_postgresql_only() {
    let (app, metrics) = spawn_with_metrics().await;
    assert_eq!(app.list("").await.status(), StatusCode::OK);
    let scrape = scrape(&app, &metrics).await;
    let idle = value(
        &scrape,
        "prog_lang_api_database_connections",
        &[("state", "idle")],
    );
    let in_use = value(
        &scrape,
        "prog_lang_api_database_connections",
        &[("state", "in_use")],
    );
    let shared = value(
        &scrape,
        "prog_lang_api_database_connections",
        &[("state", "shared")],
    );
    let errors = value(&scrape, "prog_lang_api_database_errors_total", &[]);
    match crate::STORE {
        TestStore::Memory => {
            assert_eq!((idle, in_use, shared, errors), (None, None, None, None));
        }
        TestStore::Postgres => {
            assert!(idle >= Some(1.0), "{idle:?}");
            assert_eq!(in_use, Some(0.0));
            // The list went out on the connection that reads share.
            assert_eq!(shared, Some(1.0));
            assert_eq!(errors, Some(0.0));
        }
    }
}
