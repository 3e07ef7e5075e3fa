//! The error boundary's mapping: every error the framework raises (router, parameter parsers,
//! payload limits) becomes an RFC 9457 problem, so that no response of the API is ever
//! `text/plain` or shows internals. A 405 gets the `Allow` that RFC 9110 requires.

use poem::{
    IntoResponse, Response,
    http::{Method, StatusCode, header},
};
use poem_openapi::error::{ParseParamError, ParsePathError};

use crate::{json::BODY_LIMIT_BYTES, problem::Problem, routes::Route};

/// The response for `error`, raised by the framework for a `method` request on `instance`, which
/// is on `route` when the server has one there.
pub(super) fn answer(
    error: poem::Error,
    instance: &str,
    method: &Method,
    route: Option<&Route>,
) -> Response {
    if error.is_from_response() {
        return error.into_response();
    }
    let mut response = problem(&error, instance, method, route).into_response();
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(route) = route
    {
        response
            .headers_mut()
            .insert(header::ALLOW, route.allow().clone());
    }
    response
}

/// The problem of `error`'s kind.
fn problem(error: &poem::Error, instance: &str, method: &Method, route: Option<&Route>) -> Problem {
    if let Some(error) = error.downcast_ref::<ParseParamError>() {
        // What the value must be, from the parameter's declared schema.
        let expected = route
            .and_then(|route| route.operation(method))
            .and_then(|operation| operation.expected(error.name))
            .unwrap_or("invalid value");
        return Problem::invalid_parameter(instance, error.name, expected);
    }
    // poem's router and poem-openapi's `Path` each raise their own type for a path parameter
    // that is not valid percent-encoded UTF-8.
    if error.is::<ParsePathError>() || error.is::<poem::error::ParsePathError>() {
        let name = route
            .and_then(|route| route.parameters().next())
            .unwrap_or("path");
        return Problem::invalid_parameter(
            instance,
            name,
            "the path must be valid percent-encoded UTF-8",
        );
    }
    match error.status() {
        StatusCode::NOT_FOUND => Problem::no_such_path(instance),
        StatusCode::METHOD_NOT_ALLOWED => Problem::method_not_allowed(instance),
        StatusCode::PAYLOAD_TOO_LARGE => Problem::payload_too_large(instance, BODY_LIMIT_BYTES),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Problem::unsupported_media_type(instance, None),
        status if status.is_client_error() => Problem::invalid(
            instance,
            status
                .canonical_reason()
                .unwrap_or("The request is invalid."),
            Vec::new(),
        ),
        _ => {
            tracing::error!(error = %error, "request failed");
            Problem::internal(instance)
        }
    }
}
