//! The tutorial's requests, in its order, each checked against what it must answer.

use reqwest::{StatusCode, header::LOCATION};
use serde_json::json;

use crate::helpers::{SEED_NAMES, json_body, names, spawn_app};

#[tokio::test]
async fn the_tutorials_requests_get_the_tutorials_answers() {
    let app = spawn_app().await;

    // 1. The list: all eight, in the tutorial's order.
    let all = json_body(app.list("").await, StatusCode::OK).await;
    assert_eq!(names(&all), SEED_NAMES);
    assert_eq!(
        all["programming_languages"][0],
        json!({"name": "COBOL", "publication_year": 1960, "contribution": "record data"})
    );
    assert!(all.get("next_page_token").is_none(), "one page: no token");

    // 2. One language by name.
    let cobol = json_body(app.get_language("COBOL").await, StatusCode::OK).await;
    assert_eq!(
        cobol,
        json!({"contribution": "record data", "name": "COBOL", "publication_year": 1960})
    );

    // 3. The year filter, both bounds exclusive.
    let filtered = json_body(
        app.list("?before_year=1965&after_year=1960").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        filtered,
        json!({"programming_languages": [
            {"name": "APL", "publication_year": 1962, "contribution": "array processing"},
            {"name": "BASIC", "publication_year": 1964, "contribution": "runtime interpretation, office tooling"},
        ]})
    );

    // 4. Create Java: the new object (with 201 and its Location, where Flask said 200).
    let java = json!({"name": "Java", "publication_year": 1995, "contribution": "Object-oriented programming language."});
    let created = app.create(&java).await;
    assert_eq!(created.headers()[LOCATION], "/programming_languages/Java");
    assert_eq!(json_body(created, StatusCode::CREATED).await, java);

    // 5. The list, now with Java last.
    let with_java = json_body(app.list("").await, StatusCode::OK).await;
    assert_eq!(names(&with_java).last().map(String::as_str), Some("Java"));
    assert_eq!(with_java["programming_languages"][8], java);

    // 6. Update only Java's contribution.
    let updated = json_body(
        app.update("Java", &json!({"contribution": "The JVM"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        updated,
        json!({"name": "Java", "publication_year": 1995, "contribution": "The JVM"})
    );

    // 7. The list shows the new contribution, in Java's old place.
    let after_update = json_body(app.list("").await, StatusCode::OK).await;
    assert_eq!(after_update["programming_languages"][8], updated);

    // 8. Delete COBOL: the deleted object, and COBOL is gone.
    let deleted = json_body(app.delete("COBOL").await, StatusCode::OK).await;
    assert_eq!(deleted, cobol);
    let after_delete = json_body(app.list("").await, StatusCode::OK).await;
    let mut expected: Vec<&str> = SEED_NAMES[1..].to_vec();
    expected.push("Java");
    assert_eq!(names(&after_delete), expected);
}
