//! What real and hostile clients do to a connection, over raw sockets: a refusal answered before
//! the body was read keeps the connection (or says it closes), a body that stops arriving is cut,
//! a head is bounded, and heads that a proxy could read otherwise than the server are refused.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::*;

const TOKEN: &str = "hostile-test-token";
const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Reads one response with a `content-length` body off `stream`, within 10 s, and nothing after
/// it: the head a byte at a time, then the body, so that a pipelined response stays unread.
async fn read_one(stream: &mut TcpStream) -> RawResponse {
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let byte = stream.read_u8().await.unwrap_or_else(|error| {
                panic!(
                    "closed without an answer ({error}): {}",
                    String::from_utf8_lossy(&head)
                )
            });
            head.push(byte);
        }
        let head = String::from_utf8_lossy(&head[..head.len() - 4]).into_owned();
        let length = head
            .to_ascii_lowercase()
            .lines()
            .find_map(|line| line.strip_prefix("content-length:").map(str::to_owned))
            .and_then(|length| length.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.expect("the body");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status");
        RawResponse { status, head, body }
    })
    .await
    .expect("an answer within 10 s")
}

fn says_close(response: &RawResponse) -> bool {
    response
        .head
        .to_ascii_lowercase()
        .contains("\r\nconnection: close")
}

/// The head of a request of `method` on `path` with a body of `length` bytes, and `extra` headers.
fn head(method: &str, path: &str, extra: &str, length: usize) -> Vec<u8> {
    format!("{method} {path} HTTP/1.1\r\nHost: test\r\n{extra}Content-Length: {length}\r\n\r\n")
        .into_bytes()
}

#[tokio::test]
async fn an_early_refusal_keeps_the_connection_for_a_client_that_sends_its_body_after_the_answer() {
    let open = spawn_app().await;
    let guarded = spawn_app_with(with(|c| c.write_tokens = vec![TOKEN.into()])).await;
    let json = "Content-Type: application/json\r\n";
    let cases: [(&TestApp, &str, &str, &str, usize, u16); 6] = [
        (&open, "PUT", "/openapi.json", json, 20, 405),
        (&open, "POST", "/nowhere", json, 20, 404),
        (
            &open,
            "POST",
            "/programming_languages",
            "Content-Type: text/plain\r\n",
            20,
            415,
        ),
        (&guarded, "POST", "/programming_languages", json, 20, 401),
        // Over 16 KiB, refused from its Content-Length: the body is never parsed.
        (&open, "POST", "/programming_languages", json, 20_000, 413),
        (
            &open,
            "PUT",
            "/programming_languages/COBOL",
            json,
            200_000,
            413,
        ),
    ];
    for (app, method, path, extra, length, status) in cases {
        let mut stream = connect(app).await;
        stream
            .write_all(&head(method, path, extra, length))
            .await
            .expect("head");
        // The answer comes before the body is sent, as httpx and curl wait for it.
        let refusal = read_one(&mut stream).await;
        assert_eq!(refusal.status, status, "{method} {path}: {}", refusal.head);
        assert!(!says_close(&refusal), "{method} {path}: {}", refusal.head);
        stream.write_all(&vec![b'x'; length]).await.expect("body");
        stream.write_all(HEALTH).await.expect("next request");
        let next = read_one(&mut stream).await;
        assert_eq!(next.status, 200, "{method} {path}, then: {}", next.head);
        assert_eq!(next.json()["status"], "ok");
    }
    assert_eq!(open.all_names().await.len(), 8, "nothing was created");
}

#[tokio::test]
async fn an_early_refusal_of_a_chunked_body_says_connection_close_and_reads_what_still_comes() {
    // A chunked rest could turn out longer than the server would drain after saying the
    // connection stays: it says it closes instead.
    let app = spawn_app().await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"POST /nowhere HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .expect("head");
    let refusal = read_one(&mut stream).await;
    assert_eq!(refusal.status, 404);
    assert!(says_close(&refusal), "{}", refusal.head);
    // The server reads on before it closes: the rest of the body is taken, not reset.
    stream
        .write_all(b"5\r\nhello\r\n0\r\n\r\n")
        .await
        .expect("the rest of the body");
    assert!(closed_within(&mut stream, Duration::from_secs(10)).await);
}

