//! The binary itself: where it listens, how it refuses a bad setting, how signals stop it.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use crate::helpers::{SlowUpload, UploadHead, closed_within, server_command};

/// An upper bound for things that take milliseconds, so that a broken build fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);

/// The server binary, started with `args` and `env`, and the address it announced.
pub struct Process {
    child: Child,
    pub address: String,
    lines: mpsc::Receiver<String>,
    /// Every line read so far, the announcement included.
    seen: Vec<String>,
}

pub fn start(args: &[&str], env: &[(&str, &str)]) -> Process {
    start_command(server_command(args, env))
}

/// The server, started by `command`, which runs the binary.
fn start_command(mut command: Command) -> Process {
    let mut child = command
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let address = loop {
        let line = lines
            .recv_timeout(PATIENCE)
            .expect("the server announces its address");
        seen.push(line.clone());
        if let Some(rest) = line.split("serving on http://").nth(1) {
            let address = rest
                .split(|c: char| c.is_whitespace() || c == '"' || c == '\\')
                .next()
                .expect("an address");
            break format!("http://{address}");
        }
    };
    Process {
        child,
        address,
        lines,
        seen,
    }
}

impl Process {
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Every line the server has written to standard error so far (all of them, once it exited).
    pub fn log(&mut self) -> Vec<String> {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
        self.seen.clone()
    }

    /// Waits for the server to write a line containing `text` (or for `PATIENCE` to run out).
    pub fn wait_for_line(&mut self, text: &str) {
        if self.seen.iter().any(|line| line.contains(text)) {
            return;
        }
        loop {
            let line = self
                .lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("the server writes a line with {text:?}"));
            self.seen.push(line.clone());
            if line.contains(text) {
                return;
            }
        }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }

    pub fn wait(&mut self) -> ExitStatus {
        for _ in 0..PATIENCE.as_millis() / 20 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not exit");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn health(address: &str) -> reqwest::StatusCode {
    reqwest::get(format!("{address}/healthz"))
        .await
        .expect("GET /healthz")
        .status()
}

#[tokio::test]
async fn sigterm_and_sigint_stop_the_server_with_exit_code_0() {
    for signal in ["TERM", "INT"] {
        let mut server = start(&["--addr", "127.0.0.1:0"], &[]);
        assert_eq!(health(&server.address).await, reqwest::StatusCode::OK);
        server.signal(signal);
        let status = server.wait();
        assert_eq!(status.code(), Some(0), "SIG{signal}");
    }
}

#[tokio::test]
async fn the_address_comes_from_the_variable_and_the_flag_wins() {
    let from_variable = start(&[], &[("PROG_LANG_API_ADDR", "127.0.0.1:0")]);
    assert_eq!(
        health(&from_variable.address).await,
        reqwest::StatusCode::OK
    );
    let flag_wins = start(
        &["--addr", "127.0.0.1:0"],
        &[("PROG_LANG_API_ADDR", "not an address")],
    );
    assert_eq!(health(&flag_wins.address).await, reqwest::StatusCode::OK);
}

#[tokio::test]
async fn the_longest_timeouts_accepted_are_served_with() {
    // As good as none: a deadline past what the clock can count once panicked every connection's
    // task on its first wait, and the client saw the connection reset.
    let most = u64::MAX.to_string();
    let server = start(
        &[
            "--addr",
            "127.0.0.1:0",
            "--header-read-timeout",
            &most,
            "--idle-timeout",
            &most,
        ],
        &[],
    );
    let client = reqwest::Client::new();
    for request in ["first", "second, on the kept-alive connection"] {
        let response = client
            .get(format!("{}/programming_languages/COBOL", server.address))
            .send()
            .await
            .unwrap_or_else(|error| panic!("the {request} request: {error}"));
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{request}");
    }
}

/// Environment variables for a run: name and value.
type Environment<'a> = Vec<(&'a str, &'a str)>;

