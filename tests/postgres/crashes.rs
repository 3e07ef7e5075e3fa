//! A server process killed in the middle of a keyed write (README, "Retries"): the write and the
//! record of its key are one step, so the crash leaves both or neither, and a retry on another
//! server of the database gets the first answer or runs afresh, never a second write.
//!
//! A claim whose server died frees itself within a lease (10 s). The moment of a write is held
//! open by a trigger on the keys' table that sleeps when a key is completed,
//! either inside the write's transaction (the crash comes before its commit) or in its commit (a
//! deferred trigger: the server has sent `COMMIT` and dies before it hears back), while the test
//! kills the server.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use prog_lang_api::Config;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::TcpListener;

use crate::helpers::{
    SlowUpload, TestApp, fresh_database, json_body, language, names, problem, server_command,
    spawn_app_on,
};

/// How long the trigger holds the write: long enough to kill the server inside it.
const HOLD_SECS: u32 = 2;

/// The server binary on `database`, on a port of its own, once its health check passes.
async fn start_binary(database: &str) -> (tokio::process::Child, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let address = format!("127.0.0.1:{port}");
    let command = server_command(
        &["--addr", &address],
        &[("PROG_LANG_API_DATABASE_URL", database)],
    );
    let child = tokio::process::Command::from(command)
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the server binary");
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = client.get(format!("{base}/healthz")).send().await;
        if health.is_ok_and(|response| response.status() == StatusCode::OK) {
            return (child, base);
        }
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn connect(database: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(database, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

/// A trigger that sleeps when a key is completed: in the write's transaction, or (`in_commit`) in
/// its commit.
async fn hold_completions(database: &tokio_postgres::Client, in_commit: bool) {
    let trigger = if in_commit {
        "CREATE CONSTRAINT TRIGGER hold AFTER UPDATE ON idempotency_keys \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.owner IS NULL) \
         EXECUTE FUNCTION hold()"
    } else {
        "CREATE TRIGGER hold AFTER UPDATE ON idempotency_keys \
         FOR EACH ROW WHEN (NEW.owner IS NULL) EXECUTE FUNCTION hold()"
    };
    database
        .batch_execute(&format!(
            "CREATE OR REPLACE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep({HOLD_SECS}); RETURN NULL; END $$; {trigger}"
        ))
        .await
        .expect("the trigger");
}

/// Waits until a backend sleeps in the trigger, then until none does (its transaction ended).
async fn held(database: &tokio_postgres::Client, want: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sleeping: i64 = database
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event = 'PgSleep'",
                &[],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if (sleeping > 0) == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the trigger never held (or let go)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends the keyed create to the binary at `base`, kills the server while the trigger holds its
/// write, and returns once the database has finished with the write, the trigger gone.
async fn killed_inside_a_create(database: &str, in_commit: bool, body: &Value, key: &str) {
    let sql = connect(database).await;
    let (mut server, base) = start_binary(database).await;
    hold_completions(&sql, in_commit).await;
    let request = reqwest::Client::new()
        .post(format!("{base}/programming_languages"))
        .header("Idempotency-Key", key)
        .json(body)
        .send();
    let sent = tokio::spawn(request);
    held(&sql, true).await;
    server.kill().await.expect("kill the server");
    assert!(
        sent.await.expect("the request task").is_err(),
        "the killed server answered nothing"
    );
    held(&sql, false).await;
    sql.batch_execute("DROP TRIGGER hold ON idempotency_keys")
        .await
        .expect("drop the trigger");
}

async fn count_of(app: &TestApp, name: &str) -> usize {
    let page = json_body(
        app.get("/programming_languages?limit=1000").await,
        StatusCode::OK,
    )
    .await;
    names(&page).iter().filter(|n| *n == name).count()
}

#[tokio::test]
async fn a_server_killed_before_its_keyed_write_commits_leaves_neither_and_the_retry_runs_once() {
    let database = fresh_database().await;
    let other = spawn_app_on(&database, Config::defaults()).await;
    let body = language("Crashed", 1999, "killed before the commit");
    killed_inside_a_create(&database, false, &body, "before-commit").await;

    assert_eq!(count_of(&other, "Crashed").await, 0, "no write");
    runs_once_the_claim_ends(&other, &body, "before-commit").await;
}

#[tokio::test]
async fn a_server_killed_while_a_keyed_body_comes_frees_the_key_within_a_lease() {
    let database = fresh_database().await;
    let other = spawn_app_on(&database, Config::defaults()).await;
    let sql = connect(&database).await;
    let (mut server, base) = start_binary(&database).await;
    let upload = SlowUpload::keyed(&base, "Cut short", "mid-body").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while sql
        .query_opt("SELECT 1 FROM idempotency_keys WHERE key = 'mid-body'", &[])
        .await
        .expect("the keys")
        .is_none()
    {
        assert!(Instant::now() < deadline, "the key was never claimed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill().await.expect("kill the server");
    drop(upload);
    let body = language("Cut short", 1990, "uploaded slowly");
    runs_once_the_claim_ends(&other, &body, "mid-body").await;
}

/// Sends the create `body` with `key` to `app` until the claim a killed server left on the key
/// has ended (meanwhile a 409 with `Retry-After`), within a lease and a little more; checks that
/// it then runs, once, and that its answer is kept.
async fn runs_once_the_claim_ends(app: &TestApp, body: &Value, key: &str) {
    let name = body["name"].as_str().expect("a name");
    let started = Instant::now();
    let mut in_use = 0;
    let retried = loop {
        let response = app.create_with_key(key, body).await;
        if response.status() != StatusCode::CONFLICT {
            break response;
        }
        assert_eq!(response.headers()["retry-after"], "1");
        problem(
            response,
            StatusCode::CONFLICT,
            "/problems/idempotency-key-in-use",
            "/programming_languages",
        )
        .await;
        in_use += 1;
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "the claim lasted past its lease"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert!(in_use > 0, "the dead server's claim was seen");
    assert_eq!(retried.status(), StatusCode::CREATED);
    assert!(
        retried.headers().get("idempotent-replayed").is_none(),
        "the retry ran: nothing was kept"
    );
    assert_eq!(count_of(app, name).await, 1);
    let again = app.create_with_key(key, body).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(count_of(app, name).await, 1);
}

#[tokio::test]
async fn a_server_killed_while_its_keyed_write_commits_leaves_both_and_the_retry_gets_the_answer() {
    let database = fresh_database().await;
    let other = spawn_app_on(&database, Config::defaults()).await;
    let body = language("Committed", 2001, "killed in the commit");
    killed_inside_a_create(&database, true, &body, "in-commit").await;

    assert_eq!(count_of(&other, "Committed").await, 1, "the write");
    let retried = other.create_with_key("in-commit", &body).await;
    assert_eq!(retried.status(), StatusCode::CREATED);
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    assert_eq!(
        retried.headers()["location"],
        "/programming_languages/Committed"
    );
    let etag = retried.headers()["etag"].clone();
    assert_eq!(json_body(retried, StatusCode::CREATED).await, body);
    let read = other.get_language("Committed").await;
    assert_eq!(
        read.headers()["etag"],
        etag,
        "the kept answer is the write's"
    );
    assert_eq!(count_of(&other, "Committed").await, 1);
}
