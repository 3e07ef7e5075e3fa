//! spawn_app() on 127.0.0.1:0 with a store of its own, and one helper per operation; the one way
//! to run the server binary; raw connections: a slow upload, and whether the server closed one.
//!
//! The store is the one the test crate runs on (`crate::STORE`): in memory, or PostgreSQL, where
//! each server gets a fresh database of its own on the server that
//! `PROG_LANG_API_TEST_DATABASE_URL` names.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use prog_lang_api::{Config, LogFormat, Store, run, start_logging};
use reqwest::{Response, StatusCode, header::CONTENT_TYPE};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
};

/// A server running on its own port and store, stopped when dropped.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Config::defaults()).await
}

/// The default configuration, with `change` made to it.
pub fn with(change: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::defaults();
    change(&mut config);
    config
}

/// A server with `config` (its address is ignored: the server gets a free port).
pub async fn spawn_app_with(config: Config) -> TestApp {
    let store = match crate::STORE {
        TestStore::Memory => Store::in_memory(config.max_languages),
        TestStore::Postgres => postgres_store(&fresh_database().await, &config).await,
    };
    serve_on(store, config).await
}

/// A server on the PostgreSQL database at `url`, which other servers may share.
#[allow(dead_code)] // for the PostgreSQL suite
pub async fn spawn_app_on(url: &str, config: Config) -> TestApp {
    spawn_app_on_pool(url, TEST_POOL_SIZE, config).await
}

/// A server on the PostgreSQL database at `url`, with at most `pool_size` connections to it.
#[allow(dead_code)] // for the PostgreSQL suite
pub async fn spawn_app_on_pool(url: &str, pool_size: usize, config: Config) -> TestApp {
    let store = Store::postgres(url, pool_size, config.max_languages)
        .await
        .expect("a PostgreSQL store");
    serve_on(store, config).await
}

/// The connections a test server has to PostgreSQL at most.
const TEST_POOL_SIZE: usize = 4;

async fn postgres_store(url: &str, config: &Config) -> Store {
    Store::postgres(url, TEST_POOL_SIZE, config.max_languages)
        .await
        .expect("a PostgreSQL store")
}

/// With `TEST_LOG` set, the servers' log lines go to standard error (zero-to-production's
/// `TEST_LOG`), so that a failing test shows the server's side: `TEST_LOG=1 cargo test NAME`. Off
/// by default, so that a passing run stays quiet. The log is the process's: started once.
fn log_if_asked() {
    static LOGGING: std::sync::Once = std::sync::Once::new();
    LOGGING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            // Kept for the life of the test process: its lines go out as they come.
            std::mem::forget(start_logging(LogFormat::Text));
        }
    });
}