#[test]
fn an_invalid_setting_stops_the_start_with_one_line_naming_it_and_exit_code_2() {
    let dir = std::env::temp_dir().join(format!("prog-lang-api-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let empty = dir.join("empty-tokens");
    std::fs::write(&empty, "# no token here\n\n").expect("write");
    let empty = empty.to_string_lossy().into_owned();
    let cases: Vec<(Vec<&str>, Environment, &str)> = vec![
        (vec!["--addr", "nowhere"], vec![], "--addr"),
        (vec![], vec![("PROG_LANG_API_ADDR", "nowhere")], "--addr"),
        (vec!["--log-format", "xml"], vec![], "--log-format"),
        (vec!["--drain-timeout", "soon"], vec![], "--drain-timeout"),
        (vec!["--shutdown-delay", "soon"], vec![], "--shutdown-delay"),
        (vec!["--shutdown-delay", "301"], vec![], "--shutdown-delay"),
        (vec!["--rate-limit", "600"], vec![], "--rate-limit"),
        (vec!["--rate-limit", "0/60"], vec![], "--rate-limit"),
        (vec!["--rate-limit", "-1/60"], vec![], "--rate-limit"),
        (vec!["--rate-limit", "1/31536001"], vec![], "--rate-limit"),
        (vec!["--rate-limit", "2000001/2"], vec![], "--rate-limit"),
        (
            vec![],
            vec![("PROG_LANG_API_RATE_LIMIT", "600/0")],
            "--rate-limit",
        ),
        (
            vec!["--trusted-proxies", "10.0.0.0/33"],
            vec![],
            "--trusted-proxies",
        ),
        (
            vec![],
            vec![("PROG_LANG_API_TRUSTED_PROXIES", "10.0.0.1,proxy")],
            "--trusted-proxies",
        ),
        (vec!["--max-languages", "0"], vec![], "--max-languages"),
        (
            vec![],
            vec![("PROG_LANG_API_IDLE_TIMEOUT", "soon")],
            "--idle-timeout",
        ),
        (
            vec!["--header-read-timeout", "0"],
            vec![],
            "--header-read-timeout",
        ),
        (
            vec!["--cors-origin", "example.com"],
            vec![],
            "--cors-origin",
        ),
        (vec!["--public-url", "ftp://x"], vec![], "--public-url"),
        (vec!["--public-url", "http://"], vec![], "--public-url"),
        (vec!["--public-url", "http://a b"], vec![], "--public-url"),
        (vec!["--public-url", "//host"], vec![], "--public-url"),
        (vec!["--contact-url", "/docs"], vec![], "--contact-url"),
        (vec!["--compression", "maybe"], vec![], "--compression"),
        (
            vec!["--metrics-addr", "localhost"],
            vec![],
            "--metrics-addr",
        ),
        (
            vec!["--contact-url", "mailto:a@b.example"],
            vec![],
            "--contact-url",
        ),
        (
            vec![],
            vec![("PROG_LANG_API_CONTACT_EMAIL", "nobody")],
            "--contact-email",
        ),
        (
            vec!["--contact-email", "a b@c.example"],
            vec![],
            "--contact-email",
        ),
        (
            vec!["--cors-origin", "https://example.com/"],
            vec![],
            "--cors-origin",
        ),
        (
            vec!["--write-tokens-file", "/nonexistent/tokens"],
            vec![],
            "--write-tokens-file",
        ),
        (
            vec!["--write-tokens-file", &empty],
            vec![],
            "--write-tokens-file",
        ),
        (
            vec![],
            vec![("PROG_LANG_API_WRITE_TOKENS", " , ")],
            "PROG_LANG_API_WRITE_TOKENS",
        ),
        (
            vec![],
            vec![("PROG_LANG_API_WRITE_TOKENS", "has space")],
            "write tokens",
        ),
        (
            vec!["--database-url", "mysql://user:has space@host/db"],
            vec![],
            "--database-url",
        ),
        (
            vec![],
            vec![("PROG_LANG_API_DATABASE_URL", "user:has space@host")],
            "--database-url",
        ),
        (
            vec!["--database-pool-size", "0"],
            vec![],
            "--database-pool-size",
        ),
    ];
    // A negative number, from the flag and from its variable, is refused by name: not read as an
    // unknown flag `-1`.
    let numeric = [
        ("--drain-timeout", "PROG_LANG_API_DRAIN_TIMEOUT"),
        ("--idempotency-ttl", "PROG_LANG_API_IDEMPOTENCY_TTL"),
        (
            "--idempotency-max-keys",
            "PROG_LANG_API_IDEMPOTENCY_MAX_KEYS",
        ),
        ("--shutdown-delay", "PROG_LANG_API_SHUTDOWN_DELAY"),
        ("--max-languages", "PROG_LANG_API_MAX_LANGUAGES"),
        ("--header-read-timeout", "PROG_LANG_API_HEADER_READ_TIMEOUT"),
        ("--body-read-timeout", "PROG_LANG_API_BODY_READ_TIMEOUT"),
        ("--idle-timeout", "PROG_LANG_API_IDLE_TIMEOUT"),
        ("--max-connections", "PROG_LANG_API_MAX_CONNECTIONS"),
        ("--database-pool-size", "PROG_LANG_API_DATABASE_POOL_SIZE"),
    ];
    let cases = cases
        .into_iter()
        .chain(numeric.into_iter().flat_map(|(flag, variable)| {
            [
                (vec![flag, "-1"], vec![], flag),
                (vec![], vec![(variable, "-1")], flag),
            ]
        }));
    for (args, env, named) in cases {
        let output = server_command(&args, &env)
            .stderr(Stdio::piped())
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(named), "{named} in {stderr}");
        assert!(
            !stderr.contains("has space"),
            "a token or a password is never echoed"
        );
    }
}

#[test]
fn help_documents_every_setting() {
    let output = server_command(&["--help"], &[])
        .stdout(Stdio::piped())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    let readme = include_str!("../../README.md");
    for (flag, variable) in [
        ("--addr", "PROG_LANG_API_ADDR"),
        ("--log-format", "PROG_LANG_API_LOG_FORMAT"),
        ("--drain-timeout", "PROG_LANG_API_DRAIN_TIMEOUT"),
        ("--shutdown-delay", "PROG_LANG_API_SHUTDOWN_DELAY"),
        ("--rate-limit", "PROG_LANG_API_RATE_LIMIT"),
        ("--trusted-proxies", "PROG_LANG_API_TRUSTED_PROXIES"),
        ("--idempotency-ttl", "PROG_LANG_API_IDEMPOTENCY_TTL"),
        (
            "--idempotency-max-keys",
            "PROG_LANG_API_IDEMPOTENCY_MAX_KEYS",
        ),
        ("--max-languages", "PROG_LANG_API_MAX_LANGUAGES"),
        ("--write-tokens-file", "PROG_LANG_API_WRITE_TOKENS_FILE"),
        ("--cors-origin", "PROG_LANG_API_CORS_ORIGINS"),
        ("--public-url", "PROG_LANG_API_PUBLIC_URL"),
        ("--contact-url", "PROG_LANG_API_CONTACT_URL"),
        ("--contact-email", "PROG_LANG_API_CONTACT_EMAIL"),
        ("--compression", "PROG_LANG_API_COMPRESSION"),
        ("--metrics-addr", "PROG_LANG_API_METRICS_ADDR"),
        ("--max-connections", "PROG_LANG_API_MAX_CONNECTIONS"),
        ("--header-read-timeout", "PROG_LANG_API_HEADER_READ_TIMEOUT"),
        ("--body-read-timeout", "PROG_LANG_API_BODY_READ_TIMEOUT"),
        ("--idle-timeout", "PROG_LANG_API_IDLE_TIMEOUT"),
        ("--database-url", "PROG_LANG_API_DATABASE_URL"),
        ("--database-pool-size", "PROG_LANG_API_DATABASE_POOL_SIZE"),
    ] {
        assert!(
            help.contains(flag) && help.contains(variable),
            "--help: {flag} {variable}"
        );
        assert!(
            readme.contains(&format!("`{flag}")) && readme.contains(&format!("`{variable}`")),
            "README: {flag}"
        );
    }
    assert!(
        help.contains("PROG_LANG_API_WRITE_TOKENS")
            && readme.contains("`PROG_LANG_API_WRITE_TOKENS`")
    );
}

#[tokio::test]
async fn tokens_never_reach_the_log_and_json_lines_carry_the_request_id() {
    let secret = "tok-9f8e7d6c5b4a";
    let mut server = start(
        &["--addr", "127.0.0.1:0", "--log-format", "json"],
        &[("PROG_LANG_API_WRITE_TOKENS", secret)],
    );
    let client = reqwest::Client::new();
    for token in [secret, "wrong-guess-123"] {
        client
            .delete(format!("{}/programming_languages/APL", server.address))
            .header("Authorization", format!("Bearer {token}"))
            .header("X-Request-Id", "find-me-1")
            .send()
            .await
            .expect("DELETE");
    }
    server.signal("TERM");
    assert_eq!(server.wait().code(), Some(0));
    let log = server.log();
    let text = log.join("\n");
    assert!(
        !text.contains(secret) && !text.contains("wrong-guess-123"),
        "{text}"
    );
    let requests: Vec<serde_json::Value> = log
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 2, "{text}");
    for line in &requests {
        assert_eq!(line["fields"]["request_id"], "find-me-1");
        assert_eq!(line["fields"]["method"], "DELETE");
        assert_eq!(line["fields"]["path"], "/programming_languages/APL");
    }
    let statuses: Vec<&serde_json::Value> = requests
        .iter()
        .map(|line| &line["fields"]["status"])
        .collect();
    assert_eq!(statuses, [200, 401]);
}

