//! Idempotency keys (README, "Retries"): a write retried with its key gets the first answer and
//! changes nothing more; the same key on another request is a 422, while its first request runs a
//! 409; a key belongs to its client.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_create_retried_with_its_key_gets_the_first_answer_and_creates_nothing_more() {
    let app = spawn_app().await;
    let body = language("Retried", 2001, "once");
    let first = app.create_with_key("\"retry-1\"", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let (location, etag) = (
        first.headers()["location"].clone(),
        first.headers()["etag"].clone(),
    );
    let first_body = first.text().await.expect("body");
    for key in ["\"retry-1\"", "retry-1"] {
        let again = app.create_with_key(key, &body).await;
        assert_eq!(again.status(), StatusCode::CREATED, "{key}");
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.headers()["location"], location);
        assert_eq!(again.headers()["etag"], etag);
        assert_eq!(again.text().await.expect("body"), first_body);
    }
    let names = app.all_names().await;
    assert_eq!(names.iter().filter(|name| *name == "Retried").count(), 1);
}

#[tokio::test]
async fn the_same_key_on_another_request_is_a_422_and_changes_nothing() {
    let app = spawn_app().await;
    let first = app
        .create_with_key("k-2", &language("First", 2001, "x"))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let other = app
        .create_with_key("k-2", &language("Second", 2001, "x"))
        .await;
    problem(
        other,
        StatusCode::UNPROCESSABLE_ENTITY,
        "/problems/idempotency-key-reused",
        "/programming_languages",
    )
    .await;
    assert_eq!(
        app.get_language("Second").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_answer_that_wrote_nothing_is_kept_too() {
    let app = spawn_app().await;
    let body = json!({"name": "Broken", "publication_year": "soon"});
    let first = app.create_with_key("k-3", &body).await;
    assert_eq!(first.status(), StatusCode::BAD_REQUEST);
    let first_body = first.text().await.expect("body");
    let again = app.create_with_key("k-3", &body).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().await.expect("body"), first_body);
}

#[tokio::test]
async fn an_invalid_key_is_a_400_naming_the_header() {
    let app = spawn_app().await;
    let long = "k".repeat(256);
    for key in ["a b", "\"a b\"", long.as_str()] {
        let response = app
            .create_with_key(key, &language("Keyless", 2001, "x"))
            .await;
        let body = problem(
            response,
            StatusCode::BAD_REQUEST,
            "/problems/validation",
            "/programming_languages",
        )
        .await;
        assert!(body.to_string().contains("Idempotency-Key"), "{body}");
    }
    assert_eq!(
        app.get_language("Keyless").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_key_belongs_to_its_token() {
    let app = spawn_app_with(with(|c| c.write_tokens = vec!["one".into(), "two".into()])).await;
    let send = |token: &'static str, name: &'static str| {
        app.client
            .post(app.url("/programming_languages"))
            .header("Idempotency-Key", "shared")
            .header("Authorization", format!("Bearer {token}"))
            .json(&language(name, 2001, "x"))
            .send()
    };
    assert_eq!(send("one", "ByOne").await.expect("POST").status(), 201);
    // The other token's same key is another key: its request runs.
    assert_eq!(send("two", "ByTwo").await.expect("POST").status(), 201);
}

#[tokio::test]
async fn the_same_key_while_its_first_request_runs_is_a_409_then_the_first_answer() {
    let app = spawn_app().await;
    // The first request's body is still coming: its key is claimed, its request in flight.
    let upload = SlowUpload::keyed(&app.address, "Slow", "slow-1").await;
    let body = language("Slow", 1990, "uploaded slowly");
    let mut in_flight = None;
    for _ in 0..500 {
        let response = app.create_with_key("slow-1", &body).await;
        if response.status() == StatusCode::CONFLICT {
            in_flight = Some(response);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let in_flight = in_flight.expect("a 409 while the first request runs");
    assert!(in_flight.headers().get("retry-after").is_some());
    problem(
        in_flight,
        StatusCode::CONFLICT,
        "/problems/idempotency-key-in-use",
        "/programming_languages",
    )
    .await;
    let first = upload.finish().await;
    assert!(first.starts_with("HTTP/1.1 201"), "{first}");
    let again = app.create_with_key("slow-1", &body).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let names = app.all_names().await;
    assert_eq!(names.iter().filter(|name| *name == "Slow").count(), 1);
}

#[tokio::test]
async fn a_body_slower_than_a_lease_keeps_its_key_while_it_comes() {
    let app = spawn_app().await;
    let upload = SlowUpload::keyed(&app.address, "Slower", "slower-1").await;
    // A claim lasts 10 s from its last renewal; the body still coming renews it every 5 s.
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    let body = language("Slower", 1990, "uploaded slowly");
    problem(
        app.create_with_key("slower-1", &body).await,
        StatusCode::CONFLICT,
        "/problems/idempotency-key-in-use",
        "/programming_languages",
    )
    .await;
    let first = upload.finish().await;
    assert!(first.starts_with("HTTP/1.1 201"), "{first}");
    let again = app.create_with_key("slower-1", &body).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
}

#[tokio::test]
async fn a_key_expires() {
    let app = spawn_app_with(with(|c| c.idempotency_ttl_secs = 1)).await;
    let first = app
        .create_with_key("short", &language("Short", 2001, "x"))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // Expired, the key is new: another request runs under it.
    let other = app
        .create_with_key("short", &language("Later", 2001, "x"))
        .await;
    assert_eq!(other.status(), StatusCode::CREATED);
    assert!(other.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn past_the_live_keys_bound_a_new_key_is_refused_and_nothing_changes() {
    let app = spawn_app_with(with(|c| c.idempotency_max_keys = 1)).await;
    let first = app
        .create_with_key("only", &language("Only", 2001, "x"))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let refused = app
        .create_with_key("second", &language("Second", 2001, "x"))
        .await;
    assert!(refused.headers().get("retry-after").is_some());
    problem(
        refused,
        StatusCode::SERVICE_UNAVAILABLE,
        "/problems/idempotency-keys-full",
        "/programming_languages",
    )
    .await;
    assert_eq!(
        app.get_language("Second").await.status(),
        StatusCode::NOT_FOUND
    );
    // The kept key still answers, and a write without a key still runs.
    let again = app
        .create_with_key("only", &language("Only", 2001, "x"))
        .await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        app.create(&language("Keyless", 2001, "x")).await.status(),
        201
    );
}

#[tokio::test]
async fn an_expired_key_used_again_counts_as_a_new_one_against_the_bound() {
    let app = spawn_app_with(with(|c| {
        c.idempotency_max_keys = 2;
        c.idempotency_ttl_secs = 1;
    }))
    .await;
    let old = language("Old", 2001, "x");
    assert_eq!(app.create_with_key("old", &old).await.status(), 201);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for (key, name) in [("b", "B"), ("c", "C")] {
        let created = app.create_with_key(key, &language(name, 2001, "x")).await;
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    // Two keys live, the bound: the expired one may not come back as a third.
    problem(
        app.create_with_key("old", &language("Again", 2001, "x"))
            .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "/problems/idempotency-keys-full",
        "/programming_languages",
    )
    .await;
    assert_eq!(
        app.get_language("Again").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_delete_and_an_update_retried_with_their_keys_get_their_first_answers() {
    let app = spawn_app().await;
    let delete = || {
        app.client
            .delete(app.url("/programming_languages/APL"))
            .header("Idempotency-Key", "delete-apl")
            .send()
    };
    let first = delete().await.expect("DELETE");
    assert_eq!(first.status(), StatusCode::OK);
    let first_body = first.text().await.expect("body");
    // Without its key, the retry would be a 404: the language is gone.
    let again = delete().await.expect("DELETE");
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().await.expect("body"), first_body);

    let update = |year: i64| {
        app.client
            .put(app.url("/programming_languages/CLU"))
            .header("Idempotency-Key", "update-clu")
            .json(&json!({"publication_year": year}))
            .send()
    };
    let first = update(1974).await.expect("PUT");
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].clone();
    // Changed meanwhile by another client: the retry still gets the first answer, and leaves
    // the change alone.
    assert_eq!(
        app.update("CLU", &json!({"publication_year": 1976}))
            .await
            .status(),
        StatusCode::OK
    );
    let again = update(1974).await.expect("PUT");
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["etag"], etag);
    let now = json_body(app.get_language("CLU").await, StatusCode::OK).await;
    assert_eq!(now["publication_year"], 1976);
}
