//! What only a shared database has: restarts, several servers on one database, migrations by
//! servers starting together, an outage, and the URL's password kept out of sight.

use std::{
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use prog_lang_api::{Config, Store};
use reqwest::{StatusCode, header::ETAG};
use serde_json::json;
use tokio::{
    io::AsyncReadExt,
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinSet,
};

use crate::helpers::{
    SEED_NAMES, TEST_DATABASE_VARIABLE, TestApp, fresh_database, json_body, language, names,
    problem, server_command, spawn_app_on, spawn_app_on_pool, with,
};

/// Creates `count` languages at once, the `i`th named `name(i)`, alternately on each server, and
/// returns the statuses.
async fn create_across(
    servers: &Arc<[TestApp; 2]>,
    count: usize,
    name: impl Fn(usize) -> String,
) -> Vec<StatusCode> {
    let mut creates = JoinSet::new();
    for i in 0..count {
        let (servers, name) = (Arc::clone(servers), name(i));
        creates.spawn(async move {
            servers[i % 2]
                .create(&language(&name, 2000, &format!("writer {i}")))
                .await
                .status()
        });
    }
    creates.join_all().await
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn a_restart_keeps_every_acknowledged_write_and_a_deleted_seed_stays_deleted() {
    let database = fresh_database().await;
    let first = spawn_app_on(&database, Config::defaults()).await;
    assert_eq!(
        first
            .create(&language("Rust", 2015, "ownership"))
            .await
            .status(),
        StatusCode::CREATED
    );
    let updated = first
        .update("COBOL", &json!({"contribution": "records"}))
        .await;
    let etag = updated.headers()[ETAG].clone();
    assert_eq!(updated.status(), StatusCode::OK);
    assert_eq!(first.delete("ALGOL").await.status(), StatusCode::OK);
    first.stop().await;

    let second = spawn_app_on(&database, Config::defaults()).await;
    let mut expected: Vec<&str> = SEED_NAMES
        .iter()
        .copied()
        .filter(|n| *n != "ALGOL")
        .collect();
    expected.push("Rust");
    assert_eq!(second.all_names().await, expected);
    let cobol = second.get_language("COBOL").await;
    assert_eq!(cobol.headers()[ETAG], etag, "the same state, the same ETag");
    assert_eq!(
        json_body(cobol, StatusCode::OK).await["contribution"],
        "records"
    );
    assert_eq!(
        second.get_language("ALGOL").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn two_servers_on_one_database_read_each_others_writes_and_tokens() {
    let database = fresh_database().await;
    let a = spawn_app_on(&database, Config::defaults()).await;
    let b = spawn_app_on(&database, Config::defaults()).await;

    let created = a.create(&language("Rust", 2015, "ownership")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let etag = created.headers()[ETAG].clone();
    let read = b.get_language("Rust").await;
    assert_eq!(
        read.status(),
        StatusCode::OK,
        "read your writes on the other"
    );
    assert_eq!(read.headers()[ETAG], etag, "one ETag for both");
    let changed = b
        .client
        .put(b.url("/programming_languages/Rust"))
        .header("If-Match", etag.clone())
        .json(&json!({"publication_year": 2010}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(
        changed.status(),
        StatusCode::OK,
        "an ETag from a holds on b"
    );
    let stale = a
        .client
        .delete(a.url("/programming_languages/Rust"))
        .header("If-Match", etag)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);

    for i in 0..20 {
        let server = if i % 2 == 0 { &a } else { &b };
        let created = server
            .create(&language(&format!("Lang {i:02}"), 1990, "x"))
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    // A walk whose pages alternate between the servers, with writes between pages.
    let mut seen = Vec::new();
    let mut query = "?limit=7".to_owned();
    for page in 0.. {
        let server = if page % 2 == 0 { &a } else { &b };
        let body = json_body(server.list(&query).await, StatusCode::OK).await;
        seen.extend(names(&body));
        let late = server
            .create(&language(&format!("Late {page}"), 1990, "x"))
            .await;
        assert_eq!(late.status(), StatusCode::CREATED, "Late {page}");
        match body["next_page_token"].as_str() {
            Some(token) => query = format!("?limit=7&page_token={token}"),
            None => break,
        }
    }
    let mut expected: Vec<String> = SEED_NAMES.iter().map(|n| (*n).to_owned()).collect();
    expected.push("Rust".to_owned());
    expected.extend((0..20).map(|i| format!("Lang {i:02}")));
    let walked: Vec<String> = seen
        .into_iter()
        .filter(|n| !n.starts_with("Late "))
        .collect();
    assert_eq!(walked, expected);
}

#[tokio::test]
async fn a_create_retried_with_its_key_on_another_server_gets_the_first_answer() {
    let database = fresh_database().await;
    let a = spawn_app_on(&database, Config::defaults()).await;
    let b = spawn_app_on(&database, Config::defaults()).await;
    let body = language("Elsewhere", 2001, "retried on another server");
    let send = |app: &TestApp| {
        app.client
            .post(app.url("/programming_languages"))
            .header("Idempotency-Key", "\"across-1\"")
            .json(&body)
            .send()
    };
    let first = send(&a).await.expect("POST");
    assert_eq!(first.status(), StatusCode::CREATED);
    let (location, etag) = (
        first.headers()["location"].clone(),
        first.headers()["etag"].clone(),
    );
    let first_body = first.text().await.expect("body");
    let again = send(&b).await.expect("POST");
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.headers()["etag"], etag);
    assert_eq!(again.text().await.expect("body"), first_body);
    let all = names(
        &json_body(
            b.get("/programming_languages?limit=1000").await,
            StatusCode::OK,
        )
        .await,
    );
    assert_eq!(all.iter().filter(|name| *name == "Elsewhere").count(), 1);
}

#[tokio::test]
async fn of_twenty_concurrent_creates_of_one_name_across_servers_exactly_one_is_201() {
    let database = fresh_database().await;
    let servers = Arc::new([
        spawn_app_on(&database, Config::defaults()).await,
        spawn_app_on(&database, Config::defaults()).await,
    ]);
    let statuses = create_across(&servers, 20, |_| "Contested".to_owned()).await;
    let created = count(&statuses, StatusCode::CREATED);
    let conflicts = count(&statuses, StatusCode::CONFLICT);
    assert_eq!((created, conflicts), (1, 19), "{statuses:?}");
}

#[tokio::test]
async fn the_capacity_holds_across_servers() {
    let database = fresh_database().await;
    let small = || with(|c| c.max_languages = 10);
    let servers = Arc::new([
        spawn_app_on(&database, small()).await,
        spawn_app_on(&database, small()).await,
    ]);
    let statuses = create_across(&servers, 8, |i| format!("New {i}")).await;
    let created = count(&statuses, StatusCode::CREATED);
    let full = count(&statuses, StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!((created, full), (2, 6), "{statuses:?}");
    assert_eq!(servers[0].all_names().await.len(), 10);
    assert_eq!(servers[1].delete("COBOL").await.status(), StatusCode::OK);
    assert_eq!(
        servers[0]
            .create(&language("After", 2000, "x"))
            .await
            .status(),
        StatusCode::CREATED,
        "a delete on one server makes room on the other"
    );
}

#[tokio::test]
async fn servers_starting_together_migrate_once() {
    let database = fresh_database().await;
    let mut starts = JoinSet::new();
    for _ in 0..4 {
        let database = database.clone();
        starts.spawn(async move { Store::postgres(&database, 2, 100).await.map(drop) });
    }
    for started in starts.join_all().await {
        started.expect("every server starts");
    }
    let app = spawn_app_on(&database, Config::defaults()).await;
    assert_eq!(app.all_names().await, SEED_NAMES, "the seed, once");
}

#[tokio::test]
async fn a_schema_newer_than_the_server_stops_its_start() {
    let database = fresh_database().await;
    Store::postgres(&database, 1, 100)
        .await
        .expect("a first start");
    let (client, connection) = tokio_postgres::connect(&database, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
        .execute(
            "INSERT INTO prog_lang_api_schema (version) VALUES (1000)",
            &[],
        )
        .await
        .expect("a newer version");
    let error = Store::postgres(&database, 1, 100)
        .await
        .map(drop)
        .expect_err("a schema newer than the server");
    assert!(error.to_string().contains("newer"), "{error}");
}

/// A TCP proxy to the test database that a test can cut (every connection closed, new ones
/// refused), stall (every connection kept open but nothing relayed, new ones accepted and left
/// unanswered: a database that stops answering) and restore.
struct Proxy {
    port: u16,
    state: watch::Sender<Link>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    Up,
    Cut,
    Stalled,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (state, watching) = watch::channel(Link::Up);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (target, mut link) = (target.clone(), watching.clone());
                tokio::spawn(async move {
                    let mut client = client;
                    let current = *link.borrow_and_update();
                    match current {
                        Link::Cut => return, // closed at once
                        Link::Stalled => {
                            // Held, unanswered, until the link changes.
                            let _ = link.changed().await;
                            return;
                        }
                        Link::Up => {}
                    }
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let stalled = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
                        changed = link.wait_for(|link| *link != Link::Up) => {
                            changed.is_ok_and(|link| *link == Link::Stalled)
                        }
                    };
                    if stalled {
                        // Both sockets stay open and silent until the link changes.
                        let _ = link.changed().await;
                    }
                });
            }
        });
        Self { port, state }
    }

    fn set(&self, link: Link) {
        self.state.send_replace(link);
    }
}

/// The host and port of a postgres:// URL, and the URL with them replaced by `127.0.0.1:port`.
fn through(url: &str, port: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (credentials, rest) = rest.rsplit_once('@').map_or(("", rest), |(c, r)| (c, r));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (host_port, tail) = rest.split_at(end);
    let at = if credentials.is_empty() { "" } else { "@" };
    (
        host_port.to_owned(),
        format!("{scheme}://{credentials}{at}127.0.0.1:{port}{tail}"),
    )
}

/// A fresh database, and a proxy in front of it with the URL that goes through the proxy.
async fn proxied_database() -> (Proxy, String) {
    let database = fresh_database().await;
    let (target, _) = through(&database, 0);
    let proxy = Proxy::start(target).await;
    let (_, proxied) = through(&database, proxy.port);
    (proxy, proxied)
}

#[tokio::test]
async fn an_outage_is_a_503_within_5_s_and_service_resumes_by_itself() {
    let (proxy, proxied) = proxied_database().await;
    let app = spawn_app_on(&proxied, Config::defaults()).await;
    assert_eq!(app.get_language("COBOL").await.status(), StatusCode::OK);

    proxy.set(Link::Cut);
    for path in ["/programming_languages/COBOL", "/programming_languages"] {
        let started = Instant::now();
        let response = app.get(path).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path}: too slow"
        );
        assert!(response.headers().contains_key("retry-after"), "{path}");
        problem(
            response,
            StatusCode::SERVICE_UNAVAILABLE,
            "/problems/service-unavailable",
            path,
        )
        .await;
    }
    let created = app.create(&language("Rust", 2015, "ownership")).await;
    assert_eq!(created.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        app.get("/healthz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    proxy.set(Link::Up);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if app.get("/healthz").await.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "service did not resume");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get_language("COBOL").await.status(), StatusCode::OK);
    assert_eq!(
        app.get_language("Rust").await.status(),
        StatusCode::NOT_FOUND,
        "the create during the outage did not happen"
    );
}

#[tokio::test]
async fn a_database_that_stops_answering_is_a_503_within_5_s_for_every_request() {
    let (proxy, proxied) = proxied_database().await;
    let app = Arc::new(spawn_app_on(&proxied, Config::defaults()).await);
    assert_eq!(app.get_language("COBOL").await.status(), StatusCode::OK);

    proxy.set(Link::Stalled);
    // More requests at once than the pool has connections (4 in the tests): those that get a
    // connection wait on a silent one, the others wait for a connection.
    let mut requests = JoinSet::new();
    for i in 0..10 {
        let app = Arc::clone(&app);
        requests.spawn(async move {
            let started = Instant::now();
            let status = if i % 2 == 0 {
                app.get_language("COBOL").await.status()
            } else {
                app.create(&language(&format!("Stalled {i}"), 2000, "x"))
                    .await
                    .status()
            };
            (status, started.elapsed())
        });
    }
    for (status, took) in requests.join_all().await {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(took < Duration::from_secs(5), "a request took {took:?}");
    }

    proxy.set(Link::Up);
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.get("/healthz").await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "service did not resume");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get_language("COBOL").await.status(), StatusCode::OK);
}

/// The connections that the server with `application_name` has open to the database at `url`.
async fn connections(url: &str, application_name: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(connection);
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1",
            &[&application_name],
        )
        .await
        .expect("the database's sessions")
        .get(0)
}

