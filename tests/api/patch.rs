//! patch_language: a JSON merge patch, with PUT's meaning and code path.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{SEED_NAMES, json_body, pointers, problem, spawn_app};

#[tokio::test]
async fn patch_accepts_merge_patch_and_plain_json_and_changes_only_given_fields() {
    let app = spawn_app().await;
    for (content_type, year) in [
        ("application/merge-patch+json", 1971),
        ("application/json", 1972),
    ] {
        let response = app
            .send_raw(
                Method::PATCH,
                "/programming_languages/Pascal",
                content_type,
                json!({"publication_year": year}).to_string(),
            )
            .await;
        let body = json_body(response, StatusCode::OK).await;
        assert_eq!(
            body,
            json!({"name": "Pascal", "publication_year": year, "contribution": "modern unary, binary, and assignment operator syntax expectations"})
        );
    }
    assert_eq!(app.all_names().await, SEED_NAMES, "it keeps its place");
}

#[tokio::test]
async fn patch_refuses_null_a_rename_and_other_media_types() {
    let app = spawn_app().await;
    for (body, pointer) in [
        (json!({"contribution": null}), "/contribution"),
        (json!({"publication_year": null}), "/publication_year"),
        (json!({"name": "Other"}), "/name"),
    ] {
        let response = app
            .send_raw(
                Method::PATCH,
                "/programming_languages/CLU",
                "application/merge-patch+json",
                body.to_string(),
            )
            .await;
        let problem = problem(
            response,
            StatusCode::BAD_REQUEST,
            "/problems/validation",
            "/programming_languages/CLU",
        )
        .await;
        assert_eq!(pointers(&problem), [pointer], "{body}");
    }
    let response = app
        .send_raw(
            Method::PATCH,
            "/programming_languages/CLU",
            "text/plain",
            "{}",
        )
        .await;
    problem(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "/problems/unsupported-media-type",
        "/programming_languages/CLU",
    )
    .await;
    let clu = json_body(app.get_language("CLU").await, StatusCode::OK).await;
    assert_eq!(clu["publication_year"], 1975);
}

#[tokio::test]
async fn an_empty_patch_changes_nothing() {
    let app = spawn_app().await;
    let before = json_body(app.get_language("CLU").await, StatusCode::OK).await;
    let response = app
        .send_raw(
            Method::PATCH,
            "/programming_languages/CLU",
            "application/merge-patch+json",
            "{}",
        )
        .await;
    assert_eq!(json_body(response, StatusCode::OK).await, before);
    let after = json_body(app.get_language("CLU").await, StatusCode::OK).await;
    assert_eq!(after, before, "the stored language too");
}
