//! The route facts: the methods each path answers, for `Allow`, and the query parameters each
//! operation takes.

use poem::http::Method;

/// Where Swagger UI is served; `/` redirects here.
pub(crate) const DOCS: &str = "/docs";

/// The query parameters `method` on `path` takes, or `None` when the path or method is not one of
/// the API's (the router answers those). The spec test holds this to the spec's parameters.
pub(crate) fn query_parameters(method: &Method, path: &str) -> Option<&'static [&'static str]> {
    let allow = allowed_methods(path)?;
    if !allow.split(", ").any(|allowed| allowed == method.as_str()) {
        return None;
    }
    if path == "/programming_languages" && (method == Method::GET || method == Method::HEAD) {
        Some(&["after_year", "before_year", "limit", "page_token"])
    } else {
        Some(&[])
    }
}

/// The `Allow` header value for `path`: every method it answers. HEAD is answered wherever GET is
/// (poem runs GET and drops the body); OPTIONS only while CORS is on, and the CORS layer adds it.
pub(crate) fn allowed_methods(path: &str) -> Option<&'static str> {
    match path {
        "/programming_languages" => Some("GET, HEAD, POST"),
        "/" | "/healthz" | "/openapi.json" | "/openapi.yaml" | DOCS => Some("GET, HEAD"),
        _ => match path.strip_prefix("/programming_languages/") {
            Some(name) if !name.is_empty() && !name.contains('/') => {
                Some("GET, HEAD, PUT, PATCH, DELETE")
            }
            _ => None,
        },
    }
}
