//! The request checks: a path parameter that is not valid percent-encoded UTF-8 (`x%y` would
//! otherwise name the language "x%y"), and a query parameter that the operation does not take or
//! that is given twice (poem-openapi would ignore the one and take the first of the other, so
//! `?befor_year=1965` would silently list everything). What each route takes comes from the route
//! table, so from the operations' declarations.

use std::{borrow::Cow, collections::HashSet};

use percent_encoding::percent_decode_str;
use poem::{
    IntoResponse, Request, Response,
    http::{
        HeaderValue, Method, Version,
        header::{
            ACCEPT_ENCODING, AUTHORIZATION, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, HOST,
            TRANSFER_ENCODING,
        },
        uri::Authority,
    },
};

use crate::{
    problem::{Problem, ProblemField},
    routes::{Parameter, Route},
};

/// The answer to a request whose head a proxy in front could read otherwise than the server
/// does, checked before anything else:
/// - a transfer coding other than `chunked` is a 501 (RFC 9112 §6.1): hyper reads `gzip, chunked`
///   as plain chunked, where a proxy that decodes it sees other bytes (the root of request
///   smuggling), so the connection closes after it too;
/// - no `Host` in an HTTP/1.1 request, more than one, or one that is not a host and port, is a
///   400 (RFC 9112 §3.2);
/// - two `Authorization` headers are a 400: which of them decides would be a guess.
pub(super) fn check_head(request: &Request, path: &str) -> Option<Response> {
    let headers = request.headers();
    let mut codings = headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .filter(|coding| !coding.is_empty());
    if headers.contains_key(TRANSFER_ENCODING)
        && !(codings
            .next()
            .is_some_and(|c| c.eq_ignore_ascii_case("chunked"))
            && codings.next().is_none())
    {
        let mut response = Problem::transfer_coding(path).into_response();
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return Some(response);
    }
    let mut hosts = headers.get_all(HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (None, _) if request.version() == Version::HTTP_11 => Some("an HTTP/1.1 request needs one"),
        (Some(_), Some(_)) => Some("given more than once"),
        (Some(host), None) if Authority::try_from(host.as_bytes()).is_err() => {
            Some("must be a host and an optional port")
        }
        _ => None,
    };
    if let Some(detail) = host {
        return Some(Problem::invalid_header(path, "Host", detail).into_response());
    }
    if headers.get_all(AUTHORIZATION).iter().nth(1).is_some() {
        return Some(
            Problem::invalid_header(path, "Authorization", "given more than once").into_response(),
        );
    }
    None
}

/// The 415 for a request whose body has a `Content-Encoding` other than `identity`: the server
/// reads bodies as they are, and would otherwise read compressed bytes as malformed JSON. Its
/// `Accept-Encoding` says what the server takes (RFC 9110 §12.5.3).
pub(super) fn check_content_encoding(request: &Request, path: &str) -> Option<Response> {
    let headers = request.headers();
    let has_body = headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0");
    if !has_body {
        return None;
    }
    let coding = headers
        .get_all(CONTENT_ENCODING)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .find(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("identity"))?;
    let mut response = Problem::coded_body(path, coding).into_response();
    response
        .headers_mut()
        .insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    Some(response)
}

/// The 400 for a path parameter of `path` (on `route`) that is not valid percent-encoded UTF-8.
pub(crate) fn check_path(route: &Route, path: &str) -> Option<Problem> {
    let (name, _) = route
        .parameter_values(path)
        .find(|(_, raw)| decode_segment(raw).is_none())?;
    Some(Problem::invalid_parameter(
        path,
        name,
        "the path must be valid percent-encoded UTF-8",
    ))
}

