//! CORS: who may call the API from a browser, and the answers to `OPTIONS`.

use std::sync::Arc;

use poem::{
    IntoResponse, Request, Response,
    http::{HeaderValue, header},
};

use super::request_id::REQUEST_ID;
use crate::{
    problem::Problem,
    routes::{Route, RouteTable},
};

/// Who may call the API from a browser, and how (CORS, configured by `--cors-origin`).
#[derive(Clone)]
pub(crate) struct CorsPolicy {
    /// `*`: any origin.
    any: bool,
    origins: Arc<Vec<String>>,
    /// The request headers a browser may send cross-origin, besides the CORS-safelisted ones:
    /// those the operations read (the route table's), and `X-Request-Id`. Lower-case.
    request_headers: Arc<Vec<String>>,
    /// `request_headers`, as `Access-Control-Allow-Headers` lists them.
    allow_headers: HeaderValue,
    /// The response headers a browser may show the caller: those the operations declare, and
    /// `X-Request-Id`.
    expose_headers: HeaderValue,
}

impl CorsPolicy {
    pub(crate) fn new(origins: &[String], routes: &RouteTable) -> Self {
        let with_request_id = |declared: &[String]| {
            let mut names = declared.to_vec();
            names.push(REQUEST_ID.as_str().to_owned());
            names.sort();
            names.dedup();
            names
        };
        let request_headers = with_request_id(routes.request_headers());
        let listed = |names: &[String]| {
            HeaderValue::from_str(&names.join(", "))
                .unwrap_or_else(|_| HeaderValue::from_static(""))
        };
        Self {
            any: origins.iter().any(|origin| origin == "*"),
            origins: Arc::new(origins.to_vec()),
            allow_headers: listed(&request_headers),
            expose_headers: listed(&with_request_id(routes.response_headers())),
            request_headers: Arc::new(request_headers),
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

/// The `Allow` of a path while CORS is on: its methods and OPTIONS.
fn allow_with_options(route: &Route) -> HeaderValue {
    let allow = route.allow().to_str().unwrap_or_default();
    HeaderValue::from_str(&format!("{allow}, OPTIONS")).unwrap_or_else(|_| route.allow().clone())
}

impl CorsPolicy {
    /// Adds CORS to the answer of a request from `origin` on `route`: `Vary: Origin` always, the
    /// grant for a configured origin, and OPTIONS to the `Allow` of a 405. Requests are served
    /// whatever their `Origin` (a browser sends one on same-origin writes, Swagger UI's among
    /// them): the CORS headers go only to configured origins, and the browser withholds the answer
    /// from the rest. Credentials are never allowed: the API authenticates with bearer tokens, not
    /// cookies.
    pub(super) fn decorate(
        &self,
        response: &mut Response,
        origin: Option<&HeaderValue>,
        route: Option<&Route>,
    ) {
        let headers = response.headers_mut();
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if headers.contains_key(header::ALLOW)
            && let Some(route) = route
        {
            headers.insert(header::ALLOW, allow_with_options(route));
        }
        if let Some(allowed) = origin
            .and_then(|origin| origin.to_str().ok())
            .and_then(|origin| self.allow_origin(origin))
        {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                self.expose_headers.clone(),
            );
        }
    }

    /// The answer to `OPTIONS` on `route`: the methods it takes and, for the preflight of a
    /// configured origin, the CORS grant (a preflight from any other origin, or for another
    /// method or header, is a 403 problem).
    pub(super) fn options(&self, request: &Request, path: &str, route: &Route) -> Response {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|value| value.to_str().ok());
        let mut response = Response::builder()
            .status(poem::http::StatusCode::NO_CONTENT)
            .header(header::VARY, "Origin")
            .finish();
        response
            .headers_mut()
            .insert(header::ALLOW, allow_with_options(route));
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
            .all(|name| self.request_headers.iter().any(|allowed| allowed == name));
        let method_ok = route
            .methods()
            .iter()
            .any(|method| method.as_str() == requested_method);
        match self.allow_origin(origin) {
            Some(allowed) if method_ok && headers_ok => {
                let headers = response.headers_mut();
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, route.allow().clone());
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    self.allow_headers.clone(),
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
}
