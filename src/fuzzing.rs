//! Entry points for the fuzz targets in `fuzz/` and for the test that replays their corpora: one
//! per parser of network input, and one that drives whole requests through the application. Each
//! takes arbitrary bytes, and panics when an invariant breaks: a panic is what the fuzzer reports.
//! Not part of the API of this crate.

use std::sync::OnceLock;

use poem::{
    Endpoint, Request,
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
};
use serde_json::Value;

use crate::{
    api::Stopping,
    app,
    compression::Accepted,
    conditional::EntityTags,
    config::Config,
    json::{self, BodyError},
    language::{Language, LanguageChanges, Name},
    middleware::{WriteTokens, checks},
    page_token,
    problem::PROBLEM_JSON,
    routes::RouteTable,
    store::{Cursor, Store, YearFilter},
};

/// A request body for create, PUT and PATCH: either a valid body, or errors that each name a
/// field by JSON Pointer (or none, for malformed JSON).
pub fn json_body(data: &[u8]) {
    match json::parse::<Language>(data) {
        Ok(language) => assert!(
            Name::try_from(language.name.as_str()).is_ok()
                && (1800..=2100).contains(&language.publication_year)
                && (1..=1000).contains(&language.contribution.chars().count()),
            "an accepted language breaks a rule: {language:?}"
        ),
        Err(error) => assert_names_fields(&error),
    }
    match json::parse::<LanguageChanges>(data) {
        Ok(changes) => assert!(changes.validate().is_empty(), "{changes:?}"),
        Err(error) => assert_names_fields(&error),
    }
}

fn assert_names_fields(error: &BodyError) {
    if let BodyError::Fields(errors) = error {
        assert!(!errors.is_empty(), "a refusal names no field");
        for error in errors {
            assert!(error.pointer.starts_with('/'), "{error:?}");
        }
    }
}

fn routes() -> &'static RouteTable {
    static ROUTES: OnceLock<RouteTable> = OnceLock::new();
    ROUTES.get_or_init(app::route_table)
}

/// A query string, checked as each operation's: what the check keeps passes it again.
pub fn query(data: &[u8]) {
    let query = String::from_utf8_lossy(data);
    for (path, method) in [
        ("/programming_languages", Method::GET),
        ("/programming_languages", Method::POST),
        ("/programming_languages/COBOL", Method::PUT),
    ] {
        let route = routes().find(path).expect("a route of the API");
        if let Some((problem, kept)) = checks::check_query(route, &method, path, Some(&query)) {
            let errors = problem.errors.unwrap_or_default();
            assert!(!errors.is_empty(), "a refusal names no parameter");
            assert!(
                errors.iter().all(|error| error.parameter.is_some()),
                "{errors:?}"
            );
            assert!(
                checks::check_query(route, &method, path, Some(&kept)).is_none(),
                "what was kept of {query:?} is refused again: {kept:?}"
            );
        }
    }
}

/// A path: found or not in the route table, and its parameter decoded or refused.
pub fn path(data: &[u8]) {
    let segment = String::from_utf8_lossy(data);
    for path in [
        format!("/programming_languages/{segment}"),
        segment.clone().into_owned(),
    ] {
        if let Some(route) = routes().find(&path) {
            let _ = checks::check_path(route, &path);
        }
    }
    if let Some(decoded) = checks::decode_segment(&segment) {
        let encoded =
            percent_encoding::utf8_percent_encode(&decoded, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert_eq!(
            checks::decode_segment(&encoded).as_deref(),
            Some(&*decoded),
            "a decoded name, encoded again, decodes to itself"
        );
    }
}

/// An `If-Match` or `If-None-Match` value: a strong match is a weak one too, and `*` matches all.
pub fn conditional(data: &[u8]) {
    let value = String::from_utf8_lossy(data);
    let (current, rest) = value.split_once('\n').unwrap_or(("\"x\"", &value));
    let tags = EntityTags::parse(rest).unwrap_or(EntityTags::Tags(Vec::new()));
    if tags.matches_strongly(current) && tags != EntityTags::Empty {
        assert!(tags.matches_weakly(current), "{rest:?} against {current:?}");
    }
}

/// An `Accept-Encoding` value: never a coding it refuses (`;q=0`), nor one it does not name
/// when it has no `*`.
pub fn accept_encoding(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT_ENCODING, value.clone());
    let Some(coding) = Accepted::parse(&headers).for_each_request() else {
        return;
    };
    // Coding names are case-insensitive (RFC 9110 §8.4.1).
    let text = value.to_str().unwrap_or_default().to_ascii_lowercase();
    assert!(
        text.contains(coding.token()) || text.contains('*'),
        "{coding:?} chosen from {text:?}"
    );
}

