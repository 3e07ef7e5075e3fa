//! The connection cap: at `--max-connections`, idle keep-alive connections make room for new
//! clients, and a request under way is never cut short. (That a new connection waits while every
//! one is busy is `process.rs`'s: it waits on the server's log.)

use std::time::Duration;

use reqwest::StatusCode;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    helpers::*,
    metrics::{free_address, scrape, value},
};

/// Opens a keep-alive connection, makes one request on it and reads the whole response: the
/// connection is then idle.
async fn idle_connection(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("request");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while !complete(&answer) {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("an answer")
            .expect("read");
        assert!(read > 0, "closed before answering");
        answer.extend_from_slice(&buffer[..read]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    stream
}

/// Whether `answer` holds a whole response with a `content-length` body.
fn complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer).to_ascii_lowercase();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|length| length.trim().parse::<usize>().ok())
        .expect("a content-length");
    body.len() >= length
}

/// A GET on a new connection, answered within `within`, or `None`.
async fn answered_within(app: &TestApp, within: Duration) -> Option<StatusCode> {
    let client = reqwest::Client::new();
    let request = client.get(app.url("/programming_languages/COBOL")).send();
    match tokio::time::timeout(within, request).await {
        Ok(response) => Some(response.expect("a response").status()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn at_the_cap_idle_keep_alive_connections_make_room_at_once() {
    let app = spawn_app_with(with(|c| c.max_connections = 20)).await;
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(idle_connection(&app).await);
    }
    // The idle timeout is a minute: only the cap can make room this fast.
    let status = answered_within(&app, Duration::from_secs(3)).await;
    assert_eq!(status, Some(StatusCode::OK));
    let mut closed = 0;
    for stream in &mut idle {
        if closed_within(stream, Duration::from_millis(100)).await {
            closed += 1;
        }
    }
    assert!(
        (1..=2).contains(&closed),
        "{closed} idle connections closed"
    );
}

#[tokio::test]
async fn at_the_cap_a_request_under_way_is_never_cut_short() {
    let metrics = free_address();
    let app = spawn_app_with(with(|c| {
        c.max_connections = 2;
        c.metrics_addr = Some(metrics);
    }))
    .await;
    let upload = SlowUpload::begin(&app.address, "Uploaded", UploadHead::default()).await;
    // Under way once the server has its head: until then its connection is idle, and the cap
    // would close it first.
    let metrics = format!("http://{metrics}/metrics");
    let mut under_way = false;
    for _ in 0..3000 {
        let scraped = scrape(&app, &metrics).await;
        under_way = value(&scraped, "http_server_active_requests", &[]) == Some(1.0);
        if under_way {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(under_way, "the upload is under way");
    let mut idle = idle_connection(&app).await;
    let status = answered_within(&app, Duration::from_secs(3)).await;
    assert_eq!(status, Some(StatusCode::OK));
    assert!(
        closed_within(&mut idle, Duration::from_secs(1)).await,
        "the idle connection made room"
    );
    let answer = upload.finish().await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(app.get_language("Uploaded").await.status(), StatusCode::OK);
}
