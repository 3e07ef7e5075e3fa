//! The request checks: a path that is not valid percent-encoded UTF-8, and a query parameter an
//! operation does not take or that is given twice, are refused before any operation runs.

use std::sync::Arc;

use percent_encoding::percent_decode_str;
use poem::{Endpoint, IntoResponse, Request, Response, Result};

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

#[cfg(test)]
mod tests {
    use super::*;

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