/// `count` requests at once to `app`: every third creates `Load {i}` (201), the others read
/// `path` (200).
async fn reads_and_creates(app: &Arc<TestApp>, count: usize, path: &'static str) {
    let mut requests = JoinSet::new();
    for i in 0..count {
        let app = Arc::clone(app);
        requests.spawn(async move {
            if i % 3 == 0 {
                let created = app.create(&language(&format!("Load {i}"), 2000, "x")).await;
                assert_eq!(created.status(), StatusCode::CREATED);
            } else {
                assert_eq!(app.get(path).await.status(), StatusCode::OK, "{path}");
            }
        });
    }
    requests.join_all().await;
}

#[tokio::test]
async fn reads_share_one_connection_and_the_pool_size_bounds_them_all() {
    let database = fresh_database().await;
    let name = "reads-share-one-connection";
    let url = format!("{database}?application_name={name}");
    // The tests' pool: 4 connections.
    let app = Arc::new(spawn_app_on(&url, Config::defaults()).await);

    // 60 reads at once: they share one connection, where each would have taken one of the pool's
    // (the pool would have opened all 4).
    let mut reads = JoinSet::new();
    for i in 0..60 {
        let app = Arc::clone(&app);
        reads.spawn(async move {
            let path = if i % 2 == 0 {
                "/programming_languages/COBOL"
            } else {
                "/programming_languages?limit=3"
            };
            app.get(path).await.status()
        });
    }
    for status in reads.join_all().await {
        assert_eq!(status, StatusCode::OK);
    }
    // The connection the start used, and the shared one.
    assert_eq!(connections(&database, name).await, 2);

    // Reads and writes together: the writes take the pool's other connections, never more.
    reads_and_creates(&app, 60, "/programming_languages/COBOL").await;
    let open = connections(&database, name).await;
    assert!(open <= 4, "{open} connections");
    // Every write is seen by the next read.
    for i in (0..60).step_by(3) {
        let read = app.get_language(&format!("Load%20{i}")).await;
        assert_eq!(read.status(), StatusCode::OK);
    }
}

