//! get_language: one language by its exact, percent-encoded name.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{json_body, language, problem, spawn_app};

#[tokio::test]
async fn get_returns_the_whole_language() {
    let app = spawn_app().await;
    let body = json_body(app.get_language("APL").await, StatusCode::OK).await;
    assert_eq!(
        body,
        json!({"name": "APL", "publication_year": 1962, "contribution": "array processing"})
    );
}

#[tokio::test]
async fn get_returns_404_for_an_unknown_name() {
    let app = spawn_app().await;
    problem(
        app.get_language("Nope").await,
        StatusCode::NOT_FOUND,
        "/problems/not-found",
        "/programming_languages/Nope",
    )
    .await;
}

#[tokio::test]
async fn names_are_compared_exactly() {
    let app = spawn_app().await;
    for other in ["cobol", "COBOL%20", "C%C3%93BOL"] {
        let response = app.get_language(other).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{other}");
    }
}

#[tokio::test]
async fn every_name_that_can_be_created_round_trips_through_its_path() {
    let app = spawn_app().await;
    for (name, encoded) in [
        ("C++", "C%2B%2B"),
        ("C#", "C%23"),
        ("F#", "F%23"),
        ("PL/I", "PL%2FI"),
        ("Objective-C", "Objective-C"),
        ("Café", "Caf%C3%A9"),
        ("日本語", "%E6%97%A5%E6%9C%AC%E8%AA%9E"),
        ("100%", "100%25"),
        ("a b?", "a%20b%3F"),
    ] {
        let created = app.create(&language(name, 1990, "x")).await;
        assert_eq!(created.status(), StatusCode::CREATED, "{name}");
        let location = created.headers()["location"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        assert_eq!(location, format!("/programming_languages/{encoded}"));
        let got = json_body(app.get(&location).await, StatusCode::OK).await;
        assert_eq!(got["name"], name);
        let updated = app
            .update(encoded, &json!({"contribution": "changed"}))
            .await;
        assert_eq!(
            json_body(updated, StatusCode::OK).await["contribution"],
            "changed"
        );
        let deleted = json_body(app.delete(encoded).await, StatusCode::OK).await;
        assert_eq!(deleted["name"], name);
    }
}

#[tokio::test]
async fn a_raw_plus_in_a_path_is_a_plus() {
    let app = spawn_app().await;
    app.create(&language("C++", 1985, "classes for C")).await;
    let body = json_body(app.get_language("C++").await, StatusCode::OK).await;
    assert_eq!(body["name"], "C++");
    let space = app.get_language("C%20%20").await;
    assert_eq!(space.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn dot_names_live_at_encoded_dots() {
    // A client that parses URLs as WHATWG says (browsers, reqwest) resolves `%2E` segments as dot
    // segments, so this speaks raw HTTP, as curl does.
    let app = spawn_app().await;
    for (name, encoded) in [(".", "%2E"), ("..", "%2E%2E")] {
        let created = app.create(&language(name, 1990, "dots")).await;
        assert_eq!(created.status(), StatusCode::CREATED);
        assert_eq!(
            created.headers()["location"],
            format!("/programming_languages/{encoded}")
        );
        let request = format!(
            "GET /programming_languages/{encoded} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        );
        let response = app.raw(request.as_bytes()).await;
        assert_eq!(response.status, 200, "{name}");
        assert_eq!(response.json()["name"], name);
    }
}