#[tokio::test]
async fn the_access_log_names_the_client_as_the_trusted_proxy_saw_it() {
    let mut server = start(
        &[
            "--addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--trusted-proxies",
            "10.0.0.0/8,127.0.0.1",
        ],
        &[],
    );
    let client = reqwest::Client::new();
    for forwarded in ["198.51.100.7", "203.0.113.1, 198.51.100.8, 10.1.1.1"] {
        client
            .get(format!("{}/healthz", server.address))
            .header("X-Forwarded-For", forwarded)
            .send()
            .await
            .expect("GET");
    }
    server.signal("TERM");
    assert_eq!(server.wait().code(), Some(0));
    let clients: Vec<serde_json::Value> = server
        .log()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "request")
        .map(|line| line["fields"]["client"].clone())
        .collect();
    assert_eq!(clients, ["198.51.100.7", "198.51.100.8"]);
}

#[tokio::test]
async fn without_tokens_on_a_public_address_the_start_warns() {
    let mut open = start(&["--addr", "0.0.0.0:0"], &[]);
    open.signal("TERM");
    open.wait();
    assert!(
        open.log()
            .iter()
            .any(|line| line.contains("WARN") && line.contains("anyone"))
    );
    let mut guarded = start(
        &["--addr", "0.0.0.0:0"],
        &[("PROG_LANG_API_WRITE_TOKENS", "abc")],
    );
    guarded.signal("TERM");
    guarded.wait();
    assert!(!guarded.log().iter().any(|line| line.contains("anyone")));
    let mut local = start(&["--addr", "127.0.0.1:0"], &[]);
    local.signal("TERM");
    local.wait();
    assert!(!local.log().iter().any(|line| line.contains("anyone")));
}