/// A page token: redeemed only when it is the one the store would issue for its cursor.
pub fn page_token(data: &[u8]) {
    const KEY: &[u8] = b"fuzzing key";
    let token = String::from_utf8_lossy(data);
    let filter = YearFilter {
        after: Some(1960),
        before: None,
    };
    if let Some(Cursor(at)) = page_token::redeem(KEY, &token, filter) {
        assert_eq!(
            page_token::issue(KEY, Cursor(at), filter),
            token,
            "a token never issued was redeemed"
        );
    }
}

/// An `Authorization` value: admitted only when it carries one of the tokens.
pub fn authorization(data: &[u8]) {
    const TOKEN: &str = "fuzz-token";
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let request = Request::builder()
        .method(Method::DELETE)
        .header(header::AUTHORIZATION, value.clone())
        .finish();
    if WriteTokens::new(&[TOKEN.to_owned()]).admit(&request) {
        let text = value.to_str().expect("an admitted value is text");
        assert!(
            text.len() > 7
                && text[..7].eq_ignore_ascii_case("bearer ")
                && text[7..].trim() == TOKEN,
            "{text:?} admitted"
        );
    }
}

/// A whole request (a method, a path and query, headers, a body) through the endpoint the server
/// mounts, on a fresh in-memory store: never a 5xx, every error a problem, every language answered
/// within the resource's rules, and a write's answer what the next GET returns.
///
/// The input: its first byte chooses the method; then the path, one header per line, an empty
/// line, and the body.
pub fn request(data: &[u8]) {
    let Some((&method, rest)) = data.split_first() else {
        return;
    };
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
    ];
    let method = methods[usize::from(method) % methods.len()].clone();
    let (head, body) = match rest.windows(2).position(|pair| pair == b"\n\n") {
        Some(end) => (&rest[..end], &rest[end + 2..]),
        None => (rest, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split('\n');
    let target = lines.next().unwrap_or("/");
    // A target that is no URI never reaches the application: hyper refuses it.
    let Ok(uri) = target.parse::<poem::http::Uri>() else {
        return;
    };
    let mut builder = Request::builder().method(method.clone()).uri(uri);
    let mut has_host = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) else {
            continue;
        };
        has_host |= name == header::HOST;
        builder = builder.header(name, value);
    }
    if !has_host {
        builder = builder.header(header::HOST, "fuzz");
    }
    let request = builder.body(body.to_vec());
    runtime().block_on(async move {
        let app = app::app(
            Store::in_memory(100_000),
            config(),
            None,
            Stopping::default(),
        );
        let response = app.get_response(request).await;
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let content_type = response.content_type().map(str::to_owned);
        let bytes = response.into_body().into_vec().await.unwrap_or_default();
        // The one 5xx a request can cause: a transfer coding the server does not implement
        // (RFC 9112 §6.1; hyper refuses most of them before the application sees them).
        let not_implemented = status == StatusCode::NOT_IMPLEMENTED
            && serde_json::from_slice::<Value>(&bytes)
                .is_ok_and(|problem| problem["type"] == "/problems/not-implemented");
        assert!(
            !status.is_server_error() || not_implemented,
            "{method} {target}: {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        if status.is_client_error() {
            assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON), "{status}");
            let problem: Value = serde_json::from_slice(&bytes).expect("a problem is JSON");
            assert_eq!(problem["status"], status.as_u16());
            return;
        }
        let Ok(answered) = serde_json::from_slice::<Value>(&bytes) else {
            return;
        };
        if status.is_success() && answered.get("contribution").is_some() {
            assert_obeys_the_rules(&answered);
        }
        // A write's answer is what the next read returns.
        let written = match (&method, status) {
            (&Method::POST, StatusCode::CREATED) => location,
            (&Method::PUT | &Method::PATCH, StatusCode::OK) => {
                Some(target.split('?').next().unwrap_or(target).to_owned())
            }
            _ => None,
        };
        if let Some(path) = written {
            let read = app
                .get_response(
                    Request::builder()
                        .uri(path.parse().expect("a written language's path"))
                        .header(header::HOST, "fuzz")
                        .finish(),
                )
                .await;
            assert_eq!(
                read.status(),
                StatusCode::OK,
                "GET {path} after {method} {target}"
            );
            let bytes = read.into_body().into_vec().await.unwrap_or_default();
            let read: Value = serde_json::from_slice(&bytes).expect("a language");
            assert_eq!(read, answered, "GET {path} after {method} {target}");
        }
    });
}

fn assert_obeys_the_rules(language: &Value) {
    let name = language["name"].as_str().expect("a name");
    let year = language["publication_year"].as_i64().expect("a year");
    let contribution = language["contribution"].as_str().expect("a contribution");
    assert!(Name::try_from(name).is_ok(), "{language}");
    assert!((1800..=2100).contains(&year), "{language}");
    assert!(
        (1..=1000).contains(&contribution.chars().count()),
        "{language}"
    );
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(Config::defaults)
}
