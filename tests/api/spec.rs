//! The published contract: the live spec equals `openapi/` byte for byte, and says what it must.

use std::path::PathBuf;

use reqwest::{StatusCode, header::LOCATION};
use serde_json::Value;

use crate::helpers::{content_type, json_body, spawn_app};

const REWRITE: &str = "UPDATE_SPEC=1 cargo test --test api spec";

fn exported(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("openapi")
        .join(file)
}

#[tokio::test]
async fn the_exported_spec_is_the_live_spec() {
    let app = spawn_app().await;
    for (file, media_type) in [
        ("openapi.json", "application/json"),
        ("openapi.yaml", "application/yaml"),
    ] {
        let response = app.get(&format!("/{file}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(content_type(&response), media_type);
        let live = response.text().await.expect("spec text");
        let path = exported(file);
        if std::env::var_os("UPDATE_SPEC").is_some() {
            std::fs::write(&path, &live).expect("write the spec");
            continue;
        }
        let saved = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            saved == live,
            "openapi/{file} differs from the live spec; rewrite it with: {REWRITE}"
        );
    }
}

async fn live_spec() -> Value {
    let app = spawn_app().await;
    json_body(app.get("/openapi.json").await, StatusCode::OK).await
}

fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            found.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    found
}

#[tokio::test]
async fn the_spec_holds_the_operations_with_their_frozen_ids_and_nothing_else() {
    let spec = live_spec().await;
    let mut ids: Vec<String> = operations(&spec)
        .iter()
        .map(|(_, _, op)| op["operationId"].as_str().expect("operationId").to_owned())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "create_language",
            "delete_language",
            "get_language",
            "health",
            "list_languages",
            "patch_language",
            "update_language"
        ]
    );
    for (path, method, op) in operations(&spec) {
        assert_eq!(
            op["tags"].as_array().map(Vec::len),
            Some(1),
            "{method} {path}: one tag"
        );
        for field in ["summary", "description"] {
            assert!(
                op[field].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path}: {field}"
            );
        }
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.contains_key("default"),
            "{method} {path}: default"
        );
        for (status, response) in responses {
            let is_error = status == "default" || !status.starts_with('2');
            for (media_type, media) in response["content"].as_object().into_iter().flatten() {
                let expected = if is_error {
                    "application/problem+json"
                } else {
                    "application/json"
                };
                assert_eq!(media_type, expected, "{method} {path} {status}");
                if is_error {
                    assert_eq!(media["schema"]["$ref"], "#/components/schemas/Problem");
                }
            }
            for header in response["headers"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(h, _)| h)
            {
                assert_ne!(
                    header,
                    &header.to_uppercase(),
                    "{method} {path}: header {header} as sent"
                );
                // As sent: `Location`, `ETag`, `WWW-Authenticate`, not `location`.
                assert!(
                    header
                        .split('-')
                        .all(|word| word.starts_with(|c: char| c.is_ascii_uppercase())),
                    "{method} {path}: header {header} as sent"
                );
            }
        }
    }
    assert!(!spec["servers"].as_array().expect("servers").is_empty());
    for hidden in ["/", "/docs", "/openapi.json", "/openapi.yaml"] {
        assert!(spec["paths"].get(hidden).is_none(), "{hidden}");
    }
}