#[tokio::test]
async fn shutdown_finishes_a_request_in_flight_and_does_not_wait_for_idle_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut server = start(
        &[
            "--addr",
            "127.0.0.1:0",
            "--idle-timeout",
            "60",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        &[],
    );
    let address = server.address.trim_start_matches("http://").to_owned();
    let metrics = metrics_url(&mut server);

    // An idle keep-alive connection: one request answered, then silence.
    let mut idle = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    let mut buffer = [0u8; 1024];
    assert!(idle.read(&mut buffer).await.expect("read") > 0);

    // An upload that started before the signal, on a keep-alive connection: the server closes
    // it once it has answered.
    let upload = SlowUpload::begin(
        &server.address,
        "Drained",
        UploadHead {
            keep_alive: true,
            ..UploadHead::default()
        },
    )
    .await;
    // The server is answering it, its body still coming.
    wait_for_metric(&metrics, "http_server_active_requests 1").await;

    server.signal("TERM");
    server.wait_for_line(&format!("stopped accepting on {address}"));
    let refused = tokio::net::TcpStream::connect(&address).await;
    assert!(refused.is_err(), "no new connections once shutting down");
    let answer = upload.finish().await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(
        closed_within(&mut idle, Duration::from_secs(5)).await,
        "the idle connection is closed"
    );
    let status = server.wait();
    assert_eq!(status.code(), Some(0));
}

