//! update_language: the tutorial's partial merge, without its rename.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{SEED_NAMES, json_body, parameters, pointers, problem, spawn_app};

#[tokio::test]
async fn update_changes_only_the_given_fields_and_keeps_the_place() {
    let app = spawn_app().await;
    let body = json_body(
        app.update("APL", &json!({"publication_year": 1966})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        body,
        json!({"name": "APL", "publication_year": 1966, "contribution": "array processing"})
    );
    assert_eq!(
        json_body(app.get_language("APL").await, StatusCode::OK).await,
        body
    );
    assert_eq!(app.all_names().await, SEED_NAMES);
}

#[tokio::test]
async fn an_empty_update_changes_nothing() {
    let app = spawn_app().await;
    let before = json_body(app.get_language("CLU").await, StatusCode::OK).await;
    let after = json_body(app.update("CLU", &json!({})).await, StatusCode::OK).await;
    assert_eq!(after, before);
    let stored = json_body(app.get_language("CLU").await, StatusCode::OK).await;
    assert_eq!(stored, before, "the stored language too");
}

#[tokio::test]
async fn update_accepts_the_languages_own_name() {
    let app = spawn_app().await;
    let body = json!({"name": "CLU", "contribution": "iterators"});
    let after = json_body(app.update("CLU", &body).await, StatusCode::OK).await;
    assert_eq!(after["contribution"], "iterators");
}

#[tokio::test]
async fn update_returns_400_for_a_rename_and_changes_nothing() {
    let app = spawn_app().await;
    let response = app
        .update("CLU", &json!({"name": "CLU2", "contribution": "renamed"}))
        .await;
    let body = problem(
        response,
        StatusCode::BAD_REQUEST,
        "/problems/validation",
        "/programming_languages/CLU",
    )
    .await;
    assert_eq!(pointers(&body), ["/name"]);
    let clu = json_body(app.get_language("CLU").await, StatusCode::OK).await;
    assert_eq!(clu["name"], "CLU");
    assert_ne!(clu["contribution"], "renamed");
    assert_eq!(
        app.get_language("CLU2").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_rename_and_an_unknown_parameter_are_named_in_one_400() {
    let app = spawn_app().await;
    let response = app
        .client
        .put(format!(
            "{}/programming_languages/CLU?sort=name",
            app.address
        ))
        .json(&json!({"name": "CLU2"}))
        .send()
        .await
        .expect("PUT");
    let body = problem(
        response,
        StatusCode::BAD_REQUEST,
        "/problems/validation",
        "/programming_languages/CLU",
    )
    .await;
    assert_eq!(parameters(&body), ["sort"]);
    assert_eq!(pointers(&body), ["/name"]);
    let clu = json_body(app.get_language("CLU").await, StatusCode::OK).await;
    assert_eq!(clu["name"], "CLU");
}

#[tokio::test]
async fn update_returns_400_for_null_or_broken_rules_and_changes_nothing() {
    let app = spawn_app().await;
    for (body, pointer) in [
        (json!({"contribution": null}), "/contribution"),
        (json!({"publication_year": 1700}), "/publication_year"),
        (json!({"publication_year": "1970"}), "/publication_year"),
        (json!({"contribution": ""}), "/contribution"),
        (json!({"colour": "blue"}), "/colour"),
    ] {
        let response = app.update("Pascal", &body).await;
        let problem = problem(
            response,
            StatusCode::BAD_REQUEST,
            "/problems/validation",
            "/programming_languages/Pascal",
        )
        .await;
        assert_eq!(pointers(&problem), [pointer], "{body}");
    }
    let pascal = json_body(app.get_language("Pascal").await, StatusCode::OK).await;
    assert_eq!(pascal["publication_year"], 1970);
}

#[tokio::test]
async fn update_returns_404_for_an_unknown_name_whatever_the_body() {
    let app = spawn_app().await;
    for body in [
        json!({"contribution": "x"}),
        json!({"name": "Other"}),
        json!({"publication_year": 1}),
        json!({"contribution": null}),
    ] {
        problem(
            app.update("Nope", &body).await,
            StatusCode::NOT_FOUND,
            "/problems/not-found",
            "/programming_languages/Nope",
        )
        .await;
    }
    assert_eq!(
        app.get_language("Nope").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn concurrent_updates_never_mix_two_requests_fields() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for i in 0..16_i64 {
        let client = app.client.clone();
        let url = app.url("/programming_languages/CLU");
        tasks.push(tokio::spawn(async move {
            let body = json!({"publication_year": 1900 + i, "contribution": format!("writer {i}")});
            client
                .put(url)
                .json(&body)
                .send()
                .await
                .expect("PUT")
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task"), StatusCode::OK);
    }
    let clu = json_body(app.get_language("CLU").await, StatusCode::OK).await;
    let year = clu["publication_year"].as_i64().expect("year");
    assert_eq!(clu["contribution"], format!("writer {}", year - 1900));
}

#[tokio::test]
async fn one_400_names_every_offending_field_of_a_change() {
    let app = spawn_app().await;
    let body = json!({"publication_year": "1970", "contribution": "", "colour": "blue"});
    let problem = problem(
        app.update("Pascal", &body).await,
        StatusCode::BAD_REQUEST,
        "/problems/validation",
        "/programming_languages/Pascal",
    )
    .await;
    assert_eq!(
        pointers(&problem),
        ["/publication_year", "/contribution", "/colour"],
        "{problem}"
    );
    let pascal = json_body(app.get_language("Pascal").await, StatusCode::OK).await;
    assert_eq!(
        pascal["contribution"], SEED_PASCAL_CONTRIBUTION,
        "nothing changed"
    );
}

const SEED_PASCAL_CONTRIBUTION: &str =
    "modern unary, binary, and assignment operator syntax expectations";
