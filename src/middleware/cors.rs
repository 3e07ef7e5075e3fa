//! CORS: who may call the API from a browser, and the answers to `OPTIONS`.

use std::sync::Arc;

use poem::{
    Endpoint, IntoResponse, Request, Response, Result,
    http::{HeaderValue, Method, header},
};

use crate::{problem::Problem, routes};

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
