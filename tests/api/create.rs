//! create_language: 201 with Location, 409 for a taken name, 400 for a broken rule.

use reqwest::{Method, StatusCode, header::LOCATION};
use serde_json::json;

use crate::helpers::{json_body, language, pointers, problem, spawn_app};

#[tokio::test]
async fn create_returns_201_the_language_and_its_location() {
    let app = spawn_app().await;
    let rust = language("Rust", 2015, "ownership and borrowing");
    let response = app.create(&rust).await;
    assert_eq!(response.headers()[LOCATION], "/programming_languages/Rust");
    assert_eq!(json_body(response, StatusCode::CREATED).await, rust);
    let got = json_body(app.get_language("Rust").await, StatusCode::OK).await;
    assert_eq!(got, rust);
    assert_eq!(
        app.all_names().await.last().map(String::as_str),
        Some("Rust")
    );
}

#[tokio::test]
async fn create_returns_409_for_an_existing_name_and_keeps_the_old_one() {
    let app = spawn_app().await;
    let response = app.create(&language("COBOL", 1999, "overwritten?")).await;
    let body = problem(
        response,
        StatusCode::CONFLICT,
        "/problems/already-exists",
        "/programming_languages",
    )
    .await;
    assert!(body.get("errors").is_none());
    let cobol = json_body(app.get_language("COBOL").await, StatusCode::OK).await;
    assert_eq!(cobol["contribution"], "record data");
}

#[tokio::test]
async fn create_returns_400_naming_each_broken_rule() {
    let app = spawn_app().await;
    let cases = [
        (language("", 1990, "x"), vec!["/name"]),
        (language(" Lead", 1990, "x"), vec!["/name"]),
        (language("Trail\u{3000}", 1990, "x"), vec!["/name"]),
        (language("Ctrl\u{7}", 1990, "x"), vec!["/name"]),
        (language(&"n".repeat(65), 1990, "x"), vec!["/name"]),
        (language("Old", 1799, "x"), vec!["/publication_year"]),
        (language("New", 2101, "x"), vec!["/publication_year"]),
        (language("Empty", 1990, ""), vec!["/contribution"]),
        (
            language("Long", 1990, &"c".repeat(1001)),
            vec!["/contribution"],
        ),
        (
            language("", 3000, ""),
            vec!["/name", "/publication_year", "/contribution"],
        ),
    ];
    for (body, expected) in cases {
        let response = app.create(&body).await;
        let problem = problem(
            response,
            StatusCode::BAD_REQUEST,
            "/problems/validation",
            "/programming_languages",
        )
        .await;
        assert_eq!(pointers(&problem), expected, "{body}");
    }
    assert_eq!(app.all_names().await.len(), 8, "nothing was created");
}

