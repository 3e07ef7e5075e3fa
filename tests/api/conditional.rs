//! ETags and conditional requests (RFC 9110 §13): cheap re-reads and no lost updates.

use reqwest::{Method, StatusCode, header::ETAG};
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_body, problem, spawn_app};

fn etag_of(response: &reqwest::Response) -> String {
    response.headers()[ETAG].to_str().expect("ASCII").to_owned()
}

async fn current_etag(app: &TestApp, name: &str) -> String {
    let response = app.get_language(name).await;
    assert_eq!(response.status(), StatusCode::OK);
    etag_of(&response)
}

async fn send(
    app: &TestApp,
    method: Method,
    name: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.url(&format!("/programming_languages/{name}")));
    for (header, value) in headers {
        request = request.header(*header, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn every_response_with_a_language_carries_a_strong_etag_that_the_next_get_repeats() {
    let app = spawn_app().await;
    let created = app
        .create(&json!({"name": "Rust", "publication_year": 2015, "contribution": "ownership"}))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let tag = etag_of(&created);
    assert!(
        tag.starts_with('"') && tag.ends_with('"') && tag.len() > 2,
        "{tag}"
    );
    assert_eq!(current_etag(&app, "Rust").await, tag);

    let put = app
        .update("Rust", &json!({"contribution": "borrowing"}))
        .await;
    let after_put = etag_of(&put);
    assert_ne!(after_put, tag, "a change changes the ETag");
    assert_eq!(current_etag(&app, "Rust").await, after_put);

    let patch = send(
        &app,
        Method::PATCH,
        "Rust",
        &[],
        Some(json!({"publication_year": 2010})),
    )
    .await;
    let after_patch = etag_of(&patch);
    assert_ne!(after_patch, after_put);
    assert_eq!(current_etag(&app, "Rust").await, after_patch);

    let unchanged = app.update("Rust", &json!({})).await;
    assert_eq!(etag_of(&unchanged), after_patch, "no change, no new ETag");

    let deleted = app.delete("Rust").await;
    assert_eq!(etag_of(&deleted), after_patch, "the deleted state");
}

#[tokio::test]
async fn if_none_match_answers_304_without_a_body_when_a_tag_matches_weakly() {
    let app = spawn_app().await;
    let tag = current_etag(&app, "COBOL").await;
    let weak = format!("W/{tag}");
    let list = format!("\"other\", {tag}");
    for value in [tag.as_str(), weak.as_str(), list.as_str(), "*"] {
        let response = send(
            &app,
            Method::GET,
            "COBOL",
            &[("If-None-Match", value)],
            None,
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{value}");
        assert_eq!(etag_of(&response), tag);
        assert!(response.bytes().await.expect("body").is_empty(), "no body");
    }
    let other = send(
        &app,
        Method::GET,
        "COBOL",
        &[("If-None-Match", "\"other\"")],
        None,
    )
    .await;
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(json_body(other, StatusCode::OK).await["name"], "COBOL");
    app.update("COBOL", &json!({"contribution": "changed"}))
        .await;
    let stale = send(&app, Method::GET, "COBOL", &[("If-None-Match", &tag)], None).await;
    assert_eq!(stale.status(), StatusCode::OK, "the language changed");
}

#[tokio::test]
async fn if_match_lets_a_write_through_only_when_a_tag_matches_strongly() {
    let app = spawn_app().await;
    for method in [Method::PUT, Method::PATCH] {
        let tag = current_etag(&app, "APL").await;
        let weak = format!("W/{tag}");
        for refused in ["\"stale\"", weak.as_str()] {
            let response = send(
                &app,
                method.clone(),
                "APL",
                &[("If-Match", refused)],
                Some(json!({"contribution": "lost"})),
            )
            .await;
            problem(
                response,
                StatusCode::PRECONDITION_FAILED,
                "/problems/precondition-failed",
                "/programming_languages/APL",
            )
            .await;
        }
        assert_ne!(
            json_body(app.get_language("APL").await, StatusCode::OK).await["contribution"],
            "lost",
            "nothing changed"
        );
        let list = format!("\"stale\", {tag}");
        for accepted in [list.as_str(), "*"] {
            let body = json!({"contribution": format!("{method} with {accepted}")});
            let response = send(
                &app,
                method.clone(),
                "APL",
                &[("If-Match", accepted)],
                Some(body),
            )
            .await;
            assert_eq!(response.status(), StatusCode::OK, "{method} {accepted}");
        }
    }
    let tag = current_etag(&app, "APL").await;
    let stale = send(
        &app,
        Method::DELETE,
        "APL",
        &[("If-Match", "\"stale\"")],
        None,
    )
    .await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        app.get_language("APL").await.status(),
        StatusCode::OK,
        "not deleted"
    );
    let fresh = send(&app, Method::DELETE, "APL", &[("If-Match", &tag)], None).await;
    assert_eq!(fresh.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_missing_language_is_a_404_whatever_the_precondition() {
    let app = spawn_app().await;
    for (method, header) in [
        (Method::PUT, "If-Match"),
        (Method::PATCH, "If-Match"),
        (Method::DELETE, "If-Match"),
        (Method::GET, "If-None-Match"),
    ] {
        for value in ["\"x\"", "*", "garbage"] {
            let body = (method != Method::GET && method != Method::DELETE)
                .then(|| json!({"contribution": "x"}));
            let response = send(&app, method.clone(), "Nope", &[(header, value)], body).await;
            problem(
                response,
                StatusCode::NOT_FOUND,
                "/problems/not-found",
                "/programming_languages/Nope",
            )
            .await;
        }
    }
}

#[tokio::test]
async fn a_malformed_conditional_header_matches_nothing() {
    let app = spawn_app().await;
    for method in [Method::PUT, Method::DELETE] {
        let body = (method == Method::PUT).then(|| json!({"contribution": "x"}));
        let response = send(
            &app,
            method.clone(),
            "CLU",
            &[("If-Match", "no-quotes")],
            body,
        )
        .await;
        problem(
            response,
            StatusCode::PRECONDITION_FAILED,
            "/problems/precondition-failed",
            "/programming_languages/CLU",
        )
        .await;
    }
    let response = send(
        &app,
        Method::GET,
        "CLU",
        &[("If-None-Match", "no-quotes")],
        None,
    )
    .await;
    assert_eq!(
        json_body(response, StatusCode::OK).await["contribution"],
        "iterators, abstract data types, generics, checked exceptions"
    );
}

#[tokio::test]
async fn of_two_writers_with_the_same_etag_exactly_one_wins() {
    let app = spawn_app().await;
    for round in 0..40 {
        let tag = current_etag(&app, "Pascal").await;
        let writers: Vec<_> = (0..2)
            .map(|writer| {
                let request = app
                    .client
                    .request(
                        if writer == 0 {
                            Method::PUT
                        } else {
                            Method::PATCH
                        },
                        app.url("/programming_languages/Pascal"),
                    )
                    .header("If-Match", tag.clone())
                    .json(&json!({"contribution": format!("round {round} writer {writer}")}));
                tokio::spawn(async move { request.send().await.expect("write").status() })
            })
            .collect();
        let mut statuses = Vec::new();
        for writer in writers {
            statuses.push(writer.await.expect("task"));
        }
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::PRECONDITION_FAILED],
            "round {round}"
        );
    }
}