#[tokio::test]
async fn a_connection_whose_refused_body_was_drained_is_idle_and_closes_at_the_idle_timeout() {
    // The drained body's bytes are no new request, even with a blank line in them: the
    // connection is idle once they are read, and the idle timeout closes it.
    let app = spawn_app_with(with(|c| c.idle_timeout_secs = 1)).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(&head("POST", "/nowhere", "", 3))
        .await
        .expect("head");
    let refusal = read_one(&mut stream).await;
    assert_eq!(refusal.status, 404);
    assert!(!says_close(&refusal), "{}", refusal.head);
    stream.write_all(b"a\n\n").await.expect("the body");
    assert!(
        closed_within(&mut stream, Duration::from_secs(20)).await,
        "still open, long after the idle timeout"
    );
}

#[tokio::test]
async fn a_refused_body_that_does_not_come_in_time_closes_its_connection() {
    let app = spawn_app_with(with(|c| c.header_read_timeout_secs = 1)).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(&head("POST", "/nowhere", "", 20))
        .await
        .expect("head");
    assert_eq!(read_one(&mut stream).await.status, 404);
    assert!(closed_within(&mut stream, Duration::from_secs(20)).await);
}

#[tokio::test]
async fn a_refused_body_too_long_to_drain_is_answered_with_connection_close_then_closed() {
    let app = spawn_app().await;
    let mut stream = connect(&app).await;
    let length = 1024 * 1024;
    stream
        .write_all(&head(
            "POST",
            "/programming_languages",
            "Content-Type: application/json\r\n",
            length,
        ))
        .await
        .expect("head");
    // Some of the body, as a client that does not wait for the answer sends it: the server reads
    // what comes after its answer rather than resetting the connection under it.
    stream
        .write_all(&vec![b'x'; 64 * 1024])
        .await
        .expect("body");
    let refusal = read_one(&mut stream).await;
    assert_eq!(refusal.status, 413);
    assert_eq!(refusal.json()["type"], "/problems/payload-too-large");
    assert!(says_close(&refusal), "{}", refusal.head);
    assert!(closed_within(&mut stream, Duration::from_secs(10)).await);
}

#[tokio::test]
async fn a_client_waiting_for_100_continue_is_refused_with_connection_close() {
    let app = spawn_app().await;
    let mut stream = connect(&app).await;
    stream
        .write_all(&head(
            "POST",
            "/nowhere",
            "Content-Type: application/json\r\nExpect: 100-continue\r\n",
            20,
        ))
        .await
        .expect("head");
    let refusal = read_one(&mut stream).await;
    assert_eq!(refusal.status, 404, "no 100 Continue for a refused body");
    assert!(says_close(&refusal), "{}", refusal.head);
    assert!(closed_within(&mut stream, Duration::from_secs(10)).await);
}

