//! delete_language: the deleted language back, once.

use reqwest::StatusCode;

use crate::helpers::{SEED_NAMES, json_body, language, problem, spawn_app};

#[tokio::test]
async fn delete_returns_the_deleted_language_and_removes_it() {
    let app = spawn_app().await;
    let body = json_body(app.delete("ALGOL").await, StatusCode::OK).await;
    assert_eq!(
        body,
        language("ALGOL", 1958, "scoping and nested functions")
    );
    assert_eq!(
        app.get_language("ALGOL").await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(!app.all_names().await.contains(&"ALGOL".to_owned()));
}

#[tokio::test]
async fn delete_returns_404_for_an_unknown_name() {
    let app = spawn_app().await;
    problem(
        app.delete("Nope").await,
        StatusCode::NOT_FOUND,
        "/problems/not-found",
        "/programming_languages/Nope",
    )
    .await;
    assert_eq!(app.all_names().await, SEED_NAMES);
}

#[tokio::test]
async fn a_recreated_language_goes_last() {
    let app = spawn_app().await;
    app.delete("COBOL").await;
    let cobol = language("COBOL", 1960, "record data");
    assert_eq!(app.create(&cobol).await.status(), StatusCode::CREATED);
    let mut expected: Vec<&str> = SEED_NAMES[1..].to_vec();
    expected.push("COBOL");
    assert_eq!(app.all_names().await, expected);
}

#[tokio::test]
async fn of_concurrent_deletes_of_one_name_exactly_one_succeeds() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let client = app.client.clone();
        let url = app.url("/programming_languages/BASIC");
        tasks.push(tokio::spawn(async move {
            client.delete(url).send().await.expect("DELETE").status()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1);
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::NOT_FOUND)
            .count(),
        15
    );
}

#[tokio::test]
async fn of_concurrent_creates_of_one_name_exactly_one_succeeds() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let client = app.client.clone();
        let url = app.url("/programming_languages");
        tasks.push(tokio::spawn(async move {
            let body = language("Zig", 2000 + i, "comptime");
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("POST")
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        15
    );
}