#[tokio::test]
async fn request_schemas_refuse_unknown_fields_and_have_examples() {
    let spec = live_spec().await;
    for schema in ["Language", "LanguageChanges"] {
        let schema = &spec["components"]["schemas"][schema];
        assert_eq!(schema["additionalProperties"], false);
    }
    // Examples stand where they are used, at each request and response: the bundled Swagger UI
    // shows a schema's own example as `OrderedMap { ... }`.
    for (name, schema) in spec["components"]["schemas"].as_object().expect("schemas") {
        assert!(
            schema.get("example").is_none(),
            "{name} has a schema-level example"
        );
    }
    let language = &spec["paths"]["/programming_languages/{name}"];
    assert_eq!(
        language["get"]["responses"]["200"]["content"]["application/json"]["example"],
        serde_json::json!({"name": "COBOL", "publication_year": 1960, "contribution": "record data"})
    );
    assert!(language["put"]["requestBody"]["content"]["application/json"]["example"].is_object());
    assert!(
        spec["paths"]["/programming_languages"]["get"]["responses"]["200"]["content"]
            ["application/json"]["example"]["programming_languages"]
            .is_array()
    );
    // Every request body and every response with a body has one; a problem's is a real one, of
    // the status it documents.
    for (path, operations) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            for (media_type, media) in operation["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                assert!(media["example"].is_object(), "{method} {path} {media_type}");
            }
            for (status, response) in operation["responses"].as_object().expect("responses") {
                for (media_type, media) in response["content"].as_object().into_iter().flatten() {
                    let example = &media["example"];
                    assert!(example.is_object(), "{method} {path} {status} {media_type}");
                    if media_type == "application/problem+json" && status != "default" {
                        assert_eq!(example["status"].to_string(), *status, "{method} {path}");
                        assert!(
                            example["type"]
                                .as_str()
                                .is_some_and(|t| t.starts_with("/problems/"))
                        );
                    }
                }
            }
        }
    }
    let created = &spec["paths"]["/programming_languages"]["post"]["responses"]["201"];
    assert!(created["headers"]["Location"].is_object(), "{created}");
    assert!(created["headers"]["ETag"].is_object(), "{created}");
    let language = &spec["paths"]["/programming_languages/{name}"];
    for method in ["get", "put", "patch", "delete"] {
        assert!(
            language[method]["responses"]["200"]["headers"]["ETag"].is_object(),
            "{method}"
        );
    }
    assert!(language["get"]["responses"]["304"]["headers"]["ETag"].is_object());
    for method in ["put", "patch", "delete"] {
        assert!(language[method]["responses"]["412"].is_object(), "{method}");
        let header = language[method]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == "If-Match" && p["in"] == "header");
        assert!(header.is_some(), "{method} declares If-Match");
    }
    // The description is the one field whose wording is free: it must be there and say
    // something; the rest is compared whole.
    let write_token = &spec["components"]["securitySchemes"]["writeToken"];
    assert!(
        write_token["description"]
            .as_str()
            .is_some_and(|description| !description.trim().is_empty()),
        "{write_token}"
    );
    let mut scheme = write_token.clone();
    scheme
        .as_object_mut()
        .expect("a security scheme")
        .remove("description");
    assert_eq!(
        scheme,
        serde_json::json!({"type": "http", "scheme": "bearer"})
    );
    for (path, method) in [
        ("/programming_languages", "post"),
        ("/programming_languages/{name}", "put"),
        ("/programming_languages/{name}", "patch"),
        ("/programming_languages/{name}", "delete"),
    ] {
        let operation = &spec["paths"][path][method];
        assert_eq!(
            operation["security"],
            serde_json::json!([{"writeToken": []}]),
            "{method}"
        );
        assert!(
            operation["responses"]["401"]["headers"]["WWW-Authenticate"].is_object(),
            "{method}"
        );
    }
    for (path, method) in [
        ("/programming_languages", "get"),
        ("/programming_languages/{name}", "get"),
        ("/healthz", "get"),
    ] {
        assert_eq!(
            spec["paths"][path][method]["security"],
            serde_json::json!([]),
            "reads stay open"
        );
    }
    let patch_media: Vec<&String> = language["patch"]["requestBody"]["content"]
        .as_object()
        .expect("content")
        .keys()
        .collect();
    assert_eq!(
        patch_media,
        ["application/merge-patch+json", "application/json"]
    );
}

