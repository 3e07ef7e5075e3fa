//! Compressed responses: br and gzip as `Accept-Encoding` allows, `Vary`, HEAD, ETags per coding
//! with conditional requests across codings, and coded request bodies refused.

use std::io::Read;

use reqwest::{
    Method, Response, StatusCode,
    header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, ETAG, VARY},
};
use serde_json::{Value, json};

use crate::helpers::*;

/// `body` decoded from `coding`.
fn decode(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::new();
    match coding {
        "gzip" => flate2::read::GzDecoder::new(body)
            .read_to_end(&mut decoded)
            .expect("gzip"),
        "br" => brotli::Decompressor::new(body, 4096)
            .read_to_end(&mut decoded)
            .expect("br"),
        other => panic!("unexpected coding {other}"),
    };
    decoded
}

fn header(response: &Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().expect("ASCII").to_owned())
}

async fn get_with(app: &TestApp, path: &str, accept_encoding: &str) -> Response {
    app.client
        .get(app.url(path))
        .header(ACCEPT_ENCODING, accept_encoding)
        .send()
        .await
        .expect("request")
}

/// A server holding enough languages for a page well over 1 KiB.
async fn app_with_a_long_page() -> TestApp {
    let app = spawn_app().await;
    for i in 0..40 {
        let created = app
            .create(&language(
                &format!("Language {i}"),
                1950 + i,
                &format!("contribution number {i} to the art of programming"),
            ))
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    app
}

/// A language whose representation is over 1 KiB: 1,000 three-byte characters.
fn long_language(name: &str) -> Value {
    language(name, 1990, &"語".repeat(1000))
}

#[tokio::test]
async fn each_coding_is_negotiated_and_decodes_to_the_identity_body() {
    let app = app_with_a_long_page().await;
    let path = "/programming_languages?limit=1000";
    let identity = get_with(&app, path, "identity").await;
    assert_eq!(header(&identity, CONTENT_ENCODING), None);
    assert_eq!(header(&identity, VARY).as_deref(), Some("Accept-Encoding"));
    let identity = identity.bytes().await.expect("body");
    assert!(identity.len() > 2048, "{}", identity.len());

    for (accept, coding) in [
        ("gzip", "gzip"),
        ("br", "br"),
        // Alike, gzip: several times cheaper to make on each request.
        ("gzip, deflate, br", "gzip"),
        ("*", "gzip"),
        ("br, gzip;q=0.9", "br"),
        ("br;q=0.5, gzip;q=0.8", "gzip"),
        ("br;q=0, *", "gzip"),
    ] {
        let response = get_with(&app, path, accept).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, CONTENT_ENCODING).as_deref(),
            Some(coding),
            "{accept}"
        );
        assert_eq!(header(&response, VARY).as_deref(), Some("Accept-Encoding"));
        let body = response.bytes().await.expect("body");
        assert!(body.len() < identity.len() / 2, "{accept}: {}", body.len());
        assert_eq!(decode(coding, &body), identity, "{accept}");
    }

    for refused in ["br;q=0, gzip;q=0", "*;q=0", "zstd", ""] {
        let response = get_with(&app, path, refused).await;
        assert_eq!(header(&response, CONTENT_ENCODING), None, "{refused:?}");
        assert_eq!(response.bytes().await.expect("body"), identity);
    }
    let plain = app.get(path).await;
    assert_eq!(header(&plain, CONTENT_ENCODING), None, "no Accept-Encoding");
}

#[tokio::test]
async fn short_responses_stay_identity_but_still_vary() {
    let app = spawn_app().await;
    for path in [
        "/programming_languages/COBOL",
        "/programming_languages/Nope",
    ] {
        let response = get_with(&app, path, "br, gzip").await;
        assert_eq!(header(&response, CONTENT_ENCODING), None, "{path}");
        assert_eq!(header(&response, VARY).as_deref(), Some("Accept-Encoding"));
    }
}

#[tokio::test]
async fn head_answers_the_headers_get_would() {
    let app = app_with_a_long_page().await;
    for path in [
        "/programming_languages?limit=1000",
        "/openapi.json",
        "/docs",
    ] {
        let get = get_with(&app, path, "br").await;
        let head = app
            .client
            .head(app.url(path))
            .header(ACCEPT_ENCODING, "br")
            .send()
            .await
            .expect("HEAD");
        assert_eq!(head.status(), StatusCode::OK);
        for name in [CONTENT_ENCODING, CONTENT_LENGTH, VARY, ETAG] {
            assert_eq!(
                header(&head, name.clone()),
                header(&get, name.clone()),
                "{path} {name}"
            );
        }
        assert_eq!(
            header(&head, CONTENT_ENCODING).as_deref(),
            Some("br"),
            "{path}"
        );
        assert!(head.bytes().await.expect("body").is_empty());
    }
}