async fn serve_on(store: Store, config: Config) -> TestApp {
    log_if_asked();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let address = format!("http://{}", listener.local_addr().expect("local address"));
    let (shutdown, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(run(listener, store, config, async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        shutdown: Some(shutdown),
        served: Some(served),
    }
}

/// The store a test crate runs its servers on.
#[allow(dead_code)] // each crate uses one
pub enum TestStore {
    Memory,
    Postgres,
}

/// The variable that names a PostgreSQL server the tests may create databases on.
pub const TEST_DATABASE_VARIABLE: &str = "PROG_LANG_API_TEST_DATABASE_URL";

/// The URL of a new, empty database on the test server.
pub async fn fresh_database() -> String {
    let server = std::env::var(TEST_DATABASE_VARIABLE).unwrap_or_else(|_| {
        panic!("{TEST_DATABASE_VARIABLE} must name a PostgreSQL server to run this suite on")
    });
    let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database server");
    tokio::spawn(connection);
    drop_earlier_databases(&client).await;
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).expect("random bytes");
    let name = format!(
        "{TEST_DATABASE_PREFIX}{}_{:016x}",
        std::process::id(),
        u64::from_be_bytes(id)
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    with_database(&server, &name)
}

/// Every test database is named this, then the id of the test process that made it.
const TEST_DATABASE_PREFIX: &str = "prog_lang_api_test_";

/// Drops, once per test process, the test databases that earlier test processes left and that
/// nobody uses any more: a run leaves at most its own.
async fn drop_earlier_databases(client: &tokio_postgres::Client) {
    static ONCE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    ONCE.get_or_init(|| async {
        let ours = format!("{TEST_DATABASE_PREFIX}{}_", std::process::id());
        let rows = client
            .query(
                "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
                &[&TEST_DATABASE_PREFIX],
            )
            .await
            .unwrap_or_default();
        for row in rows {
            let name: String = row.get(0);
            if !name.starts_with(&ours) {
                // Refused while a server still uses it: then it is not a leftover.
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                    .await;
            }
        }
    })
    .await;
}

/// `url` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let query = tail.find('?').map_or("", |at| &tail[at..]);
    format!("{scheme}://{authority}/{database}{query}")
}

impl TestApp {
    /// Stops the server as SIGTERM does, and waits until it has.
    #[allow(dead_code)] // for the PostgreSQL suite
    pub async fn stop(mut self) {
        drop(self.shutdown.take());
        if let Some(served) = self.served.take() {
            served.await.expect("the server task").expect("the server");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn list(&self, query: &str) -> Response {
        self.get(&format!("/programming_languages{query}")).await
    }

    pub async fn get_language(&self, encoded_name: &str) -> Response {
        self.get(&format!("/programming_languages/{encoded_name}"))
            .await
    }

    /// `POST /programming_languages` with `body` and an `Idempotency-Key` of `key`.
    pub async fn create_with_key(&self, key: &str, body: &Value) -> Response {
        self.client
            .post(self.url("/programming_languages"))
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn create(&self, body: &Value) -> Response {
        self.send_json(reqwest::Method::POST, "/programming_languages", body)
            .await
    }

    pub async fn update(&self, encoded_name: &str, body: &Value) -> Response {
        self.send_json(
            reqwest::Method::PUT,
            &format!("/programming_languages/{encoded_name}"),
            body,
        )
        .await
    }

    pub async fn delete(&self, encoded_name: &str) -> Response {
        self.client
            .delete(self.url(&format!("/programming_languages/{encoded_name}")))
            .send()
            .await
            .expect("DELETE")
    }

    pub async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> Response {
        self.send_raw(method, path, "application/json", body.to_string())
            .await
    }

    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.client
            .request(method, self.url(path))
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// The names of every language, walking every page (of the largest size) until one comes
    /// without a `next_page_token`. Each page must be a 200 JSON page, every page but the last
    /// full, and no name may come twice: a server that repeats a page fails here instead of
    /// looping.
    pub async fn all_names(&self) -> Vec<String> {
        const LIMIT: usize = 1000;
        let mut all: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut query = format!("?limit={LIMIT}");
        loop {
            let page = json_body(self.list(&query).await, StatusCode::OK).await;
            let page_names = names(&page);
            for name in &page_names {
                assert!(seen.insert(name.clone()), "{name} on two pages");
            }
            all.extend(page_names.iter().cloned());
            let Some(token) = page.get("next_page_token") else {
                return all;
            };
            let token = token.as_str().expect("a next_page_token is a string");
            assert_eq!(page_names.len(), LIMIT, "every page but the last is full");
            query = format!("?limit={LIMIT}&page_token={token}");
        }
    }
}

/// A language document.
pub fn language(name: &str, year: i64, contribution: &str) -> Value {
    json!({"name": name, "publication_year": year, "contribution": contribution})
}

/// The names in a page body.
pub fn names(page: &Value) -> Vec<String> {
    page["programming_languages"]
        .as_array()
        .expect("a list of languages")
        .iter()
        .map(|language| language["name"].as_str().expect("a name").to_owned())
        .collect()
}

/// The seed's names, in order.
pub const SEED_NAMES: [&str; 8] = [
    "COBOL", "ALGOL", "APL", "BASIC", "PL", "SIMULA67", "Pascal", "CLU",
];

/// Asserts the status and the JSON content type, and returns the body.
pub async fn json_body(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "status");
    assert_eq!(content_type(&response), "application/json");
    response.json().await.expect("a JSON body")
}

/// Asserts that the response is the problem of `kind` with `status` for `instance`, in RFC 9457's
/// shape, and returns the body.
pub async fn problem(response: Response, status: StatusCode, kind: &str, instance: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    assert_eq!(content_type(&response), "application/problem+json");
    let body: Value = response.json().await.expect("a JSON problem");
    assert_eq!(body["type"], kind, "{body}");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(body["instance"], instance, "{body}");
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

pub fn content_type(response: &Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .map(|value| value.to_str().expect("ASCII").to_owned())
        .unwrap_or_default()
}

/// The JSON Pointers named in a 400 problem's `errors`.
pub fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|error| error["pointer"].as_str().map(str::to_owned))
        .collect()
}

/// The parameters named in a 400 problem's `errors`.
pub fn parameters(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|error| error["parameter"].as_str().map(str::to_owned))
        .collect()
}

/// A response read off a raw connection.
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

impl TestApp {
    /// Sends `request` as bytes on a new connection and reads the answer until the server closes
    /// it (send `Connection: close`). For what an HTTP client library will not send.
    pub async fn raw(&self, request: &[u8]) -> RawResponse {
        let address = self.address.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).await.expect("connect");
        // The server may answer and close before taking all of an oversized body.
        let _ = stream.write_all(request).await;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            stream.read_to_end(&mut answer),
        )
        .await
        .expect("the server answers and closes");
        if read.is_err() && answer.is_empty() {
            panic!("no answer: {read:?}");
        }
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        let head = String::from_utf8_lossy(&answer[..split]).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status");
        let mut body = answer[split + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body);
        }
        RawResponse { status, head, body }
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size");
        let size = usize::from_str_radix(
            std::str::from_utf8(&data[..line_end])
                .expect("ASCII")
                .trim(),
            16,
        )
        .expect("hex size");
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}

