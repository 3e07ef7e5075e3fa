//! list_languages: insertion order, exclusive year bounds, keyset pages.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{SEED_NAMES, json_body, language, names, parameters, problem, spawn_app};

#[tokio::test]
async fn either_year_bound_works_alone() {
    let app = spawn_app().await;
    let after = json_body(app.list("?after_year=1966").await, StatusCode::OK).await;
    assert_eq!(names(&after), ["SIMULA67", "Pascal", "CLU"]);
    let before = json_body(app.list("?before_year=1962").await, StatusCode::OK).await;
    assert_eq!(names(&before), ["COBOL", "ALGOL"]);
}

#[tokio::test]
async fn the_tutorials_default_bounds_are_valid_and_select_everything() {
    let app = spawn_app().await;
    let body = json_body(
        app.list("?after_year=0&before_year=30000").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(names(&body), SEED_NAMES);
    let extreme = json_body(
        app.list("?after_year=-2147483648&before_year=2147483647")
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(names(&extreme), SEED_NAMES);
}

#[tokio::test]
async fn crossed_bounds_give_an_empty_page() {
    let app = spawn_app().await;
    for query in [
        "?after_year=1970&before_year=1960",
        "?after_year=1964&before_year=1965",
    ] {
        let body = json_body(app.list(query).await, StatusCode::OK).await;
        assert_eq!(
            body,
            serde_json::json!({"programming_languages": []}),
            "{query}"
        );
    }
}

#[tokio::test]
async fn non_integer_bounds_are_400s_naming_the_parameter() {
    let app = spawn_app().await;
    for (query, parameter) in [
        ("?before_year=abc", "before_year"),
        ("?after_year=19.5", "after_year"),
        ("?after_year=2147483648", "after_year"),
        ("?limit=ten", "limit"),
    ] {
        let body = problem(
            app.list(query).await,
            StatusCode::BAD_REQUEST,
            "/problems/validation",
            "/programming_languages",
        )
        .await;
        assert_eq!(parameters(&body), [parameter], "{query}");
    }
}

#[tokio::test]
async fn a_limit_of_zero_or_less_is_a_400() {
    let app = spawn_app().await;
    for query in ["?limit=0", "?limit=-5"] {
        let body = problem(
            app.list(query).await,
            StatusCode::BAD_REQUEST,
            "/problems/validation",
            "/programming_languages",
        )
        .await;
        assert_eq!(parameters(&body), ["limit"], "{query}");
    }
}

async fn create_many(app: &crate::helpers::TestApp, count: usize) {
    for i in 0..count {
        let year = 1900 + i64::try_from(i % 100).expect("small");
        let response = app.create(&language(&format!("L{i:04}"), year, "x")).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
}

#[tokio::test]
async fn pages_default_to_100_and_a_large_limit_means_1000() {
    let app = spawn_app().await;
    create_many(&app, 1_100).await;
    let first = json_body(app.list("").await, StatusCode::OK).await;
    assert_eq!(names(&first).len(), 100);
    assert!(first["next_page_token"].is_string());
    let big = json_body(app.list("?limit=5000").await, StatusCode::OK).await;
    assert_eq!(names(&big).len(), 1000);
    let exact = json_body(app.list("?limit=1000").await, StatusCode::OK).await;
    assert_eq!(names(&exact), names(&big));
    // More than one page of the largest size: the walk must go on past the first.
    let expected: Vec<String> = SEED_NAMES
        .iter()
        .map(|name| (*name).to_owned())
        .chain((0..1_100).map(|i| format!("L{i:04}")))
        .collect();
    assert_eq!(app.all_names().await, expected);
}

#[tokio::test]
async fn a_page_walk_returns_everything_once_and_the_last_page_has_no_token() {
    let app = spawn_app().await;
    create_many(&app, 12).await;
    // 8 seeds + 12 = 20 languages; pages of 3, 5, 7 and then the rest.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let limits = [3, 5, 7, 7];
    for (page, limit) in limits.iter().enumerate() {
        let query = match &token {
            Some(token) => format!("?limit={limit}&page_token={token}"),
            None => format!("?limit={limit}"),
        };
        let body = json_body(app.list(&query).await, StatusCode::OK).await;
        let page_names = names(&body);
        seen.extend(page_names.clone());
        if page + 1 < limits.len() {
            assert_eq!(page_names.len(), *limit, "every page but the last is full");
            token = Some(
                body["next_page_token"]
                    .as_str()
                    .expect("a token")
                    .to_owned(),
            );
        } else {
            assert_eq!(page_names.len(), 5);
            assert!(body.get("next_page_token").is_none(), "{body}");
        }
    }
    assert_eq!(seen, app.all_names().await);
    let expected: Vec<String> = SEED_NAMES
        .iter()
        .map(|name| (*name).to_owned())
        .chain((0..12).map(|i| format!("L{i:04}")))
        .collect();
    assert_eq!(seen, expected, "the seeds, then the creates, in order");
}

#[tokio::test]
async fn a_page_that_ends_exactly_at_the_last_language_has_no_token() {
    let app = spawn_app().await;
    let body = json_body(app.list("?limit=8").await, StatusCode::OK).await;
    assert_eq!(names(&body).len(), 8);
    assert!(body.get("next_page_token").is_none());
}

#[tokio::test]
async fn filtered_pages_keep_insertion_order() {
    let app = spawn_app().await;
    create_many(&app, 300).await;
    let query = "?after_year=1950&before_year=1955";
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page_query = match &token {
            Some(token) => format!("{query}&limit=4&page_token={token}"),
            None => format!("{query}&limit=4"),
        };
        let body = json_body(app.list(&page_query).await, StatusCode::OK).await;
        seen.extend(names(&body));
        match body["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..300)
        .filter(|i| (51..=54).contains(&(i % 100)))
        .map(|i| format!("L{i:04}"))
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_page_walk_is_stable_while_others_create_and_delete() {
    let app = spawn_app().await;
    create_many(&app, 200).await;
    // Between every two pages, writes on all sides of the cursor: a create (it lands after the
    // cursor), deletes of languages the walk has already seen (the one the cursor stands on, and
    // one before it: a cursor that counts positions would then skip languages), of a language it
    // has not reached yet, and of an earlier create.
    let mut seen: Vec<String> = Vec::new();
    let mut deleted_seen: Vec<String> = Vec::new();
    let mut deleted_unseen: Vec<String> = Vec::new();
    let mut created: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    for page in 0.. {
        assert!(page < 100, "the walk ends: about 240 languages, 7 a page");
        let query = match &token {
            Some(token) => format!("?limit=7&page_token={token}"),
            None => "?limit=7".to_owned(),
        };
        let body: Value = json_body(app.list(&query).await, StatusCode::OK).await;
        let page_names = names(&body);
        seen.extend(page_names.iter().cloned());
        match body["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
        let churn = format!("churn{page}");
        let response = app.create(&language(&churn, 1950, "x")).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{churn}");
        created.push(churn);
        let mut doomed = vec![page_names.last().expect("a full page").clone()];
        if page % 2 == 1 {
            doomed.push(page_names[0].clone());
            doomed.push(created[created.len() - 2].clone());
        }
        let ahead = format!("L{:04}", 199 - page);
        if page < 10 && !seen.contains(&ahead) {
            doomed.push(ahead);
        }
        for name in doomed {
            if deleted_seen.contains(&name) || deleted_unseen.contains(&name) {
                continue;
            }
            assert_eq!(app.delete(&name).await.status(), StatusCode::OK, "{name}");
            if seen.contains(&name) {
                deleted_seen.push(name);
            } else {
                deleted_unseen.push(name);
            }
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no language twice");
    let deleted: Vec<&String> = deleted_seen.iter().chain(&deleted_unseen).collect();
    for name in SEED_NAMES
        .iter()
        .map(|s| (*s).to_owned())
        .chain((0..200).map(|i| format!("L{i:04}")))
        .filter(|name| !deleted.contains(&name))
    {
        assert!(seen.contains(&name), "{name} lived throughout the walk");
    }
    for name in &deleted_unseen {
        assert!(!seen.contains(name), "{name} was deleted before its page");
    }
    for name in created.iter().filter(|name| !deleted.contains(name)) {
        assert!(
            seen.contains(name),
            "{name}, created after the cursor, is reached"
        );
    }
    let stable: Vec<&String> = seen
        .iter()
        .filter(|name| !name.starts_with("churn") && !deleted.contains(name))
        .collect();
    let mut in_order = stable.clone();
    in_order.sort_by_key(|name| app_order(name));
    assert_eq!(stable, in_order, "insertion order");
    let mut all_in_order = seen.clone();
    all_in_order.sort_by_key(|name| app_order(name));
    assert_eq!(seen, all_in_order, "insertion order, churn included");
}

/// The insertion order of the languages of the walk above: the seeds, L0000 onwards, then
/// churn0 onwards.
fn app_order(name: &str) -> usize {
    if let Some(number) = name.strip_prefix("churn") {
        return 8 + 200 + number.parse::<usize>().expect("churn number");
    }
    SEED_NAMES
        .iter()
        .position(|seed| *seed == name)
        .unwrap_or_else(|| 8 + name[1..].parse::<usize>().expect("L number"))
}

#[tokio::test]
async fn a_token_is_refused_with_other_filters_or_when_not_issued() {
    let app = spawn_app().await;
    let first = json_body(app.list("?after_year=1900&limit=2").await, StatusCode::OK).await;
    let token = first["next_page_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let accepted = app
        .list(&format!("?after_year=1900&limit=2&page_token={token}"))
        .await;
    assert_eq!(
        names(&json_body(accepted, StatusCode::OK).await),
        ["APL", "BASIC"]
    );
    for query in [
        format!("?limit=2&page_token={token}"),
        format!("?after_year=1901&limit=2&page_token={token}"),
        format!("?after_year=1900&before_year=3000&page_token={token}"),
        "?page_token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        "?page_token=not-a-token".to_owned(),
        "?page_token=".to_owned(),
    ] {
        let body = problem(
            app.list(&query).await,
            StatusCode::BAD_REQUEST,
            "/problems/validation",
            "/programming_languages",
        )
        .await;
        assert_eq!(parameters(&body), ["page_token"], "{query}");
    }
}
