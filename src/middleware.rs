//! The cross-cutting layers: each wraps the whole service and leaves the operations alone.

use std::{sync::Arc, time::Instant};

use percent_encoding::percent_decode_str;
use poem::{
    Endpoint, IntoResponse, Request, Response, Result,
    http::{HeaderValue, Method, header},
};
use subtle::{Choice, ConstantTimeEq};

use crate::{
    api::COLLECTION,
    problem::{Problem, ProblemField},
    routes,
    store::{Store, StoreError},
};

/// Refuses what no operation would read right: a language path that is not valid
/// percent-encoded UTF-8 (`x%y` would otherwise name the language "x%y"), and a query with a
/// parameter the operation does not take, or one given twice (poem-openapi would ignore the one
/// and take the first of the other, so `?befor_year=1965` would silently list everything). A query
/// on a missing language is left to the handler: its 404 comes first (CONTRACT.md, "Errors").
pub(crate) async fn check_request<E: Endpoint>(
    endpoint: Arc<E>,
    request: Request,
    store: Store,
) -> Result<Response> {
    let path = request.original_uri().path();
    let name = path
        .strip_prefix(COLLECTION)
        .and_then(|rest| rest.strip_prefix('/'));
    if let Some(raw) = name
        && decode_segment(raw).is_none()
    {
        let problem = Problem::invalid_parameter(
            path,
            "name",
            "the path must be valid percent-encoded UTF-8",
        );
        return Ok(problem.into_response());
    }
    if let (Some(query), Some(known)) = (
        request.uri().query(),
        routes::query_parameters(request.method(), path),
    ) {
        let errors = query_errors(query, known);
        let missing = match name.and_then(decode_segment) {
            Some(name) if !errors.is_empty() => {
                matches!(store.get(&name).await, Err(StoreError::NotFound))
            }
            _ => false,
        };
        if !errors.is_empty() && !missing {
            let detail = errors
                .iter()
                .map(|error| {
                    format!(
                        "{}: {}",
                        error.parameter.as_deref().unwrap_or_default(),
                        error.detail
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Ok(Problem::invalid(path, detail, errors).into_response());
        }
    }
    endpoint
        .call(request)
        .await
        .map(IntoResponse::into_response)
}

/// The text of a percent-encoded path segment, if every `%` starts an escape and the bytes are
/// UTF-8.
fn decode_segment(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(index, &byte)| {
        byte != b'%'
            || bytes
                .get(index + 1..index + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    well_formed
        .then(|| percent_decode_str(raw).decode_utf8().ok())?
        .map(|name| name.into_owned())
}

/// One error for each unknown parameter of `query` and each known one given more than once.
fn query_errors(query: &str, known: &[&str]) -> Vec<ProblemField> {
    let mut seen: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let raw_name = pair.split_once('=').map_or(pair, |(name, _)| name);
        let name = percent_decode_str(&raw_name.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned();
        let reported = errors
            .iter()
            .any(|error: &ProblemField| error.parameter.as_deref() == Some(name.as_str()));
        if !known.contains(&name.as_str()) {
            if !reported {
                errors.push(ProblemField::parameter(name, "unknown parameter"));
            }
        } else if seen.contains(&name) {
            if !reported {
                errors.push(ProblemField::parameter(name, "given more than once"));
            }
        } else {
            seen.push(name);
        }
    }
    errors
}

/// The request's id, as the request-id layer settled it: what the access log line and the
/// `X-Request-Id` response header carry.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

/// The header that carries a request's id, both ways.
const REQUEST_ID: &str = "x-request-id";

/// Gives every request an id: the client's own `X-Request-Id` when it is 1 to 128 characters of
/// `A-Z a-z 0-9 . _ ~ -` (so that it is safe in a log line), else a new random one; and sends it
/// back on the response.
pub(crate) async fn request_id<E: Endpoint>(
    endpoint: Arc<E>,
    mut request: Request,
) -> Result<Response> {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_sane_request_id(id))
        .map_or_else(new_request_id, str::to_owned);
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = match endpoint.call(request).await {
        Ok(response) => response.into_response(),
        Err(error) => error.into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

fn is_sane_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

/// 128 random bits, in URL-safe base64.
fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    // Without an OS random source, ids are still unique enough from the clock.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        bytes = nanos.to_be_bytes();
    }
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

/// Logs one line per request at INFO: method, path as received, status, latency and request id.
/// Never a header's or a body's content: tokens and data stay out of logs.
pub(crate) async fn access_log<E: Endpoint>(
    endpoint: Arc<E>,
    request: Request,
) -> Result<Response> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.original_uri().path().to_owned();
    let id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let response = match endpoint.call(request).await {
        Ok(response) => response.into_response(),
        Err(error) => error.into_response(),
    };
    tracing::info!(
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        request_id = %id,
        "request"
    );
    Ok(response)
}

/// The bearer tokens that writes need, compared in constant time.
#[derive(Clone)]
pub(crate) struct WriteTokens(Arc<Vec<Vec<u8>>>);

impl WriteTokens {
    pub(crate) fn new(tokens: &[String]) -> Self {
        Self(Arc::new(
            tokens
                .iter()
                .map(|token| token.as_bytes().to_vec())
                .collect(),
        ))
    }

    /// Whether `presented` is one of the tokens. Every token is compared in full, whatever
    /// matched, so the time taken says nothing of how close a guess came.
    fn accepts(&self, presented: &[u8]) -> bool {
        self.0
            .iter()
            .fold(Choice::from(0), |found, token| {
                found | token.as_slice().ct_eq(presented)
            })
            .into()
    }
}

/// With write tokens configured, a POST, PUT, PATCH or DELETE that the path answers needs
/// `Authorization: Bearer <token>` with one of them: else 401 and nothing is done. Reads stay open.
pub(crate) async fn require_write_token<E: Endpoint>(
    endpoint: Arc<E>,
    request: Request,
    tokens: WriteTokens,
) -> Result<Response> {
    let method = request.method();
    let is_write = [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method);
    let path = request.original_uri().path();
    let answered = routes::allowed_methods(path)
        .is_some_and(|allow| allow.split(", ").any(|allowed| allowed == method.as_str()));
    if is_write && answered {
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|value| value.as_bytes())
            .filter(|value| value.len() > 7 && value[..7].eq_ignore_ascii_case(b"bearer "))
            .map(|value| value[7..].trim_ascii());
        if !presented.is_some_and(|token| tokens.accepts(token)) {
            let mut response = Problem::unauthorized(path).into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return Ok(response);
        }
    }
    endpoint
        .call(request)
        .await
        .map(IntoResponse::into_response)
}

/// Who may call the API from a browser, and how (CORS, configured by `--cors-origin`).
#[derive(Clone)]
pub(crate) struct CorsPolicy {
    /// `*`: any origin.
    any: bool,
    origins: Arc<Vec<String>>,
}

/// The request headers a browser may send cross-origin, besides the CORS-safelisted ones.
const CORS_REQUEST_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "if-match",
    "if-none-match",
    "x-request-id",
];

impl CorsPolicy {
    pub(crate) fn new(origins: &[String]) -> Self {
        Self {
            any: origins.iter().any(|origin| origin == "*"),
            origins: Arc::new(origins.to_vec()),
        }
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if it may call.
    fn allow_origin(&self, origin: &str) -> Option<HeaderValue> {
        if self.any {
            Some(HeaderValue::from_static("*"))
        } else if self.origins.iter().any(|allowed| allowed == origin) {
            HeaderValue::from_str(origin).ok()
        } else {
            None
        }
    }
}

/// CORS, while origins are configured. `OPTIONS` on a path of the API answers with the methods it
/// takes and, for the preflight of a configured origin, the CORS grant (a preflight from any other
/// origin, or for another method or header, is a 403 problem). Other requests are served whatever
/// their `Origin` (a browser sends one on same-origin writes, Swagger UI's among them): the CORS
/// headers go only to configured origins, and the browser withholds the answer from the rest.
/// Credentials are never allowed: the API authenticates with bearer tokens, not cookies.
pub(crate) async fn cors<E: Endpoint>(
    endpoint: Arc<E>,
    request: Request,
    policy: CorsPolicy,
) -> Result<Response> {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let path = request.original_uri().path().to_owned();
    let methods = routes::allowed_methods(&path);
    if request.method() == Method::OPTIONS
        && let Some(methods) = methods
    {
        return Ok(options(
            &request,
            &path,
            methods,
            origin.as_deref(),
            &policy,
        ));
    }
    let mut response = endpoint.call(request).await?.into_response();
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if headers.contains_key(header::ALLOW)
        && let Some(methods) = methods
        && let Ok(allow) = HeaderValue::from_str(&format!("{methods}, OPTIONS"))
    {
        headers.insert(header::ALLOW, allow);
    }
    if let Some(allowed) = origin
        .as_deref()
        .and_then(|origin| policy.allow_origin(origin))
    {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Location, ETag, X-Request-Id"),
        );
    }
    Ok(response)
}

/// The answer to `OPTIONS` on a path that answers `methods`.
fn options(
    request: &Request,
    path: &str,
    methods: &str,
    origin: Option<&str>,
    policy: &CorsPolicy,
) -> Response {
    let mut response = Response::builder()
        .status(poem::http::StatusCode::NO_CONTENT)
        .header(header::VARY, "Origin")
        .finish();
    if let Ok(allow) = HeaderValue::from_str(&format!("{methods}, OPTIONS")) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    let requested_method = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|value| value.to_str().ok());
    let (Some(origin), Some(requested_method)) = (origin, requested_method) else {
        return response; // not a preflight
    };
    let requested_headers = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let headers_ok = requested_headers
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .all(|name| CORS_REQUEST_HEADERS.contains(&name));
    let method_ok = methods.split(", ").any(|method| method == requested_method);
    match policy.allow_origin(origin) {
        Some(allowed) if method_ok && headers_ok => {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
            if let Ok(methods) = HeaderValue::from_str(methods) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
            }
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(
                    "Authorization, Content-Type, If-Match, If-None-Match, X-Request-Id",
                ),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            response
        }
        _ => {
            let mut refused = Problem::cors_refused(path).into_response();
            refused
                .headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Origin"));
            refused
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_only_when_sane() {
        assert!(is_sane_request_id("abc-123._~"));
        assert!(is_sane_request_id(&"a".repeat(128)));
        for bad in ["", "a b", "a\nb", "ü", &"a".repeat(129)] {
            assert!(!is_sane_request_id(bad), "{bad:?}");
        }
        let id = new_request_id();
        assert!(is_sane_request_id(&id));
        assert_ne!(id, new_request_id());
    }

    #[test]
    fn only_configured_tokens_are_accepted() {
        let tokens = WriteTokens::new(&["alpha".to_owned(), "beta".to_owned()]);
        assert!(tokens.accepts(b"alpha"));
        assert!(tokens.accepts(b"beta"));
        for bad in [&b"alph"[..], b"alphaa", b"", b"ALPHA"] {
            assert!(!tokens.accepts(bad));
        }
    }

    fn named(query: &str) -> Vec<(String, String)> {
        query_errors(query, &["limit", "page_token"])
            .into_iter()
            .map(|error| (error.parameter.unwrap_or_default(), error.detail))
            .collect()
    }

    #[test]
    fn segments_decode_only_when_well_formed() {
        assert_eq!(decode_segment("PL%2FI").as_deref(), Some("PL/I"));
        assert_eq!(decode_segment("C++").as_deref(), Some("C++"));
        assert_eq!(decode_segment("Caf%C3%A9").as_deref(), Some("Café"));
        for bad in ["x%y", "%", "%4", "a%zz", "%FF", "%C3"] {
            assert_eq!(decode_segment(bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_and_repeated_parameters_are_named_once_each() {
        assert!(named("limit=1&page_token=x").is_empty());
        assert!(named("").is_empty());
        assert!(named("limit=1&").is_empty());
        assert_eq!(
            named("limt=1"),
            [("limt".into(), "unknown parameter".into())]
        );
        assert_eq!(
            named("limit=1&limit=2&limit=3"),
            [("limit".into(), "given more than once".into())]
        );
        assert_eq!(
            named("a=1&a=2&%6Cimit=1&limit"),
            [
                ("a".into(), "unknown parameter".into()),
                ("limit".into(), "given more than once".into())
            ]
        );
        assert_eq!(
            named("%FF=1"),
            [("\u{FFFD}".into(), "unknown parameter".into())]
        );
    }
}