#[tokio::test]
async fn swagger_ui_is_served_by_the_binary_and_the_root_redirects_to_it() {
    let app = spawn_app().await;
    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(content_type(&docs).starts_with("text/html"));
    let html = docs.text().await.expect("HTML");
    assert!(html.contains("SwaggerUIBundle"), "the bundle is inline");
    assert!(!html.contains("<script src=\"http"), "no CDN");
    assert!(
        !html.contains("<link rel=\"stylesheet\" href=\"http"),
        "no CDN"
    );
    let spec = app.get("/openapi.json").await.text().await.expect("spec");
    assert!(html.contains(&spec), "Swagger UI shows the published spec");

    let root = app.get("/").await;
    assert_eq!(root.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(root.headers()[LOCATION], "/docs");
}

#[tokio::test]
async fn health_answers_ok() {
    let app = spawn_app().await;
    let body = json_body(app.get("/healthz").await, StatusCode::OK).await;
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn the_documentation_speaks_of_the_api_in_its_own_terms_and_reads_in_a_narrow_window() {
    let app = spawn_app().await;
    let spec = json_body(app.get("/openapi.json").await, StatusCode::OK).await;
    // The reader has never seen the tutorial this API began as.
    let text = spec.to_string().to_lowercase();
    assert!(
        !text.contains("tutorial"),
        "a description speaks of a tutorial"
    );
    // Swagger UI sets a tag's description beside its name: a long one is squeezed to a letter a
    // line in a narrow window.
    for tag in spec["tags"].as_array().expect("tags") {
        let description = tag["description"].as_str().unwrap_or_default();
        assert!(description.len() <= 30, "tag description {description:?}");
    }
    // What a user of the page types is the name as it is; percent-encoding is for clients that
    // build URLs themselves.
    let name = &spec["paths"]["/programming_languages/{name}"]["get"]["parameters"][0];
    assert_eq!(name["name"], "name");
    let advice = name["description"].as_str().expect("a description");
    assert!(
        advice.contains("as it is") && advice.contains("PL%2FI"),
        "{advice}"
    );
}

#[tokio::test]
async fn the_create_example_posted_as_it_is_to_a_fresh_server_is_created() {
    let app = spawn_app().await;
    let spec = json_body(app.get("/openapi.json").await, StatusCode::OK).await;
    let example = &spec["paths"]["/programming_languages"]["post"]["requestBody"]["content"]["application/json"]
        ["example"];
    assert!(example.is_object(), "{spec}");
    let response = app.create(example).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created = json_body(response, StatusCode::CREATED).await;
    assert_eq!(&created, example);
    // Responses still show a seed language, one a reader finds in the list.
    assert_eq!(
        spec["paths"]["/programming_languages"]["post"]["responses"]["201"]["content"]["application/json"]
            ["example"]["name"],
        "COBOL"
    );
}

#[tokio::test]
async fn the_icon_a_browser_asks_for_is_served_so_no_visit_logs_a_404() {
    let app = spawn_app().await;
    let response = app.get("/favicon.ico").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), "image/png");
    let bytes = response.bytes().await.expect("the icon");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    let refused = app
        .client
        .post(app.url("/favicon.ico"))
        .send()
        .await
        .expect("a POST");
    assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(refused.headers()["allow"], "GET, HEAD");
}

/// What the published spec says is served, is: every operation it declares is routed (neither a
/// 404 for its path nor a 405), and every other method on its paths is a 405 whose `Allow` lists
/// the declared methods, HEAD beside GET. (The route table is derived from the same declarations
/// as the spec; this asks the server itself.)
#[tokio::test]
async fn every_declared_operation_is_served_and_no_other_method() {
    let app = spawn_app().await;
    let spec = json_body(app.get("/openapi.json").await, StatusCode::OK).await;
    let methods = ["GET", "PUT", "PATCH", "POST", "DELETE"]; // DELETE last: COBOL stays till then
    let paths = spec["paths"].as_object().expect("paths");
    let mut served = 0;
    for method in methods {
        for (template, item) in paths {
            let path = template.replace("{name}", "COBOL");
            let declared: Vec<String> = item
                .as_object()
                .expect("a path item")
                .keys()
                .map(|method| method.to_ascii_uppercase())
                .collect();
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
            let response = app
                .client
                .request(method.clone(), app.url(&path))
                .send()
                .await
                .expect("request");
            let status = response.status();
            if declared.iter().any(|known| *known == method.as_str()) {
                assert!(
                    status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}: {status}"
                );
                served += 1;
            } else {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                let mut allow: Vec<String> = response.headers()["allow"]
                    .to_str()
                    .expect("ASCII")
                    .split(", ")
                    .map(str::to_owned)
                    .collect();
                let mut expected = declared.clone();
                if expected.iter().any(|known| known == "GET") {
                    expected.push("HEAD".to_owned());
                }
                allow.sort();
                expected.sort();
                assert_eq!(allow, expected, "{method} {path}");
            }
        }
    }
    assert_eq!(served, 7, "the seven operations");
}