#[tokio::test]
async fn the_spec_and_swagger_ui_are_compressed() {
    let app = spawn_app().await;
    for path in ["/openapi.json", "/openapi.yaml", "/docs"] {
        let identity = get_with(&app, path, "identity")
            .await
            .bytes()
            .await
            .expect("body");
        for coding in ["br", "gzip"] {
            let response = get_with(&app, path, coding).await;
            assert_eq!(
                header(&response, CONTENT_ENCODING).as_deref(),
                Some(coding),
                "{path}"
            );
            assert_eq!(header(&response, VARY).as_deref(), Some("Accept-Encoding"));
            let body = response.bytes().await.expect("body");
            assert!(body.len() < identity.len() / 3, "{path} {coding}");
            assert_eq!(decode(coding, &body), identity, "{path} {coding}");
        }
        // Made once and kept: brotli when the client weighs them alike.
        let alike = get_with(&app, path, "gzip, deflate, br").await;
        assert_eq!(
            header(&alike, CONTENT_ENCODING).as_deref(),
            Some("br"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_compressed_representation_has_its_own_etag_and_conditions_accept_any_coding() {
    let app = spawn_app().await;
    let created = app.create(&long_language("Long")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let identity = app.get_language("Long").await;
    let identity_tag = header(&identity, ETAG).expect("ETag");
    let br = get_with(&app, "/programming_languages/Long", "br").await;
    assert_eq!(header(&br, CONTENT_ENCODING).as_deref(), Some("br"));
    let br_tag = header(&br, ETAG).expect("ETag");
    let gzip = get_with(&app, "/programming_languages/Long", "gzip").await;
    let gzip_tag = header(&gzip, ETAG).expect("ETag");
    assert_ne!(br_tag, identity_tag, "other bytes, another strong ETag");
    assert_ne!(gzip_tag, identity_tag);
    assert_ne!(gzip_tag, br_tag);
    assert!(!br_tag.starts_with("W/"), "strong: {br_tag}");

    // Any coding's ETag of the current state gives a 304, with the ETag of the coding the 200
    // would have had.
    for (tag, accept, expected) in [
        (&br_tag, "br", &br_tag),
        (&identity_tag, "br", &br_tag),
        (&gzip_tag, "br", &br_tag),
        (&br_tag, "identity", &identity_tag),
        (&br_tag, "gzip", &gzip_tag),
    ] {
        let response = app
            .client
            .get(app.url("/programming_languages/Long"))
            .header(ACCEPT_ENCODING, accept)
            .header("If-None-Match", tag)
            .send()
            .await
            .expect("GET");
        assert_eq!(
            response.status(),
            StatusCode::NOT_MODIFIED,
            "{tag} {accept}"
        );
        assert_eq!(
            header(&response, ETAG).as_ref(),
            Some(expected),
            "{tag} {accept}"
        );
        assert_eq!(header(&response, VARY).as_deref(), Some("Accept-Encoding"));
    }

    // A client that read compressed can write conditionally with what it read.
    let put = |tag: String| {
        let request = app
            .client
            .put(app.url("/programming_languages/Long"))
            .header("If-Match", tag)
            .json(&json!({"publication_year": 1991}));
        async move { request.send().await.expect("PUT") }
    };
    let updated = put(br_tag.clone()).await;
    assert_eq!(updated.status(), StatusCode::OK);
    // The old state's ETag, in any coding, no longer matches.
    for stale in [br_tag, gzip_tag, identity_tag] {
        let refused = put(stale.clone()).await;
        assert_eq!(refused.status(), StatusCode::PRECONDITION_FAILED, "{stale}");
    }
    let current = get_with(&app, "/programming_languages/Long", "gzip").await;
    let current_tag = header(&current, ETAG).expect("ETag");
    let deleted = app
        .client
        .delete(app.url("/programming_languages/Long"))
        .header("If-Match", &current_tag)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), StatusCode::OK, "{current_tag}");
}

#[tokio::test]
async fn a_coded_request_body_is_415_and_changes_nothing() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&language("Zipped", 2000, "compressed")).expect("JSON");
    let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzipped, &body).expect("gzip");
    let gzipped = gzipped.finish().expect("gzip");
    for (coding, body) in [
        ("gzip", gzipped),
        ("br", body.clone()),
        ("identity, gzip", body),
    ] {
        let response = app
            .client
            .request(Method::POST, app.url("/programming_languages"))
            .header("Content-Type", "application/json")
            .header(CONTENT_ENCODING, coding)
            .body(body)
            .send()
            .await
            .expect("POST");
        assert_eq!(
            header(&response, ACCEPT_ENCODING).as_deref(),
            Some("identity")
        );
        let problem = problem(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "/problems/unsupported-media-type",
            "/programming_languages",
        )
        .await;
        assert!(
            problem["detail"]
                .as_str()
                .expect("detail")
                .contains("Content-Encoding")
        );
    }
    let missing = app.get_language("Zipped").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let identity = app
        .client
        .post(app.url("/programming_languages"))
        .header("Content-Type", "application/json")
        .header(CONTENT_ENCODING, "identity")
        .body(serde_json::to_vec(&language("Plain", 2000, "as it is")).expect("JSON"))
        .send()
        .await
        .expect("POST");
    assert_eq!(identity.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn with_compression_off_nothing_is_compressed() {
    let app = spawn_app_with(with(|c| c.compression = false)).await;
    for path in ["/openapi.json", "/docs", "/programming_languages"] {
        let response = get_with(&app, path, "br, gzip").await;
        assert_eq!(header(&response, CONTENT_ENCODING), None, "{path}");
        assert_eq!(header(&response, VARY), None, "{path}");
    }
}
