//! Running on a network: write tokens, CORS, capacity, request ids, slow and idle clients.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{
    UploadHead, closed_within, json_body, language, problem, slow_upload, spawn_app,
    spawn_app_with, with,
};

const TOKEN: &str = "s3cret-token_1";

#[tokio::test]
async fn with_tokens_writes_need_one_and_reads_stay_open() {
    let app = spawn_app_with(with(|c| {
        c.write_tokens = vec!["other".into(), TOKEN.into()]
    }))
    .await;
    let writes = [
        (
            Method::POST,
            "/programming_languages",
            Some(language("Rust", 2015, "ownership")),
        ),
        (
            Method::PUT,
            "/programming_languages/COBOL",
            Some(json!({"contribution": "x"})),
        ),
        (
            Method::PATCH,
            "/programming_languages/COBOL",
            Some(json!({"contribution": "x"})),
        ),
        (Method::DELETE, "/programming_languages/COBOL", None),
    ];
    for (method, path, body) in &writes {
        for authorization in [
            None,
            Some("Bearer wrong"),
            Some("Basic czNjcmV0"),
            Some("Bearer "),
        ] {
            let mut request = app.client.request(method.clone(), app.url(path));
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(authorization) = authorization {
                request = request.header("Authorization", authorization);
            }
            let response = request.send().await.expect("write");
            // A token that was sent and is wrong is named as such (RFC 6750 §3.1).
            let challenge = if authorization == Some("Bearer wrong") {
                "Bearer error=\"invalid_token\""
            } else {
                "Bearer"
            };
            assert_eq!(
                response.headers()["www-authenticate"],
                challenge,
                "{method} {path} {authorization:?}"
            );
            problem(
                response,
                StatusCode::UNAUTHORIZED,
                "/problems/unauthorized",
                path,
            )
            .await;
        }
    }
    assert_eq!(
        app.get_language("Rust").await.status(),
        StatusCode::NOT_FOUND,
        "nothing created"
    );
    let cobol = json_body(app.get_language("COBOL").await, StatusCode::OK).await;
    assert_eq!(cobol["contribution"], "record data", "nothing changed");
    assert_eq!(
        app.list("").await.status(),
        StatusCode::OK,
        "reads stay open"
    );

    for (method, path, body) in writes {
        let mut request = app
            .client
            .request(method.clone(), app.url(path))
            .header("Authorization", format!("Bearer {TOKEN}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let status = request.send().await.expect("write").status();
        assert!(status.is_success(), "{method} {path}: {status}");
    }
}

#[tokio::test]
async fn without_tokens_writes_need_none() {
    let app = spawn_app().await;
    let response = app.create(&language("Rust", 2015, "ownership")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn preflight(app: &crate::helpers::TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url("/programming_languages/COBOL"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "PUT")
        .header(
            "Access-Control-Request-Headers",
            "content-type, if-match, authorization",
        )
        .send()
        .await
        .expect("preflight")
}

#[tokio::test]
async fn cors_answers_the_configured_origins_only() {
    let origin = "https://languages.example";
    let app = spawn_app_with(with(|c| c.cors_origins = vec![origin.into()])).await;
    let allowed = preflight(&app, origin).await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-origin"], origin);
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .expect("ASCII")
            .contains("PUT")
    );
    assert!(headers.get("access-control-allow-credentials").is_none());
    let allowed_headers = headers["access-control-allow-headers"]
        .to_str()
        .expect("ASCII")
        .to_ascii_lowercase();
    for header in [
        "authorization",
        "content-type",
        "if-match",
        "if-none-match",
        "x-request-id",
    ] {
        assert!(
            allowed_headers.contains(header),
            "{header} in {allowed_headers}"
        );
    }
    // A header no operation reads is not allowed.
    let unknown = app
        .client
        .request(Method::OPTIONS, app.url("/programming_languages/COBOL"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "PUT")
        .header("Access-Control-Request-Headers", "if-match, x-unknown")
        .send()
        .await
        .expect("preflight");
    assert_eq!(unknown.status(), StatusCode::FORBIDDEN);

    let refused = preflight(&app, "https://evil.example").await;
    problem(
        refused,
        StatusCode::FORBIDDEN,
        "/problems/forbidden",
        "/programming_languages/COBOL",
    )
    .await;

    let read = app
        .client
        .get(app.url("/programming_languages/COBOL"))
        .header("Origin", origin)
        .send()
        .await
        .expect("GET");
    let exposed = read.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ASCII")
        .to_ascii_lowercase();
    // Every response header an operation declares, Retry-After (a 503's) among them.
    for header in [
        "location",
        "etag",
        "retry-after",
        "www-authenticate",
        "x-request-id",
    ] {
        assert!(exposed.contains(header), "{header} in {exposed}");
    }
    assert_eq!(read.headers()["access-control-allow-origin"], origin);
}

#[tokio::test]
async fn a_wildcard_origin_allows_any_and_never_credentials() {
    let app = spawn_app_with(with(|c| c.cors_origins = vec!["*".into()])).await;
    let response = preflight(&app, "https://anyone.example").await;
    assert!(response.status().is_success());
    assert!(
        response
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
}

#[tokio::test]
async fn without_cors_origins_a_preflight_is_a_405() {
    let app = spawn_app().await;
    let response = preflight(&app, "https://languages.example").await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn a_create_beyond_capacity_is_a_507_and_changes_nothing() {
    let app = spawn_app_with(with(|c| c.max_languages = 9)).await;
    assert_eq!(
        app.create(&language("Ninth", 1990, "x")).await.status(),
        StatusCode::CREATED
    );
    let response = app.create(&language("Tenth", 1990, "x")).await;
    problem(
        response,
        StatusCode::INSUFFICIENT_STORAGE,
        "/problems/insufficient-storage",
        "/programming_languages",
    )
    .await;
    assert_eq!(app.all_names().await.len(), 9);
    assert_eq!(app.delete("Ninth").await.status(), StatusCode::OK);
    assert_eq!(
        app.create(&language("Tenth", 1990, "x")).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_the_clients_when_sane() {
    let app = spawn_app().await;
    for path in ["/programming_languages/COBOL", "/nope", "/healthz"] {
        let sent = app
            .client
            .get(app.url(path))
            .header("X-Request-Id", "trace-42.a_b~c")
            .send()
            .await
            .expect("GET");
        assert_eq!(sent.headers()["x-request-id"], "trace-42.a_b~c", "{path}");
        let fresh = app.get(path).await;
        let id = fresh.headers()["x-request-id"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        assert!((1..=128).contains(&id.len()), "{id}");
        assert_ne!(
            id,
            app.get(path).await.headers()["x-request-id"]
                .to_str()
                .expect("ASCII")
        );
    }
    for insane in ["has space", &"x".repeat(129), "semi;colon"] {
        let response = app
            .client
            .get(app.url("/healthz"))
            .header("X-Request-Id", insane)
            .send()
            .await
            .expect("GET");
        assert_ne!(response.headers()["x-request-id"], insane);
    }
}

// The timeouts below are whole seconds, 1 at least: these tests take the shortest that show the
// contract over HTTP, and wait on the real clock no longer than that needs. Each phase's deadline
// is tested to the millisecond, on paused time, beside `TimedStream` in src/server.rs.

/// Longer than a header-read timeout of 1 s, with room for a busy machine's late timer: the
/// silence a slow upload keeps in the middle of its body.
const PAST_ONE_SECOND: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn slow_and_silent_clients_do_not_starve_others_and_are_closed() {
    let app = spawn_app_with(with(|c| {
        c.header_read_timeout_secs = 1;
        c.idle_timeout_secs = 30;
    }))
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stalled = Vec::new();
    for i in 0..300 {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        if i % 2 == 0 {
            // Half a request head, never finished.
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
                .await
                .expect("write");
        }
        stalled.push(stream);
    }
    for _ in 0..20 {
        let answered = tokio::time::timeout(
            Duration::from_secs(5),
            app.get("/programming_languages/COBOL"),
        )
        .await;
        assert_eq!(
            answered.expect("answered while 300 clients stall").status(),
            StatusCode::OK
        );
    }
    for stream in &mut stalled {
        assert!(
            closed_within(stream, Duration::from_secs(10)).await,
            "closed after the header-read timeout"
        );
    }
}

#[tokio::test]
async fn an_idle_connection_outlives_the_header_timeout_and_closes_after_the_idle_one() {
    let app = spawn_app_with(with(|c| {
        c.header_read_timeout_secs = 1;
        c.idle_timeout_secs = 2;
    }))
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let request = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";
    let mut buffer = vec![0u8; 4096];
    for _ in 0..2 {
        stream.write_all(request).await.expect("write");
        let read = stream.read(&mut buffer).await.expect("read");
        assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"));
        // Idle for longer than the header-read timeout, well within the idle one: watched, not
        // slept through, so that a close in the meantime is seen as such.
        assert!(
            !closed_within(&mut stream, Duration::from_millis(1200)).await,
            "open past the header-read timeout"
        );
    }
    assert!(
        !closed_within(&mut stream, Duration::from_millis(200)).await,
        "still open while idle"
    );
    assert!(
        closed_within(&mut stream, Duration::from_secs(10)).await,
        "closed after the idle timeout"
    );
}

#[tokio::test]
async fn an_idle_timeout_shorter_than_the_header_one_closes_an_idle_connection_in_time() {
    let app = spawn_app_with(with(|c| {
        c.header_read_timeout_secs = 5;
        c.idle_timeout_secs = 1;
    }))
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    let mut buffer = vec![0u8; 4096];
    let read = stream.read(&mut buffer).await.expect("read");
    assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"));
    // Closed after the idle second, well before the header-read timeout would have come.
    assert!(
        closed_within(&mut stream, Duration::from_secs(3)).await,
        "closed after the idle timeout, not the header-read one"
    );
}

#[tokio::test]
async fn a_slow_body_is_not_cut_short_by_the_header_timeout() {
    let app = spawn_app_with(with(|c| c.header_read_timeout_secs = 1)).await;
    let head = UploadHead::default();
    let answer = slow_upload(&app.address, "Slow", head, PAST_ONE_SECOND).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
}

#[tokio::test]
async fn the_public_url_goes_into_the_specs_servers() {
    let public = "https://api.example.org/languages";
    let app = spawn_app_with(with(|c| c.public_url = Some(public.into()))).await;
    let spec = json_body(app.get("/openapi.json").await, StatusCode::OK).await;
    assert_eq!(spec["servers"], json!([{"url": public}]));
    let default = spawn_app().await;
    let spec = json_body(default.get("/openapi.json").await, StatusCode::OK).await;
    assert_eq!(spec["servers"], json!([{"url": "/"}]));
}

#[tokio::test]
async fn the_spec_names_a_contact_and_the_licenses_url() {
    let default = spawn_app().await;
    let spec = json_body(default.get("/openapi.json").await, StatusCode::OK).await;
    // Without a contact or an absolute public URL, the contact has no URL: OpenAPI 3.0 wants an
    // absolute one there, and openapi-generator refuses a document with `/docs`.
    assert_eq!(spec["info"]["contact"], json!({"name": "prog-lang-api"}));
    assert_eq!(spec["info"]["license"]["name"], "MIT OR Apache-2.0");
    assert_eq!(spec["info"]["license"]["url"], "https://spdx.org/licenses/");

    let public = "https://api.example.org/languages/";
    let app = spawn_app_with(with(|c| c.public_url = Some(public.into()))).await;
    let spec = json_body(app.get("/openapi.json").await, StatusCode::OK).await;
    assert_eq!(
        spec["info"]["contact"]["url"],
        "https://api.example.org/languages/docs"
    );
    let app = spawn_app_with(with(|c| c.public_url = Some("/languages".into()))).await;
    let spec = json_body(app.get("/openapi.json").await, StatusCode::OK).await;
    assert!(spec["info"]["contact"].get("url").is_none(), "{spec}");

    let app = spawn_app_with(with(|c| {
        c.contact_url = Some("https://example.org/support".into());
        c.contact_email = Some("api@example.org".into());
    }))
    .await;
    let spec = json_body(app.get("/openapi.json").await, StatusCode::OK).await;
    assert_eq!(
        spec["info"]["contact"]["url"],
        "https://example.org/support"
    );
    assert_eq!(spec["info"]["contact"]["email"], "api@example.org");

    let app = spawn_app_with(with(|c| c.contact_email = Some("api@example.org".into()))).await;
    let spec = json_body(app.get("/openapi.json").await, StatusCode::OK).await;
    assert_eq!(spec["info"]["contact"]["email"], "api@example.org");
    assert!(spec["info"]["contact"].get("url").is_none(), "{spec}");
}

#[tokio::test]
async fn with_cors_other_origins_are_served_without_the_grant_and_options_is_answered() {
    let origin = "https://languages.example";
    let app = spawn_app_with(with(|c| {
        c.cors_origins = vec![origin.into()];
        c.write_tokens = vec![TOKEN.into()];
    }))
    .await;
    // A browser sends Origin on same-origin writes too (Swagger UI's own page, say).
    let write = app
        .client
        .post(app.url("/programming_languages"))
        .header("Origin", &app.address)
        .header("Authorization", format!("bearer {TOKEN}"))
        .json(&language("Swagger", 2011, "try it out"))
        .send()
        .await
        .expect("POST");
    assert_eq!(write.status(), StatusCode::CREATED);
    assert!(write.headers().get("access-control-allow-origin").is_none());
    assert_eq!(write.headers()["vary"], "Origin");

    let elsewhere = app
        .client
        .get(app.url("/healthz"))
        .header("Origin", "https://elsewhere.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(elsewhere.status(), StatusCode::OK);
    assert!(
        elsewhere
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let options = app
        .client
        .request(Method::OPTIONS, app.url("/programming_languages/COBOL"))
        .send()
        .await
        .expect("OPTIONS");
    assert_eq!(options.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        options.headers()["allow"],
        "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"
    );
    let wrong = app
        .client
        .post(app.url("/healthz"))
        .send()
        .await
        .expect("POST");
    assert_eq!(wrong.headers()["allow"], "GET, HEAD, OPTIONS");
    problem(
        wrong,
        StatusCode::METHOD_NOT_ALLOWED,
        "/problems/method-not-allowed",
        "/healthz",
    )
    .await;
    let unknown = app
        .client
        .get(app.url("/nope"))
        .header("Origin", origin)
        .send()
        .await
        .expect("GET");
    problem(
        unknown,
        StatusCode::NOT_FOUND,
        "/problems/not-found",
        "/nope",
    )
    .await;
}

#[tokio::test]
async fn blank_lines_alone_do_not_hold_a_connection_open() {
    let app = spawn_app_with(with(|c| c.header_read_timeout_secs = 1)).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream.write_all(b"\r\n\r\n\r\n").await.expect("write");
    assert!(closed_within(&mut stream, Duration::from_secs(10)).await);
}

#[tokio::test]
async fn slow_bodies_after_100_continue_or_bare_lf_heads_are_not_cut() {
    let app = spawn_app_with(with(|c| c.header_read_timeout_secs = 1)).await;
    let expect_continue = UploadHead {
        expect_continue: true,
        ..UploadHead::default()
    };
    let bare_lf = UploadHead {
        bare_lf: true,
        ..UploadHead::default()
    };
    // Side by side, on connections of their own: the two pauses overlap.
    let (continued, lf) = tokio::join!(
        slow_upload(&app.address, "Slow", expect_continue, PAST_ONE_SECOND),
        slow_upload(&app.address, "Slow LF", bare_lf, PAST_ONE_SECOND),
    );
    assert!(
        continued.starts_with("HTTP/1.1 201"),
        "100-continue: {continued}"
    );
    assert!(lf.starts_with("HTTP/1.1 201"), "bare LF: {lf}");
}
