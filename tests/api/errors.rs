//! Errors the framework raises, as problems: unknown paths, wrong methods, bodies refused.

use reqwest::{Method, StatusCode, header::ALLOW};

use crate::helpers::{language, problem, spawn_app};

#[tokio::test]
async fn an_unknown_path_is_a_404_problem() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/programming_languages/a/b",
        "/programming_language",
    ] {
        problem(
            app.get(path).await,
            StatusCode::NOT_FOUND,
            "/problems/not-found",
            path,
        )
        .await;
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem_with_allow() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        (Method::DELETE, "/programming_languages", "GET, HEAD, POST"),
        (
            Method::POST,
            "/programming_languages/COBOL",
            "GET, HEAD, PUT, DELETE",
        ),
        (Method::POST, "/healthz", "GET, HEAD"),
        (Method::PUT, "/openapi.json", "GET, HEAD"),
        (Method::DELETE, "/openapi.yaml", "GET, HEAD"),
        (Method::POST, "/docs", "GET, HEAD"),
        (Method::POST, "/", "GET, HEAD"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(
            response
                .headers()
                .get(ALLOW)
                .map(|v| v.to_str().expect("ASCII")),
            Some(allow),
            "{method} {path}"
        );
        problem(
            response,
            StatusCode::METHOD_NOT_ALLOWED,
            "/problems/method-not-allowed",
            path,
        )
        .await;
    }
}

#[tokio::test]
async fn head_is_answered_wherever_get_is() {
    let app = spawn_app().await;
    for path in [
        "/programming_languages",
        "/programming_languages/COBOL",
        "/healthz",
        "/openapi.json",
    ] {
        let response = app.client.head(app.url(path)).send().await.expect("HEAD");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.bytes().await.expect("body").is_empty());
    }
}

#[tokio::test]
async fn malformed_json_is_a_400_problem_and_creates_nothing() {
    let app = spawn_app().await;
    for body in [
        "{",
        "",
        "[]",
        "\"Java\"",
        "{\"name\": \"Java\"} trailing",
        "nul",
    ] {
        let response = app
            .send_raw(
                Method::POST,
                "/programming_languages",
                "application/json",
                body,
            )
            .await;
        problem(
            response,
            StatusCode::BAD_REQUEST,
            "/problems/validation",
            "/programming_languages",
        )
        .await;
    }
    assert_eq!(app.all_names().await.len(), 8);
}

#[tokio::test]
async fn a_body_not_declared_as_json_is_a_415_problem() {
    let app = spawn_app().await;
    let java = language("Java", 1995, "x").to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        let response = app
            .send_raw(
                Method::POST,
                "/programming_languages",
                content_type,
                java.clone(),
            )
            .await;
        problem(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "/problems/unsupported-media-type",
            "/programming_languages",
        )
        .await;
    }
    let no_type = app
        .client
        .post(app.url("/programming_languages"))
        .body(java.clone())
        .send()
        .await
        .expect("POST");
    problem(
        no_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "/problems/unsupported-media-type",
        "/programming_languages",
    )
    .await;
    for content_type in [
        "application/json; charset=utf-8",
        "application/vnd.api+json",
    ] {
        let response = app
            .send_raw(
                Method::POST,
                "/programming_languages",
                content_type,
                java.clone(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{content_type}");
        app.delete("Java").await;
    }
}

#[tokio::test]
async fn a_body_over_16_kib_is_a_413_problem() {
    let app = spawn_app().await;
    let big = language("Big", 1990, &"x".repeat(17 * 1024)).to_string();
    let response = app
        .send_raw(
            Method::POST,
            "/programming_languages",
            "application/json",
            big,
        )
        .await;
    problem(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "/problems/payload-too-large",
        "/programming_languages",
    )
    .await;
    assert_eq!(
        app.get_language("Big").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_path_that_is_not_utf8_is_a_400_problem() {
    let app = spawn_app().await;
    let response = app.get_language("%FF").await;
    problem(
        response,
        StatusCode::BAD_REQUEST,
        "/problems/validation",
        "/programming_languages/%FF",
    )
    .await;
}

#[tokio::test]
async fn errors_are_problems_whatever_accept_says() {
    let app = spawn_app().await;
    for accept in ["text/html", "application/xml", "*/*"] {
        let response = app
            .client
            .get(app.url("/programming_languages/Nope"))
            .header("accept", accept)
            .send()
            .await
            .expect("GET");
        problem(
            response,
            StatusCode::NOT_FOUND,
            "/problems/not-found",
            "/programming_languages/Nope",
        )
        .await;
    }
}