/// The 400 for a query with parameters the operation of `method` on `route` does not take, gives
/// more than once, leaves empty or gives a value its schema does not allow, naming each once; and
/// the query without any pair of those, for the operation to read what is left.
pub(crate) fn check_query(
    route: &Route,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Option<(Problem, String)> {
    // A route outside the spec (the docs, the spec) takes no parameter.
    let known = route
        .operation(method)
        .map_or(&[][..], |operation| operation.query());
    let (errors, kept) = query_errors(query?, known);
    (!errors.is_empty()).then(|| (Problem::invalid_parameters(path, errors), kept))
}

/// The text of a percent-encoded path segment, if every `%` starts an escape and the bytes are
/// UTF-8.
pub(crate) fn decode_segment(raw: &str) -> Option<Cow<'_, str>> {
    let bytes = raw.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(index, &byte)| {
        byte != b'%'
            || bytes
                .get(index + 1..index + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    well_formed.then(|| percent_decode_str(raw).decode_utf8().ok())?
}

/// A query's name or value decoded (`+` is a space), borrowed when it has neither `+` nor `%`.
fn decode_query_part(raw: &str) -> Cow<'_, str> {
    if !raw.bytes().any(|byte| byte == b'+' || byte == b'%') {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(
        percent_decode_str(&raw.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// One error for each parameter of `query` that is unknown, given more than once, or whose value
/// its declaration refuses, in the order of their first appearance; and the query without them,
/// made only when there are errors (it is read on every request with a query).
fn query_errors(query: &str, known: &[Parameter]) -> (Vec<ProblemField>, String) {
    let pairs: Vec<(&str, Cow<'_, str>, Cow<'_, str>)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (pair, decode_query_part(name), decode_query_part(value))
        })
        .collect();
    // Each name is looked at once, in the order given, and its count taken only for a parameter
    // the route knows: linear in the number of pairs, which a long query makes many (a query of
    // tens of thousands of names, each compared with every other, took seconds).
    let mut refused: HashSet<&str> = HashSet::new();
    let mut errors: Vec<ProblemField> = Vec::new();
    for (_, name, value) in &pairs {
        let name = name.as_ref();
        if refused.contains(name) {
            continue;
        }
        let detail = match known.iter().find(|param| param.name == name) {
            None => Some("unknown parameter"),
            Some(_) if pairs.iter().filter(|(_, other, _)| other == name).count() > 1 => {
                Some("given more than once")
            }
            Some(param) => param.refuse(value),
        };
        if let Some(detail) = detail {
            refused.insert(name);
            errors.push(ProblemField::parameter(name, detail));
        }
    }
    if errors.is_empty() {
        return (errors, String::new());
    }
    let kept = pairs
        .iter()
        .filter(|(_, name, _)| !refused.contains(name.as_ref()))
        .map(|(pair, _, _)| *pair)
        .collect::<Vec<_>>()
        .join("&");
    (errors, kept)
}

#[cfg(test)]
mod tests {
    use poem_openapi::OpenApi;

    use super::*;
    use crate::{api::Api, routes::RouteTable};

    fn named(query: &str) -> Vec<(String, String)> {
        let routes = RouteTable::new(Api::meta(), &[]);
        let list = routes
            .find("/programming_languages")
            .and_then(|route| route.operation(&Method::GET))
            .expect("list_languages");
        query_errors(query, list.query())
            .0
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
    fn a_query_of_many_names_is_checked_in_linear_time() {
        // 100,000 names, each unknown, half of them twice, and a known one given 50,000 times.
        // Checked in one pass this takes well under a second, even in a debug build; each name
        // compared with every other, it took many minutes. The deadline tells the two apart, not
        // a fast machine from a slow one.
        let query: String = (0..100_000)
            .map(|i| format!("n{}&limit=1&", i / 2))
            .collect();
        let (done, answer) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(named(&query));
        });
        let named = answer
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("checked within a minute");
        assert_eq!(named.len(), 1 + 50_000);
        assert_eq!(named[0], ("n0".into(), "unknown parameter".into()));
        assert_eq!(named[1], ("limit".into(), "given more than once".into()));
        assert_eq!(named[50_000].0, "n49999");
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
            named("before_year=abc&limit=0&foo=1&after_year=1960&page_token="),
            [
                ("before_year".into(), "must be a 32-bit integer".into()),
                ("limit".into(), "must be an integer from 1 up".into()),
                ("foo".into(), "unknown parameter".into()),
                ("page_token".into(), "must not be empty".into()),
            ]
        );
        let routes = RouteTable::new(Api::meta(), &[]);
        let list = routes
            .find("/programming_languages")
            .and_then(|r| r.operation(&Method::GET));
        let (_, kept) = query_errors(
            "limit=0&after_year=1960&x=1&before_year=1970",
            list.expect("list").query(),
        );
        assert_eq!(kept, "after_year=1960&before_year=1970");
        assert_eq!(
            named("%FF=1"),
            [("\u{FFFD}".into(), "unknown parameter".into())]
        );
    }
}
