//! The error boundary: every error the framework raises (router, parameter parsers, payload
//! limits) and every panic becomes an RFC 9457 problem, so that no response of the API is ever
//! `text/plain` or shows internals.

use std::{panic::AssertUnwindSafe, sync::Arc};

use futures_util::FutureExt;
use poem::{
    Endpoint, IntoResponse, Request, Response, Result,
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::error::{ParseParamError, ParsePathError};

use crate::{json::BODY_LIMIT_BYTES, problem::Problem, routes};

/// Runs `endpoint` and turns every error it raises into a problem response. A 405 also gets the
/// `Allow` header that RFC 9110 requires, listing the methods its path answers.
pub(crate) async fn catch_errors<E: Endpoint>(
    endpoint: Arc<E>,
    request: Request,
) -> Result<Response> {
    let instance = request.original_uri().path().to_owned();
    let outcome = AssertUnwindSafe(endpoint.call(request))
        .catch_unwind()
        .await;
    match outcome {
        Ok(Ok(response)) => Ok(response.into_response()),
        Ok(Err(error)) if error.is_from_response() => Ok(error.into_response()),
        Err(_) => {
            // A bug: the panic message went to the log through the panic hook; the client gets a
            // problem that shows none of it.
            Ok(Problem::internal(&instance).into_response())
        }
        Ok(Err(error)) => {
            let mut response = from_error(&instance, &error).into_response();
            if response.status() == StatusCode::METHOD_NOT_ALLOWED
                && let Some(allow) = routes::allowed_methods(&instance)
            {
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Ok(response)
        }
    }
}

/// Any error the framework raised, as the problem of its kind.
fn from_error(instance: &str, error: &poem::Error) -> Problem {
    if let Some(error) = error.downcast_ref::<ParseParamError>() {
        return Problem::invalid_parameter(instance, error.name, parameter_detail(error.name));
    }
    // poem's router and poem-openapi's `Path` each raise their own type for a path parameter
    // that is not valid percent-encoded UTF-8.
    if error.is::<ParsePathError>() || error.is::<poem::error::ParsePathError>() {
        return Problem::invalid_parameter(
            instance,
            "name",
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

/// The detail for a query parameter that did not parse: what it must be, in the contract's words.
fn parameter_detail(name: &str) -> &'static str {
    match name {
        "after_year" | "before_year" => "must be a 32-bit integer",
        "limit" => "must be an integer from 1 up",
        _ => "invalid value",
    }
}
