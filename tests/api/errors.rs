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
            "GET, HEAD, PUT, PATCH, DELETE",
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

#[tokio::test]
async fn a_chunked_body_over_16_kib_is_a_413_problem() {
    let app = spawn_app().await;
    let chunk = "x".repeat(4096);
    let mut request = b"POST /programming_languages HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..5 {
        request.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let response = app.raw(&request).await;
    assert_eq!(response.status, 413, "{}", response.head);
    assert!(
        response
            .head
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json")
    );
    assert_eq!(response.json()["type"], "/problems/payload-too-large");
}

#[tokio::test]
async fn an_announced_oversized_body_is_refused_before_it_is_sent() {
    let app = spawn_app().await;
    // 50 MB announced, none of it sent: the answer cannot depend on reading it.
    let request = b"PUT /programming_languages/COBOL HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 52428800\r\nConnection: close\r\n\r\n{";
    let response = app.raw(request).await;
    assert_eq!(response.status, 413, "{}", response.head);
    assert_eq!(response.json()["instance"], "/programming_languages/COBOL");
    let cobol = crate::helpers::json_body(app.get_language("COBOL").await, StatusCode::OK).await;
    assert_eq!(cobol["contribution"], "record data");
}

#[tokio::test]
async fn a_body_of_exactly_16_kib_is_read() {
    let app = spawn_app().await;
    let mut body = language("Edge", 1990, "").to_string();
    let padding = 16 * 1024 - body.len();
    body = body.replacen(
        "\"contribution\":\"\"",
        &format!("{}\"contribution\":\"\"", " ".repeat(padding)),
        1,
    );
    assert_eq!(body.len(), 16 * 1024);
    let response = app
        .send_raw(
            Method::POST,
            "/programming_languages",
            "application/json",
            body.clone(),
        )
        .await;
    // Read whole and parsed: the empty contribution is what is refused.
    let problem = problem(
        response,
        StatusCode::BAD_REQUEST,
        "/problems/validation",
        "/programming_languages",
    )
    .await;
    assert_eq!(crate::helpers::pointers(&problem), ["/contribution"]);
    // The length check above only guards the test's own body; one byte more shows that the
    // limit is exactly there.
    let over = format!(" {body}");
    let response = app
        .send_raw(
            Method::POST,
            "/programming_languages",
            "application/json",
            over,
        )
        .await;
    crate::helpers::problem(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "/problems/payload-too-large",
        "/programming_languages",
    )
    .await;
}

