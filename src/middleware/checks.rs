//! The request checks: a path parameter that is not valid percent-encoded UTF-8 (`x%y` would
//! otherwise name the language "x%y"), and a query parameter that the operation does not take or
//! that is given twice (poem-openapi would ignore the one and take the first of the other, so
//! `?befor_year=1965` would silently list everything). What each route takes comes from the route
//! table, so from the operations' declarations.

use percent_encoding::percent_decode_str;
use poem::http::Method;

use crate::{
    problem::{Problem, ProblemField},
    routes::Route,
};

/// The 400 for a path parameter of `path` (on `route`) that is not valid percent-encoded UTF-8.
pub(super) fn check_path(route: &Route, path: &str) -> Option<Problem> {
    let (name, _) = route
        .parameter_values(path)
        .find(|(_, raw)| decode_segment(raw).is_none())?;
    Some(Problem::invalid_parameter(
        path,
        name,
        "the path must be valid percent-encoded UTF-8",
    ))
}

/// The 400 for a query with a parameter the operation of `method` on `route` does not take, or
/// one given twice, naming each.
pub(super) fn check_query(
    route: &Route,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Option<Problem> {
    let query = query?;
    // A route outside the spec (the docs, the spec) takes no parameter.
    let known = route
        .operation(method)
        .map_or(&[][..], |operation| operation.query());
    let known: Vec<&str> = known.iter().map(|param| param.name.as_str()).collect();
    let errors = query_errors(query, &known);
    (!errors.is_empty()).then(|| Problem::invalid_parameters(path, errors))
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