/// Sends `request` on `stream` and reads the answer until the server closes the connection.
async fn answer_then_close(stream: &mut tokio::net::TcpStream, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection after its answer")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn during_the_shutdown_delay_the_server_fails_its_health_check_and_closes_each_connection_after_its_answer()
 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut server = start(&["--addr", "127.0.0.1:0", "--shutdown-delay", "300"], &[]);
    let address = server.address.trim_start_matches("http://").to_owned();

    // A connection a load balancer keeps in its pool: one request answered, kept open.
    let mut pooled = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    pooled
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    let mut buffer = [0u8; 1024];
    let read = pooled.read(&mut buffer).await.expect("read");
    let first = String::from_utf8_lossy(&buffer[..read]).to_ascii_lowercase();
    assert!(first.starts_with("http/1.1 200"), "{first}");
    assert!(!first.contains("connection: close"), "{first}");

    server.signal("TERM");
    server.wait_for_line("stopping in 300 s");

    // Its next request is answered, and the answer closes it: the pool opens its next
    // connection elsewhere, rather than meet this one closed under a request.
    let answer = answer_then_close(
        &mut pooled,
        b"GET /programming_languages HTTP/1.1\r\nHost: test\r\n\r\n",
    )
    .await
    .to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");

    // New connections are still accepted: the health check fails, so the balancer takes the
    // server out, and every other request is served, writes included.
    let mut fresh = tokio::net::TcpStream::connect(&address)
        .await
        .expect("still accepting");
    let health =
        answer_then_close(&mut fresh, b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").await;
    let (head, body) = health.split_once("\r\n\r\n").expect("a response");
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 503"), "{health}");
    assert!(head.contains("\r\nretry-after: "), "{health}");
    assert!(
        head.contains("\r\ncontent-type: application/problem+json"),
        "{health}"
    );
    assert!(head.contains("\r\nconnection: close"), "{health}");
    let problem: serde_json::Value = serde_json::from_str(body).expect("a problem");
    assert_eq!(problem["type"], "/problems/shutting-down");
    assert_eq!(problem["instance"], "/healthz");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("stopping")),
        "{problem}"
    );
    let mut writer = tokio::net::TcpStream::connect(&address)
        .await
        .expect("still accepting");
    let body = r#"{"name":"Stopping","publication_year":2026,"contribution":"none"}"#;
    let create = format!(
        "POST /programming_languages HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let created = answer_then_close(&mut writer, create.as_bytes()).await;
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    assert!(server.running(), "still serving within the delay");
}

#[tokio::test]
async fn after_the_shutdown_delay_the_server_stops_and_exits_0() {
    let mut server = start(&["--addr", "127.0.0.1:0", "--shutdown-delay", "1"], &[]);
    assert_eq!(health(&server.address).await, reqwest::StatusCode::OK);
    server.signal("TERM");
    server.wait_for_line("stopping in 1 s");
    assert_eq!(server.wait().code(), Some(0));
}

/// The metrics URL the server announced (started with `--metrics-addr`).
fn metrics_url(server: &mut Process) -> String {
    server.wait_for_line("metrics on ");
    server
        .log()
        .iter()
        .find_map(|line| line.split("metrics on ").nth(1))
        .and_then(|rest| rest.split(|c: char| c.is_whitespace() || c == '"').next())
        .expect("announced")
        .to_owned()
}

/// Scrapes `metrics` until a line of it is `line` (or `PATIENCE` runs out).
async fn wait_for_metric(metrics: &str, line: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let text = reqwest::get(metrics)
            .await
            .expect("scrape")
            .text()
            .await
            .expect("text");
        if text.lines().any(|scraped| scraped == line) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{line:?} never came: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `command`, run by a shell that first sets the open-file limit with `ulimit` and `limit`
/// (`-Sn 256`: the soft limit only; `-n 512`: both).
fn with_open_file_limit(command: &Command, limit: &str) -> Command {
    let mut wrapped = Command::new("sh");
    wrapped
        .arg("-c")
        .arg(format!("ulimit {limit} && exec \"$@\""))
        .arg("sh")
        .arg(command.get_program())
        .args(command.get_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(name, value),
            None => wrapped.env_remove(name),
        };
    }
    wrapped
}

/// The soft and hard open-file limits of process `pid`.
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .expect("Max open files");
    let mut fields = line["Max open files".len()..].split_whitespace();
    let soft = fields.next().expect("soft").to_owned();
    let hard = fields.next().expect("hard").to_owned();
    (soft, hard)
}