#[tokio::test]
async fn a_raw_percent_ff_path_is_a_400_naming_the_name() {
    let app = spawn_app().await;
    for method in ["GET", "PUT", "DELETE"] {
        let request = format!(
            "{method} /programming_languages/%FF%FE HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        );
        let response = app.raw(request.as_bytes()).await;
        assert_eq!(response.status, 400, "{method}: {}", response.head);
        let body = response.json();
        assert_eq!(body["instance"], "/programming_languages/%FF%FE");
        assert_eq!(crate::helpers::parameters(&body), ["name"]);
    }
}

#[tokio::test]
async fn unknown_or_repeated_query_parameters_are_400s_naming_them() {
    let app = spawn_app().await;
    for (path, named) in [
        ("/programming_languages?befor_year=1965", vec!["befor_year"]),
        ("/programming_languages?limit=1&limit=2", vec!["limit"]),
        (
            "/programming_languages?after_year=1&after_year=1&x=1",
            vec!["after_year", "x"],
        ),
        ("/programming_languages/COBOL?verbose=1", vec!["verbose"]),
        ("/healthz?probe=1", vec!["probe"]),
    ] {
        let body = problem(
            app.get(path).await,
            StatusCode::BAD_REQUEST,
            "/problems/validation",
            path.split('?').next().unwrap_or(path),
        )
        .await;
        let mut parameters = crate::helpers::parameters(&body);
        parameters.sort();
        assert_eq!(parameters, named, "{path}");
    }
    let response = app
        .send_raw(
            Method::POST,
            "/programming_languages?dry_run=1",
            "application/json",
            language("Dry", 1990, "x").to_string(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get_language("Dry").await.status(),
        StatusCode::NOT_FOUND,
        "nothing created"
    );
}

#[tokio::test]
async fn empty_query_values_are_400s_naming_the_parameter() {
    let app = spawn_app().await;
    for (query, name) in [
        ("?before_year=", "before_year"),
        ("?after_year", "after_year"),
        ("?limit=", "limit"),
        ("?page_token=", "page_token"),
    ] {
        let body = problem(
            app.list(query).await,
            StatusCode::BAD_REQUEST,
            "/problems/validation",
            "/programming_languages",
        )
        .await;
        assert_eq!(crate::helpers::parameters(&body), [name], "{query}");
    }
}

#[tokio::test]
async fn invalid_utf8_and_odd_json_never_get_a_5xx() {
    let app = spawn_app().await;
    let bodies: Vec<Vec<u8>> = vec![
        b"\xff\xfe".to_vec(),
        b"{\"name\": \"\xc3\x28\", \"publication_year\": 1990, \"contribution\": \"x\"}".to_vec(),
        b"{\"name\": \"\\ud800\", \"publication_year\": 1990, \"contribution\": \"x\"}".to_vec(),
        "[".repeat(10_000).into_bytes(),
        b"{\"name\": \"A\", \"publication_year\": 1e400, \"contribution\": \"x\"}".to_vec(),
        b"{\"name\": \"A\", \"publication_year\": -0, \"contribution\": \"x\"}".to_vec(),
        b"\x00".to_vec(),
    ];
    for body in bodies {
        for (method, path) in [
            (Method::POST, "/programming_languages"),
            (Method::PUT, "/programming_languages/COBOL"),
        ] {
            let response = app
                .send_raw(method.clone(), path, "application/json", body.clone())
                .await;
            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{method} {:?}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    assert_eq!(app.all_names().await.len(), 8);
}

#[tokio::test]
async fn a_json_array_is_not_a_body() {
    let app = spawn_app().await;
    let created = app
        .send_raw(
            Method::POST,
            "/programming_languages",
            "application/json",
            r#"["Arr", 1990, "c"]"#,
        )
        .await;
    problem(
        created,
        StatusCode::BAD_REQUEST,
        "/problems/validation",
        "/programming_languages",
    )
    .await;
    assert_eq!(
        app.get_language("Arr").await.status(),
        StatusCode::NOT_FOUND
    );
    for body in [r#"["CLU", 1999]"#, "[]"] {
        let updated = app
            .send_raw(
                Method::PUT,
                "/programming_languages/CLU",
                "application/json",
                body,
            )
            .await;
        problem(
            updated,
            StatusCode::BAD_REQUEST,
            "/problems/validation",
            "/programming_languages/CLU",
        )
        .await;
    }
    let clu = crate::helpers::json_body(app.get_language("CLU").await, StatusCode::OK).await;
    assert_eq!(clu["publication_year"], 1975);
}

#[tokio::test]
async fn a_query_on_a_missing_language_is_a_404() {
    let app = spawn_app().await;
    for method in [Method::GET, Method::DELETE] {
        let response = app
            .client
            .request(method, app.url("/programming_languages/Nope?x=1"))
            .send()
            .await
            .expect("request");
        problem(
            response,
            StatusCode::NOT_FOUND,
            "/problems/not-found",
            "/programming_languages/Nope",
        )
        .await;
    }
}

#[tokio::test]
async fn a_path_that_is_not_valid_percent_encoding_is_a_400() {
    let app = spawn_app().await;
    app.create(&language("x%y", 1990, "a percent sign")).await;
    for path in [
        "/programming_languages/x%y",
        "/programming_languages/%",
        "/programming_languages/%4",
    ] {
        let body = problem(
            app.get(path).await,
            StatusCode::BAD_REQUEST,
            "/problems/validation",
            path,
        )
        .await;
        assert_eq!(crate::helpers::parameters(&body), ["name"]);
    }
    assert_eq!(app.get_language("x%25y").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn one_400_names_every_offending_query_parameter_once() {
    let app = spawn_app().await;
    let body = problem(
        app.list("?before_year=abc&limit=0&foo=1&limit=5&page_token=nope")
            .await,
        StatusCode::BAD_REQUEST,
        "/problems/validation",
        "/programming_languages",
    )
    .await;
    assert_eq!(
        body["errors"],
        serde_json::json!([
            {"parameter": "before_year", "detail": "must be a 32-bit integer"},
            {"parameter": "limit", "detail": "given more than once"},
            {"parameter": "foo", "detail": "unknown parameter"},
            {"parameter": "page_token",
             "detail": "not a token this API issued for these year filters"},
        ])
    );
    let detail = body["detail"].as_str().expect("a detail");
    assert!(
        detail.starts_with("before_year: must be a 32-bit integer; "),
        "{detail}"
    );

    let body = problem(
        app.list("?limit=0&after_year=99999999999").await,
        StatusCode::BAD_REQUEST,
        "/problems/validation",
        "/programming_languages",
    )
    .await;
    assert_eq!(
        crate::helpers::parameters(&body),
        ["limit", "after_year"],
        "{body}"
    );
}

#[tokio::test]
async fn a_query_of_thousands_of_names_is_one_400_naming_the_first_100_and_counting_the_rest() {
    // 10,000 unknown names (59 KB: a URI is at most 64 KiB) between a known one given twice.
    // Each name compared with every other, the check took seconds of a core in a debug build; the
    // client's deadline is many times what the linear check takes.
    let app = spawn_app().await;
    let unknown: Vec<String> = (0..10_000).map(|i| format!("x{i}")).collect();
    let path = format!(
        "/programming_languages?limit=1&{}&limit=2",
        unknown.join("&")
    );
    let response = app
        .client
        .get(app.url(&path))
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .expect("an answer within 30 s");
    let body = problem(
        response,
        StatusCode::BAD_REQUEST,
        "/problems/validation",
        "/programming_languages",
    )
    .await;
    // The first 100, in order, each once; the detail counts them all, and the answer stays far
    // smaller than the 59 KB query (it was 902 KB, every name listed twice).
    let named = crate::helpers::parameters(&body);
    assert_eq!(named.len(), 100);
    assert_eq!(named[0], "limit");
    assert_eq!(named[1..], unknown[..99]);
    let detail = body["detail"].as_str().expect("a detail");
    assert!(
        detail.contains("10001") && detail.contains("9901 more"),
        "{detail}"
    );
    assert!(
        body.to_string().len() < 8 * 1024,
        "{} bytes",
        body.to_string().len()
    );
}

#[tokio::test]
async fn a_bad_query_and_a_bad_body_are_named_in_one_400() {
    let app = spawn_app().await;
    let body = problem(
        app.send_raw(
            reqwest::Method::POST,
            "/programming_languages?dry_run=1",
            "application/json",
            r#"{"name": "", "publication_year": 1990, "contribution": "x"}"#,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "/problems/validation",
        "/programming_languages",
    )
    .await;
    assert_eq!(crate::helpers::parameters(&body), ["dry_run"], "{body}");
    assert_eq!(crate::helpers::pointers(&body), ["/name"], "{body}");
    assert_eq!(app.all_names().await.len(), 8, "nothing was created");
}