/// The backends of the server with `application_name` on the database at `url`.
async fn backends(url: &str, application_name: &str) -> Vec<i32> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(connection);
    client
        .query(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1 ORDER BY pid",
            &[&application_name],
        )
        .await
        .expect("the database's sessions")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn a_read_the_database_cancels_is_a_503_and_the_shared_connection_stays() {
    let database = fresh_database().await;
    let name = "a-cancelled-read";
    let url = format!("{database}?application_name={name}");
    let app = spawn_app_on(&url, Config::defaults()).await;
    assert_eq!(app.get_language("COBOL").await.status(), StatusCode::OK);
    let before = backends(&database, name).await;

    // The table locked for longer than the server's 3 s statement_timeout: the database cancels
    // the read.
    let (locker, connection) = tokio_postgres::connect(&database, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(connection);
    locker
        .batch_execute("BEGIN; LOCK TABLE languages IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock the table");
    let started = Instant::now();
    let response = app.get_language("COBOL").await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    locker.batch_execute("ROLLBACK").await.expect("unlock");

    // The connection the cancelled read was on still serves: no new one was made.
    assert_eq!(app.get_language("COBOL").await.status(), StatusCode::OK);
    assert_eq!(backends(&database, name).await, before);
}

#[tokio::test]
async fn a_row_changed_behind_the_servers_back_is_a_503_not_a_wrong_answer() {
    let database = fresh_database().await;
    let app = spawn_app_on(&database, Config::defaults()).await;
    let (client, connection) = tokio_postgres::connect(&database, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(connection);
    let unavailable = async |path: &str| {
        let response = app.get(path).await;
        problem(
            response,
            StatusCode::SERVICE_UNAVAILABLE,
            "/problems/service-unavailable",
            path,
        )
        .await;
    };
    // A name no request could have created: the page that holds it.
    client
        .batch_execute("UPDATE languages SET name = ' Pascal' WHERE name = 'Pascal'")
        .await
        .expect("change a name");
    unavailable("/programming_languages").await;
    assert_eq!(app.get_language("COBOL").await.status(), StatusCode::OK);
    // A contribution that is not UTF-8: its language.
    client
        .batch_execute("UPDATE languages SET contribution = '\\xff'::bytea WHERE name = 'COBOL'")
        .await
        .expect("change a contribution");
    unavailable("/programming_languages/COBOL").await;
    // The rows the server can read are served as before.
    assert_eq!(app.get_language("ALGOL").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_pool_of_one_connection_serves_reads_and_writes_on_it() {
    let database = fresh_database().await;
    let name = "a-pool-of-one";
    let url = format!("{database}?application_name={name}");
    let app = Arc::new(spawn_app_on_pool(&url, 1, Config::defaults()).await);
    reads_and_creates(&app, 30, "/programming_languages?limit=2").await;
    assert_eq!(connections(&database, name).await, 1);
    assert_eq!(app.get_language("Load%2027").await.status(), StatusCode::OK);
}

/// The password of the test server's URL.
fn password(url: &str) -> String {
    let (_, rest) = url.split_once("://").expect("a URL");
    let credentials = rest.rsplit_once('@').map(|(c, _)| c).expect("credentials");
    let (_, password) = credentials.split_once(':').expect("a password");
    assert!(
        password.len() >= 8,
        "the test server's password is too short to look for"
    );
    password.to_owned()
}

/// A loopback port free a moment ago.
async fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// Runs the server binary with `database_url` and `arguments`, and returns its exit status (after
/// `stop_after`, if it is still running, it is killed) and what it wrote.
async fn run_binary(
    database_url: &str,
    arguments: &[&str],
    stop_after: Duration,
) -> (Option<i32>, String) {
    let command = server_command(
        arguments,
        &[
            ("PROG_LANG_API_DATABASE_URL", database_url),
            ("RUST_LOG", "debug"),
        ],
    );
    let mut child = tokio::process::Command::from(command)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server binary");
    let status = match tokio::time::timeout(stop_after, child.wait()).await {
        Ok(status) => status.expect("wait"),
        Err(_) => {
            child.start_kill().expect("kill the server");
            tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .expect("the server ends once killed")
                .expect("wait")
        }
    };
    let mut stderr = String::new();
    let mut stdout = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .await;
    let _ = child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .await;
    (status.code(), stderr + &stdout)
}

#[tokio::test]
async fn the_password_never_appears_in_help_logs_or_errors() {
    let server = std::env::var(TEST_DATABASE_VARIABLE).expect("the test server");
    let secret = password(&server);

    let (code, help) = run_binary(&server, &["--help"], Duration::from_secs(10)).await;
    assert_eq!(code, Some(0));
    assert!(help.contains("--database-url"), "{help}");
    assert!(!help.contains(&secret), "--help shows the password");

    // A wrong password: refused by the server, a one-line message, exit 1.
    let wrong = server.replace(&secret, "not-the-password-hunter2");
    let addr = format!("127.0.0.1:{}", free_port().await);
    let (code, output) = run_binary(&wrong, &["--addr", &addr], Duration::from_secs(30)).await;
    assert_eq!(code, Some(1), "{output}");
    assert!(!output.contains("hunter2"), "{output}");
    assert_eq!(output.trim().lines().count(), 1, "{output}");

    // A database that is up, then lost: the warnings say so, without the password.
    let (proxy, proxied) = proxied_database().await;
    let addr = format!("127.0.0.1:{}", free_port().await);
    let health = format!("http://{addr}/healthz");
    let outage = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut up = false;
        for _ in 0..100 {
            if let Ok(response) = client.get(&health).send().await {
                up = response.status() == StatusCode::OK;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        proxy.set(Link::Cut);
        let down = client.get(&health).send().await.map(|r| r.status()).ok();
        (up, down, proxy)
    });
    let arguments = ["--addr", &addr, "--log-format", "json"];
    let (_, output) = run_binary(&proxied, &arguments, Duration::from_secs(8)).await;
    let (up, down, _proxy) = outage.await.expect("the outage");
    assert!(up, "{output}");
    assert_eq!(down, Some(StatusCode::SERVICE_UNAVAILABLE), "{output}");
    assert!(
        output.contains("database"),
        "the outage is logged: {output}"
    );
    assert!(!output.contains(&secret), "{output}");
}

#[tokio::test]
async fn an_unreachable_database_stops_the_start_within_30_s() {
    let closed = free_port().await; // nothing listens on it
    let url = format!("postgres://prog:hunter2-secret@127.0.0.1:{closed}/nowhere");
    let started = Instant::now();
    let addr = format!("127.0.0.1:{}", free_port().await);
    let (code, output) = run_binary(&url, &["--addr", &addr], Duration::from_secs(40)).await;
    assert!(started.elapsed() < Duration::from_secs(30), "{output}");
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("cannot reach the database"), "{output}");
    assert!(!output.contains("hunter2"), "{output}");
    // The reason to stop is the last line, after the warnings of each try.
    let last = output.trim().lines().last().unwrap_or_default();
    assert!(last.starts_with("prog-lang-api: "), "{output}");
    assert!(last.contains("cannot reach the database"), "{output}");
}

#[tokio::test]
async fn the_reason_a_start_fails_is_its_last_line_after_what_was_logged() {
    // A fresh database is migrated (an INFO line, moments before), then the address is taken:
    // the reason must not come out ahead of the line the log's thread still held.
    let database = fresh_database().await;
    let taken = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = taken.local_addr().expect("its address").to_string();
    let (code, output) = run_binary(&database, &["--addr", &addr], Duration::from_secs(30)).await;
    assert_eq!(code, Some(1), "{output}");
    let lines: Vec<&str> = output.trim().lines().collect();
    let migrated = lines
        .iter()
        .position(|line| line.contains("database schema migrated"));
    assert!(migrated.is_some(), "{output}");
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with("prog-lang-api: cannot listen on"),
        "{output}"
    );
}

#[tokio::test]
async fn an_outage_shows_in_the_metrics_as_database_errors_and_503s() {
    use crate::metrics::{free_address, scrape, value};
    let (proxy, proxied) = proxied_database().await;
    let metrics = free_address();
    let mut config = Config::defaults();
    config.metrics_addr = Some(metrics);
    let app = spawn_app_on(&proxied, config).await;
    let url = format!("http://{metrics}/metrics");
    assert_eq!(app.get_language("COBOL").await.status(), StatusCode::OK);
    let before = scrape(&app, &url).await;
    assert_eq!(
        value(&before, "prog_lang_api_database_errors_total", &[]),
        Some(0.0)
    );

    proxy.set(Link::Cut);
    for _ in 0..3 {
        let response = app.get_language("COBOL").await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    proxy.set(Link::Up);
    let during = scrape(&app, &url).await;
    let errors = value(&during, "prog_lang_api_database_errors_total", &[]).unwrap_or(0.0);
    assert!(errors >= 3.0, "{errors} database errors");
    let unavailable = value(
        &during,
        "http_server_requests_total",
        &[
            ("operation", "get_language"),
            ("method", "GET"),
            ("status", "503"),
        ],
    );
    assert_eq!(unavailable, Some(3.0));
}