/// A create whose head announces 60 bytes of body, of which only `sent` come.
async fn stalled_create(app: &TestApp, sent: &[u8]) -> TcpStream {
    let mut stream = connect(app).await;
    let json = "Content-Type: application/json\r\n";
    stream
        .write_all(&head("POST", "/programming_languages", json, 60))
        .await
        .expect("head");
    stream.write_all(sent).await.expect("part of the body");
    stream
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_a_408_problem_and_its_connection_is_closed() {
    let app = spawn_app_with(with(|c| c.body_read_timeout_secs = 1)).await;
    let mut stream = stalled_create(&app, br#"{"name": "Stalled""#).await;
    let answer = read_one(&mut stream).await;
    assert_eq!(answer.status, 408, "{}", answer.head);
    assert!(says_close(&answer), "{}", answer.head);
    let problem = answer.json();
    assert_eq!(problem["type"], "/problems/request-timeout");
    assert_eq!(problem["status"], 408);
    assert_eq!(problem["instance"], "/programming_languages");
    assert!(closed_within(&mut stream, Duration::from_secs(10)).await);
    assert_eq!(app.all_names().await.len(), 8, "nothing was created");
}

#[tokio::test]
async fn stalled_bodies_cannot_hold_every_connection() {
    // As many stalled uploads as the cap allows: each is cut at the body-read timeout, so a
    // new client is served rather than left waiting for ever.
    let app = spawn_app_with(with(|c| {
        c.max_connections = 4;
        c.body_read_timeout_secs = 1;
    }))
    .await;
    let mut stalled = Vec::new();
    for _ in 0..4 {
        stalled.push(stalled_create(&app, b"{").await);
    }
    let response = tokio::time::timeout(Duration::from_secs(20), app.get("/healthz"))
        .await
        .expect("a new client is served once the stalled bodies are cut");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_head_over_64_kib_is_a_431() {
    let app = spawn_app().await;
    let mut stream = connect(&app).await;
    let mut request = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Long: ".to_vec();
    request.extend(vec![b'a'; 70 * 1024]);
    request.extend_from_slice(b"\r\n\r\n");
    let _ = stream.write_all(&request).await;
    let answer = read_one(&mut stream).await;
    assert_eq!(answer.status, 431, "{}", answer.head);
    assert_problem_and_closed(&answer, "/problems/request-header-fields-too-large");
    assert!(closed_within(&mut stream, Duration::from_secs(10)).await);
}

/// An answer written below the application, to a head that could not be read: a problem like any
/// other error, and the connection closes.
fn assert_problem_and_closed(answer: &RawResponse, kind: &str) {
    let head = answer.head.to_ascii_lowercase();
    assert!(
        head.contains("\r\ncontent-type: application/problem+json"),
        "{head}"
    );
    assert!(
        head.contains("\r\nx-content-type-options: nosniff"),
        "{head}"
    );
    assert!(head.contains("\r\nx-request-id: "), "{head}");
    assert!(says_close(answer), "{head}");
    let problem = answer.json();
    assert_eq!(problem["type"], kind);
    assert_eq!(problem["status"], answer.status);
}

#[tokio::test]
async fn a_head_that_cannot_be_read_is_a_400_problem_never_a_5xx() {
    let app = spawn_app().await;
    for request in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/2.0\r\nHost: test\r\n\r\n",
        b"GET / HTTP/1.2\r\nHost: test\r\n\r\n",
        b"GET /\x01 HTTP/1.1\r\nHost: test\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    ] {
        let mut stream = connect(&app).await;
        stream.write_all(request).await.expect("request");
        let answer = read_one(&mut stream).await;
        assert_eq!(answer.status, 400, "{}", String::from_utf8_lossy(request));
        assert_problem_and_closed(&answer, "/problems/validation");
    }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_each_by_the_application() {
    let app = spawn_app().await;
    let mut stream = connect(&app).await;
    stream
        .write_all(
            b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .await
        .expect("two requests");
    let first = read_one(&mut stream).await;
    assert_eq!(first.status, 404);
    assert_eq!(first.json()["type"], "/problems/not-found");
    stream
        .write_all(b"GET /programming_languages/Nowhere HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("a third");
    assert_eq!(read_one(&mut stream).await.status, 200);
    let third = read_one(&mut stream).await;
    assert_eq!(third.status, 404);
    assert_eq!(third.json()["instance"], "/programming_languages/Nowhere");
}

#[tokio::test]
async fn a_head_just_under_the_limit_is_served() {
    let app = spawn_app().await;
    let mut stream = connect(&app).await;
    let mut request = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Long: ".to_vec();
    request.extend(vec![b'a'; 48 * 1024]);
    request.extend_from_slice(b"\r\n\r\n");
    stream.write_all(&request).await.expect("request");
    assert_eq!(read_one(&mut stream).await.status, 200);
}

#[tokio::test]
async fn a_transfer_coding_other_than_chunked_is_a_501_and_changes_nothing() {
    let app = spawn_app().await;
    let body = language("Smuggled", 1990, "x").to_string();
    for coding in ["gzip, chunked", "chunked, chunked", "identity, chunked"] {
        let request = format!(
            "POST /programming_languages HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: {coding}\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        );
        let mut stream = connect(&app).await;
        stream.write_all(request.as_bytes()).await.expect("request");
        let answer = read_one(&mut stream).await;
        assert_eq!(answer.status, 501, "{coding}: {}", answer.head);
        assert!(says_close(&answer), "{coding}: {}", answer.head);
        assert_eq!(answer.json()["type"], "/problems/not-implemented");
        assert!(closed_within(&mut stream, Duration::from_secs(10)).await);
    }
    assert_eq!(app.all_names().await.len(), 8, "nothing was created");
}

#[tokio::test]
async fn a_request_without_a_host_or_with_two_is_a_400_naming_host() {
    let app = spawn_app().await;
    for request in [
        &b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
        b"DELETE /programming_languages/COBOL HTTP/1.1\r\nHost: a\r\nHost: a\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
    ] {
        let answer = app.raw(request).await;
        assert_eq!(answer.status, 400, "{}", String::from_utf8_lossy(request));
        assert_eq!(parameters(&answer.json()), ["Host"]);
    }
    // HTTP/1.0 has no Host to require (RFC 9112 §3.2).
    let answer = app.raw(b"GET /healthz HTTP/1.0\r\n\r\n").await;
    assert_eq!(answer.status, 200);
    assert_eq!(app.all_names().await.len(), 8, "COBOL is still there");
}

#[tokio::test]
async fn two_authorization_headers_are_a_400_whichever_comes_first() {
    let app = spawn_app_with(with(|c| c.write_tokens = vec![TOKEN.into()])).await;
    for (first, second) in [(TOKEN, "wrong"), ("wrong", TOKEN), (TOKEN, TOKEN)] {
        let request = format!(
            "DELETE /programming_languages/COBOL HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {first}\r\nAuthorization: Bearer {second}\r\nConnection: close\r\n\r\n"
        );
        let answer = app.raw(request.as_bytes()).await;
        assert_eq!(answer.status, 400, "{first}, {second}");
        assert_eq!(parameters(&answer.json()), ["Authorization"]);
    }
    assert_eq!(app.get("/programming_languages/COBOL").await.status(), 200);
}

#[tokio::test]
async fn every_response_says_nosniff_and_the_docs_cannot_be_framed() {
    let app = spawn_app().await;
    for path in [
        "/programming_languages",
        "/programming_languages/Nowhere",
        "/healthz",
        "/openapi.json",
        "/docs",
        "/",
        "/nowhere",
    ] {
        let response = app.get(path).await;
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
    let docs = app.get("/docs").await;
    assert_eq!(
        docs.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );
}

#[tokio::test]
async fn a_body_of_many_wrong_fields_lists_the_first_100_and_counts_the_rest() {
    let app = spawn_app().await;
    let fields: Vec<String> = (0..150).map(|i| format!("\"f{i:03}\": 1")).collect();
    let body = format!("{{{}}}", fields.join(", "));
    let response = app
        .send_raw(
            reqwest::Method::POST,
            "/programming_languages",
            "application/json",
            body,
        )
        .await;
    let problem = problem(
        response,
        StatusCode::BAD_REQUEST,
        "/problems/validation",
        "/programming_languages",
    )
    .await;
    let named = pointers(&problem);
    assert_eq!(named.len(), 100);
    assert_eq!(named[0], "/f000");
    assert_eq!(named[99], "/f099");
    // 150 unknown fields and the 3 missing ones.
    let detail = problem["detail"].as_str().expect("a detail");
    assert!(
        detail.contains("153") && detail.contains("53 more"),
        "{detail}"
    );
}
