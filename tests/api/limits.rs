//! Rate limits (`--rate-limit N/SECS`): the quota passes, the next request is a 429 problem with
//! `Retry-After` and the RateLimit fields and changes nothing, and once the wait is over requests
//! pass again; tokens and addresses are counted apart, `X-Forwarded-For` only from a trusted
//! proxy, and `/healthz` never.

use std::time::Duration;

use prog_lang_api::{RateLimit, TrustedProxy};
use reqwest::{Response, StatusCode};

use crate::{
    helpers::*,
    metrics::{free_address, scrape, value},
};

fn limit(requests: u32, seconds: u64) -> Option<RateLimit> {
    Some(RateLimit {
        requests: requests.try_into().expect("requests"),
        seconds: seconds.try_into().expect("seconds"),
    })
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} in {:?}", response.headers()))
        .to_str()
        .expect("ASCII")
}

/// `GET path` with these headers.
async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = app.client.get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("GET")
}

#[tokio::test]
async fn the_quota_passes_then_a_429_changes_nothing_then_requests_pass_again() {
    let metrics = free_address();
    let app = spawn_app_with(with(|c| {
        // A share of the quota comes back every 3 s: the four requests below take far less.
        c.rate_limit = limit(3, 9);
        c.metrics_addr = Some(metrics);
    }))
    .await;
    for remaining in [2, 1] {
        let response = app.get_language("COBOL").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "ratelimit-policy"), "\"default\";q=3;w=9");
        let standing = header(&response, "ratelimit");
        assert!(
            standing.starts_with(&format!("\"default\";r={remaining};t=")),
            "{standing}"
        );
    }
    let created = app
        .create(&language("Limited", 2000, "the third request"))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert!(header(&created, "ratelimit").starts_with("\"default\";r=0;t="));

    // Over the quota: a write is refused and does nothing.
    let refused = app
        .create(&language("Refused", 2000, "the fourth request"))
        .await;
    let retry_after: u64 = header(&refused, "retry-after")
        .parse()
        .expect("whole seconds");
    assert!((1..=3).contains(&retry_after), "{retry_after}");
    assert_eq!(header(&refused, "ratelimit-policy"), "\"default\";q=3;w=9");
    assert_eq!(
        header(&refused, "ratelimit"),
        format!("\"default\";r=0;t={retry_after}")
    );
    problem(
        refused,
        StatusCode::TOO_MANY_REQUESTS,
        "/problems/too-many-requests",
        "/programming_languages",
    )
    .await;
    // The 429 shows in the metrics under its operation.
    let scraped = scrape(&app, &format!("http://{metrics}/metrics")).await;
    let refusals = value(
        &scraped,
        "http_server_requests_total",
        &[
            ("operation", "create_language"),
            ("method", "POST"),
            ("status", "429"),
        ],
    );
    assert_eq!(refusals, Some(1.0));

    // After the wait it was told, the client passes again; nothing was created meanwhile.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(
        app.get_language("Refused").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn tokens_are_counted_apart_from_each_other_and_from_addresses() {
    let app = spawn_app_with(with(|c| {
        c.rate_limit = limit(2, 3600);
        c.write_tokens = vec!["first".into(), "second".into()];
    }))
    .await;
    let first = [("authorization", "Bearer first")];
    for _ in 0..2 {
        assert_eq!(
            get(&app, "/programming_languages", &first).await.status(),
            200
        );
    }
    assert_eq!(
        get(&app, "/programming_languages", &first).await.status(),
        429
    );
    let second = [("authorization", "Bearer second")];
    assert_eq!(
        get(&app, "/programming_languages", &second).await.status(),
        200
    );
    // No token, or one that is not valid: the address, whose count is its own.
    assert_eq!(get(&app, "/programming_languages", &[]).await.status(), 200);
    let wrong = [("authorization", "Bearer wrong")];
    assert_eq!(
        get(&app, "/programming_languages", &wrong).await.status(),
        200
    );
    assert_eq!(get(&app, "/programming_languages", &[]).await.status(), 429);
}

#[tokio::test]
async fn x_forwarded_for_names_the_client_only_from_a_trusted_proxy() {
    let behind = spawn_app_with(with(|c| {
        c.rate_limit = limit(1, 3600);
        c.trusted_proxies = vec!["127.0.0.0/8".parse::<TrustedProxy>().expect("a block")];
    }))
    .await;
    let one = [("x-forwarded-for", "198.51.100.1")];
    let two = [("x-forwarded-for", "198.51.100.2")];
    assert_eq!(
        get(&behind, "/programming_languages", &one).await.status(),
        200
    );
    assert_eq!(
        get(&behind, "/programming_languages", &one).await.status(),
        429
    );
    assert_eq!(
        get(&behind, "/programming_languages", &two).await.status(),
        200
    );

    // From a peer that is not trusted, the header is the client's own say: ignored.
    let direct = spawn_app_with(with(|c| c.rate_limit = limit(1, 3600))).await;
    assert_eq!(
        get(&direct, "/programming_languages", &one).await.status(),
        200
    );
    assert_eq!(
        get(&direct, "/programming_languages", &two).await.status(),
        429
    );
}