/// The server binary, to be run with `args` and `env`: this build's, or the one
/// `PROG_LANG_API_BIN` names (CI points it at the release binary, the one users run). Every test
/// that runs the binary starts it through here. Standard input and output are null and the log
/// level is `info` unless `env` or the caller says otherwise; the address is left to `args`.
pub fn server_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let binary = std::env::var("PROG_LANG_API_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_prog-lang-api").to_owned());
    let mut command = Command::new(binary);
    command
        .args(args)
        .env_remove("PROG_LANG_API_ADDR")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// Whether the server has closed `stream` (end of stream, or an error such as a reset), reading
/// and dropping whatever else comes, for at most `within`.
pub async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// How a slow upload's head is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct UploadHead {
    /// Sends `Expect: 100-continue`, and waits for the `100 Continue` before any of the body.
    pub expect_continue: bool,
    /// Ends the head's lines with a bare `\n` (which hyper accepts too) instead of `\r\n`.
    pub bare_lf: bool,
    /// Leaves out `Connection: close`, so that the server closes the connection only when it
    /// stops.
    pub keep_alive: bool,
    /// Sends this `Idempotency-Key`.
    pub idempotency_key: Option<&'static str>,
}

/// A `POST /programming_languages` on a connection of its own, sent in two parts: the whole head
/// and the body's first bytes, then, when the test says, the rest of the body.
pub struct SlowUpload {
    stream: TcpStream,
    rest: String,
}

impl SlowUpload {
    /// Connects to the server at `address` (`http://host:port`) and sends the head and the first
    /// 10 bytes of the body of a language named `name`.
    pub async fn begin(address: &str, name: &str, head: UploadHead) -> Self {
        let address = address.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).await.expect("connect");
        let body = language(name, 1990, "uploaded slowly").to_string();
        let expect = if head.expect_continue {
            "Expect: 100-continue\r\n"
        } else {
            ""
        };
        let close = if head.keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        };
        let key = head
            .idempotency_key
            .map_or_else(String::new, |key| format!("Idempotency-Key: {key}\r\n"));
        let mut text = format!(
            "POST /programming_languages HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n{expect}{key}Content-Length: {}\r\n{close}\r\n",
            body.len()
        );
        if head.bare_lf {
            text = text.replace("\r\n", "\n");
        }
        stream.write_all(text.as_bytes()).await.expect("head");
        if head.expect_continue {
            let mut interim = [0u8; 64];
            let read = stream.read(&mut interim).await.expect("100 Continue");
            let interim = String::from_utf8_lossy(&interim[..read]);
            assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
        }
        let (first, rest) = body.split_at(10);
        stream
            .write_all(first.as_bytes())
            .await
            .expect("first part");
        Self {
            stream,
            rest: rest.to_owned(),
        }
    }

    /// `begin`, with an `Idempotency-Key` of `key`.
    pub async fn keyed(address: &str, name: &str, key: &'static str) -> Self {
        let head = UploadHead {
            idempotency_key: Some(key),
            ..UploadHead::default()
        };
        Self::begin(address, name, head).await
    }

    /// Sends the rest of the body, and returns everything the server answered until it closed
    /// the connection, which it must do within 30 s.
    pub async fn finish(mut self) -> String {
        self.stream
            .write_all(self.rest.as_bytes())
            .await
            .expect("rest");
        let mut answer = Vec::new();
        let read = tokio::time::timeout(
            Duration::from_secs(30),
            self.stream.read_to_end(&mut answer),
        )
        .await;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        assert!(
            matches!(read, Ok(Ok(_))),
            "the server answers and closes: {read:?} {answer}"
        );
        answer
    }
}

/// A slow upload of a language named `name`: begun, then `pause` of silence, then finished. Returns
/// the server's answer.
pub async fn slow_upload(address: &str, name: &str, head: UploadHead, pause: Duration) -> String {
    let upload = SlowUpload::begin(address, name, head).await;
    tokio::time::sleep(pause).await;
    upload.finish().await
}