#[tokio::test]
async fn create_accepts_the_longest_values() {
    let app = spawn_app().await;
    let name = "日".repeat(64);
    let body = language(&name, 2100, &"é".repeat(1000));
    let response = app.create(&body).await;
    assert_eq!(json_body(response, StatusCode::CREATED).await, body);
    let body = language("Oldest", 1800, "x");
    assert_eq!(app.create(&body).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn create_does_not_convert_types() {
    let app = spawn_app().await;
    for (body, pointer) in [
        (
            json!({"name": "Java", "publication_year": "1995", "contribution": "x"}),
            "/publication_year",
        ),
        (
            json!({"name": "Java", "publication_year": 1995.0, "contribution": "x"}),
            "/publication_year",
        ),
        (
            json!({"name": 7, "publication_year": 1995, "contribution": "x"}),
            "/name",
        ),
        (
            json!({"name": "Java", "publication_year": 1995, "contribution": true}),
            "/contribution",
        ),
        (
            json!({"name": "Java", "publication_year": 1995, "contribution": null}),
            "/contribution",
        ),
        (
            json!({"name": "Java", "publication_year": 1995}),
            "/contribution",
        ),
        (
            json!({"name": "Java", "publication_year": 1995, "contribution": "x", "extra": 1}),
            "/extra",
        ),
    ] {
        let response = app.create(&body).await;
        let problem = problem(
            response,
            StatusCode::BAD_REQUEST,
            "/problems/validation",
            "/programming_languages",
        )
        .await;
        assert_eq!(pointers(&problem), [pointer], "{body}");
    }
    assert_eq!(app.all_names().await.len(), 8, "nothing was created");
}

#[tokio::test]
async fn errors_speak_json_not_rust() {
    let app = spawn_app().await;
    for body in [
        json!({"name": "Java", "publication_year": "1995", "contribution": "x"}),
        json!({"name": "Java", "publication_year": 1995.5, "contribution": "x"}),
        json!({"name": "Java", "publication_year": 99_999_999_999_i64, "contribution": "x"}),
        json!({"name": ["Java"], "publication_year": 1995, "contribution": "x"}),
        json!(["Java"]),
        json!("Java"),
        json!(7),
    ] {
        let response = app.create(&body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let text = response.text().await.expect("body");
        for internal in [
            "i32", "i64", "u64", "struct", "Language", "String", "Vec", "Option",
        ] {
            assert!(!text.contains(internal), "{internal} in {text}");
        }
    }
}

#[tokio::test]
async fn a_contribution_holding_u0000_comes_back_byte_for_byte() {
    let app = spawn_app().await;
    let contribution = "nul \u{0} in the middle, and é";
    let created = app.create(&language("Nul", 2001, contribution)).await;
    assert_eq!(
        json_body(created, StatusCode::CREATED).await["contribution"],
        contribution
    );
    let read = json_body(app.get_language("Nul").await, StatusCode::OK).await;
    assert_eq!(read["contribution"], contribution);
}

#[tokio::test]
async fn a_name_holding_u0000_in_the_path_is_a_404() {
    let app = spawn_app().await;
    let instance = "/programming_languages/a%00b";
    problem(
        app.get_language("a%00b").await,
        StatusCode::NOT_FOUND,
        "/problems/not-found",
        instance,
    )
    .await;
    problem(
        app.delete("a%00b").await,
        StatusCode::NOT_FOUND,
        "/problems/not-found",
        instance,
    )
    .await;
    problem(
        app.update("a%00b", &json!({"publication_year": 2000}))
            .await,
        StatusCode::NOT_FOUND,
        "/problems/not-found",
        instance,
    )
    .await;
}

#[tokio::test]
async fn one_400_names_every_offending_field_each_with_its_detail() {
    let app = spawn_app().await;
    let body = json!({"name": 42, "publication_year": "x", "extra": 1});
    let first = problem(
        app.create(&body).await,
        StatusCode::BAD_REQUEST,
        "/problems/validation",
        "/programming_languages",
    )
    .await;
    assert_eq!(
        first["errors"],
        json!([
            {"pointer": "/name", "detail": "invalid type: integer `42`, expected a string"},
            {"pointer": "/publication_year",
             "detail": "invalid type: string \"x\", expected an integer from 1800 to 2100"},
            {"pointer": "/extra",
             "detail": "unknown field `extra`, expected one of `name`, `publication_year`, `contribution`"},
            {"pointer": "/contribution", "detail": "missing field `contribution`"},
        ]),
        "document order, missing fields last"
    );
    let detail = first["detail"].as_str().expect("a detail");
    for field in ["name", "publication_year", "extra", "contribution"] {
        assert!(detail.contains(&format!("{field}: ")), "{detail}");
    }

    // Broken rules and wrong types together, and a duplicated field.
    let body = r#"{"name": " X", "name": "Y", "publication_year": 1.5, "contribution": ""}"#;
    let second = problem(
        app.send_raw(
            Method::POST,
            "/programming_languages",
            "application/json",
            body,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "/problems/validation",
        "/programming_languages",
    )
    .await;
    assert_eq!(
        pointers(&second),
        ["/name", "/name", "/publication_year", "/contribution"]
    );
    assert_eq!(app.all_names().await.len(), 8, "nothing was created");
}