#[tokio::test]
async fn a_browser_reads_the_429_and_its_preflights_are_not_counted() {
    let origin = "https://languages.example";
    let app = spawn_app_with(with(|c| {
        c.rate_limit = limit(1, 3600);
        c.cors_origins = vec![origin.into()];
    }))
    .await;
    for _ in 0..3 {
        let preflight = app
            .client
            .request(reqwest::Method::OPTIONS, app.url("/programming_languages"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .send()
            .await
            .expect("preflight");
        assert!(preflight.status().is_success(), "{}", preflight.status());
    }
    let first = get(&app, "/programming_languages", &[("origin", origin)]).await;
    assert_eq!(first.status(), StatusCode::OK);
    let refused = get(&app, "/programming_languages", &[("origin", origin)]).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&refused, "access-control-allow-origin"), origin);
    let exposed = header(&refused, "access-control-expose-headers").to_ascii_lowercase();
    assert!(exposed.contains("retry-after"), "{exposed}");
}

#[tokio::test]
async fn the_health_check_is_never_limited() {
    let app = spawn_app_with(with(|c| c.rate_limit = limit(1, 3600))).await;
    for _ in 0..20 {
        let response = app.get("/healthz").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("ratelimit").is_none());
    }
    assert_eq!(app.get_language("COBOL").await.status(), StatusCode::OK);
    assert_eq!(app.get_language("COBOL").await.status(), 429);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_a_limit_no_response_carries_its_fields() {
    let app = spawn_app().await;
    for _ in 0..50 {
        let response = app.get_language("COBOL").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("ratelimit").is_none());
        assert!(response.headers().get("ratelimit-policy").is_none());
    }
}

/// Sends `count` pipelined `GET /programming_languages/COBOL` over one connection to `address`,
/// the `i`th from the client `10.a.b.c` that the number `first + i` names (through a trusted
/// proxy's `X-Forwarded-For`), 500 at a time; returns how many were answered 200 and 429.
async fn from_many_clients(address: &str, first: u32, count: u32) -> (usize, usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .expect("connect");
    let (mut ok, mut limited) = (0, 0);
    let mut buffer = vec![0u8; 1 << 16];
    for batch in (0..count).collect::<Vec<_>>().chunks(500) {
        let mut requests = Vec::new();
        for i in batch {
            let [_, a, b, c] = (first + i).to_be_bytes();
            requests.extend_from_slice(
                format!(
                    "GET /programming_languages/COBOL HTTP/1.1\r\nHost: test\r\n\
                     X-Forwarded-For: 10.{a}.{b}.{c}\r\n\r\n"
                )
                .as_bytes(),
            );
        }
        stream.write_all(&requests).await.expect("requests");
        // Status lines, found across reads: the bodies (a language, a problem) hold none.
        let (mut answered, mut carried) = (0, Vec::new());
        while answered < batch.len() {
            let read = stream.read(&mut buffer).await.expect("answers");
            assert!(read > 0, "the server closed the connection");
            carried.extend_from_slice(&buffer[..read]);
            let mut at = 0;
            while let Some(found) = carried[at..]
                .windows(12)
                .position(|window| window.starts_with(b"HTTP/1.1 "))
            {
                match &carried[at + found + 9..at + found + 12] {
                    b"200" => ok += 1,
                    b"429" => limited += 1,
                    other => panic!("status {}", String::from_utf8_lossy(other)),
                }
                answered += 1;
                at += found + 12;
            }
            carried.drain(..at.max(carried.len().saturating_sub(11)));
        }
    }
    (ok, limited)
}

#[tokio::test]
async fn a_flood_of_client_addresses_leaves_the_clients_counted_bounded() {
    let metrics = free_address();
    let app = spawn_app_with(with(|c| {
        // A long window: no client's count is whole again, so none is forgotten by a sweep.
        c.rate_limit = limit(5, 3600);
        c.trusted_proxies = vec!["127.0.0.1".parse::<TrustedProxy>().expect("an address")];
        c.metrics_addr = Some(metrics);
    }))
    .await;
    let url = format!("http://{metrics}/metrics");
    // Once the API answers, its metrics listener is bound.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let clients = |scrape: &_| value(scrape, "prog_lang_api_rate_limit_clients", &[]);
    let before = clients(&scrape(&app, &url).await).expect("the series, limits on");
    assert_eq!(before, 0.0);
    let (first, rest) = tokio::join!(
        from_many_clients(&app.address, 0, 55_000),
        from_many_clients(&app.address, 55_000, 55_000),
    );
    let counted = clients(&scrape(&app, &url).await).expect("the series");
    // 110,000 addresses, at most 100,000 counted apart (and the crowd's 4,096 shares, and what
    // comes between two sweeps, 1,024 requests).
    assert!(counted <= 105_120.0, "{counted} clients counted");
    assert!(
        counted >= 50_000.0,
        "{counted}: the first addresses are counted alone"
    );
    // Past the bound, new addresses share counts (and may be refused); none fails.
    assert_eq!(first.0 + first.1 + rest.0 + rest.1, 110_000);
    assert!(first.0 + rest.0 >= 100_000, "{first:?} {rest:?}");
}