#[tokio::test]
async fn the_open_file_limit_is_raised_and_the_connection_cap_fits_in_it() {
    let plain = server_command(&["--addr", "127.0.0.1:0"], &[]);
    let mut server = start_command(with_open_file_limit(&plain, "-Sn 256"));
    assert_eq!(health(&server.address).await, reqwest::StatusCode::OK);
    let (soft, hard) = open_file_limits(server.child.id());
    assert_eq!(soft, hard, "the soft limit is raised to the hard one");
    assert_ne!(soft, "256");
    assert!(
        !server.log().iter().any(|line| line.contains("lowered")),
        "10,000 connections fit"
    );

    let mut small = start_command(with_open_file_limit(&plain, "-n 512"));
    assert_eq!(health(&small.address).await, reqwest::StatusCode::OK);
    let log = small.log();
    let lowered = log
        .iter()
        .find(|line| line.contains("--max-connections lowered"))
        .unwrap_or_else(|| panic!("a warning: {log:?}"));
    assert!(lowered.contains("cap=448"), "{lowered}");
}

#[tokio::test]
async fn metrics_are_announced_and_served_on_their_own_listener() {
    let mut server = start(
        &["--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"],
        &[],
    );
    assert_eq!(health(&server.address).await, reqwest::StatusCode::OK);
    let log = server.log();
    let metrics = log
        .iter()
        .find_map(|line| line.split("metrics on ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("announced: {log:?}"))
        .to_owned();
    let scrape = reqwest::get(&metrics).await.expect("scrape");
    assert_eq!(scrape.status(), reqwest::StatusCode::OK);
    let text = scrape.text().await.expect("text");
    assert!(
        text.contains(
            r#"http_server_requests_total{operation="health",method="GET",status="200"} 1"#
        ),
        "{text}"
    );
    let on_the_api = reqwest::get(format!("{}/metrics", server.address))
        .await
        .expect("GET");
    assert_eq!(on_the_api.status(), reqwest::StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_access_log_line_is_written_before_the_server_exits() {
    let mut server = start(&["--addr", "127.0.0.1:0", "--log-format", "json"], &[]);
    let client = reqwest::Client::new();
    for i in 0..300 {
        let response = client
            .get(format!(
                "{}/programming_languages/Missing{i}",
                server.address
            ))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), reqwest::StatusCode::NOT_FOUND);
    }
    // At once: the lines still queued for the writer thread must come out all the same.
    server.signal("TERM");
    assert_eq!(server.wait().code(), Some(0));
    let logged = server
        .log()
        .iter()
        .filter(|line| line.contains(r#""path":"/programming_languages/Missing"#))
        .count();
    assert_eq!(logged, 300);
}

#[tokio::test]
async fn while_every_connection_is_busy_a_new_one_waits_for_room() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut server = start(
        &[
            "--addr",
            "127.0.0.1:0",
            "--max-connections",
            "1",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        &[],
    );
    let address = server.address.trim_start_matches("http://").to_owned();
    let metrics = metrics_url(&mut server);
    let upload = SlowUpload::begin(&server.address, "Busy", UploadHead::default()).await;
    // Under way once the server has its head (until then the connection is idle, and the cap
    // would close it to make room).
    wait_for_metric(&metrics, "http_server_active_requests 1").await;
    let mut waiting = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    waiting
        .write_all(
            b"GET /programming_languages/Busy HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        )
        .await
        .expect("write");
    // The server has the new connection and no room for it: it says so, and holds it.
    server.wait_for_line("at the connection cap");
    let answer = upload.finish().await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    // Served once the upload's connection closed: after the create, which it sees.
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, waiting.read_to_end(&mut response))
        .await
        .expect("answered once there is room")
        .expect("read");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn at_the_connection_cap_the_server_warns_once_a_minute_at_most() {
    let mut server = start(&["--addr", "127.0.0.1:0", "--max-connections", "1"], &[]);
    // Each request on a client of its own, kept: a new connection, at the cap, that makes room
    // by closing the previous client's idle one.
    let mut clients = Vec::new();
    for _ in 0..4 {
        let client = reqwest::Client::new();
        let status = client
            .get(format!("{}/healthz", server.address))
            .send()
            .await
            .expect("answered")
            .status();
        assert_eq!(status, reqwest::StatusCode::OK);
        clients.push(client);
    }
    let warnings = server
        .log()
        .iter()
        .filter(|line| line.contains("at the connection cap"))
        .count();
    assert_eq!(warnings, 1);
}
