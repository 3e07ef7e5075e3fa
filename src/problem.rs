//! RFC 9457 problem details: the one body of every error response, whoever raises it.
//!
//! Every error response is built through the constructors here, with its kind's `type`, title and
//! status; a leaf, it builds bodies and catches nothing (the error boundary in `middleware` turns
//! the framework's errors into these).

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{
    ApiResponse, Object,
    payload::Payload,
    registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry},
    types::Type,
};
use serde::Serialize;

use crate::language::FieldError;

/// The media type of every error body (RFC 9457).
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// What went wrong, in the shape of RFC 9457 ("problem details").
#[derive(Object, Serialize, Debug, Clone, PartialEq, Eq)]
#[oai(skip_serializing_if_is_none)]
pub struct Problem {
    /// A URI reference that identifies the kind of problem; the same for every problem of a kind.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code of the response.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The path of the request, as it was received.
    pub instance: String,
    /// Each offending body field or parameter (400 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemField>>,
}

/// One offending part of a request: a body field, by JSON Pointer, or a parameter, by name.
#[derive(Object, Serialize, Debug, Clone, PartialEq, Eq)]
#[oai(skip_serializing_if_is_none)]
pub struct ProblemField {
    /// A JSON Pointer (RFC 6901) to the offending body field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// The name of the offending query or path parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// What is wrong with it.
    pub detail: String,
}

impl ProblemField {
    pub(crate) fn pointer(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            pointer: Some(pointer.into()),
            parameter: None,
            detail: detail.into(),
        }
    }

    pub(crate) fn parameter(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            pointer: None,
            parameter: Some(name.into()),
            detail: detail.into(),
        }
    }
}

impl From<FieldError> for ProblemField {
    fn from(error: FieldError) -> Self {
        Self::pointer(error.pointer, error.detail)
    }
}

/// The kinds of problem, each with its own `type` URI, title and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProblemKind {
    Validation,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    AlreadyExists,
    PreconditionFailed,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    HeadTooLarge,
    NotImplemented,
    TooManyRequests,
    KeyInUse,
    KeyReused,
    KeysFull,
    InsufficientStorage,
    ServiceUnavailable,
    ShuttingDown,
    Internal,
}

impl ProblemKind {
    /// Every kind, for the README's table and its test.
    #[cfg(test)]
    pub(crate) const ALL: [Self; 20] = [
        Self::Validation,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::AlreadyExists,
        Self::PreconditionFailed,
        Self::RequestTimeout,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::HeadTooLarge,
        Self::NotImplemented,
        Self::TooManyRequests,
        Self::KeyInUse,
        Self::KeyReused,
        Self::KeysFull,
        Self::InsufficientStorage,
        Self::ServiceUnavailable,
        Self::ShuttingDown,
        Self::Internal,
    ];

    pub(crate) fn uri(self) -> &'static str {
        match self {
            Self::Validation => "/problems/validation",
            Self::Unauthorized => "/problems/unauthorized",
            Self::Forbidden => "/problems/forbidden",
            Self::NotFound => "/problems/not-found",
            Self::MethodNotAllowed => "/problems/method-not-allowed",
            Self::AlreadyExists => "/problems/already-exists",
            Self::PreconditionFailed => "/problems/precondition-failed",
            Self::RequestTimeout => "/problems/request-timeout",
            Self::NotImplemented => "/problems/not-implemented",
            Self::HeadTooLarge => "/problems/request-header-fields-too-large",
            Self::PayloadTooLarge => "/problems/payload-too-large",
            Self::UnsupportedMediaType => "/problems/unsupported-media-type",
            Self::InsufficientStorage => "/problems/insufficient-storage",
            Self::TooManyRequests => "/problems/too-many-requests",
            Self::KeyInUse => "/problems/idempotency-key-in-use",
            Self::KeyReused => "/problems/idempotency-key-reused",
            Self::KeysFull => "/problems/idempotency-keys-full",
            Self::ServiceUnavailable => "/problems/service-unavailable",
            Self::ShuttingDown => "/problems/shutting-down",
            Self::Internal => "/problems/internal",
        }
    }

    pub(crate) fn title(self) -> &'static str {
        match self {
            Self::Validation => "Invalid request",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::AlreadyExists => "Already exists",
            Self::PreconditionFailed => "Precondition failed",
            Self::RequestTimeout => "Request timeout",
            Self::NotImplemented => "Not implemented",
            Self::HeadTooLarge => "Request header fields too large",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::InsufficientStorage => "Insufficient storage",
            Self::TooManyRequests => "Too many requests",
            Self::KeyInUse => "Idempotency key in use",
            Self::KeyReused => "Idempotency key reused",
            Self::KeysFull => "Too many idempotency keys",
            Self::ServiceUnavailable => "Service unavailable",
            Self::ShuttingDown => "Shutting down",
            Self::Internal => "Internal server error",
        }
    }

    pub(crate) fn status(self) -> StatusCode {
        match self {
            Self::Validation => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::AlreadyExists => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Self::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::KeyInUse => StatusCode::CONFLICT,
            Self::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::KeysFull => StatusCode::SERVICE_UNAVAILABLE,
            Self::ServiceUnavailable | Self::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl Problem {
    fn new(kind: ProblemKind, instance: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: kind.uri().to_owned(),
            title: kind.title().to_owned(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            instance: instance.to_owned(),
            errors: None,
        }
    }

    /// 400: the request breaks the rules; `errors` names each offending field or parameter.
    pub(crate) fn invalid(
        instance: &str,
        detail: impl Into<String>,
        errors: Vec<ProblemField>,
    ) -> Self {
        Self {
            errors: Some(errors),
            ..Self::new(ProblemKind::Validation, instance, detail)
        }
    }

    /// 400: a body that breaks rules of the resource, one entry per broken rule.
    pub(crate) fn invalid_fields(instance: &str, errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|error| format!("{}: {}", &error.pointer[1..], error.detail))
            .collect::<Vec<_>>()
            .join("; ");
        Self::invalid(
            instance,
            detail,
            errors.into_iter().map(ProblemField::from).collect(),
        )
    }

    /// 400: query or path parameters are wrong, each named in `errors`.
    pub(crate) fn invalid_parameters(instance: &str, errors: Vec<ProblemField>) -> Self {
        let detail = errors
            .iter()
            .map(|error| {
                let name = error.parameter.as_deref().unwrap_or_default();
                format!("{name}: {}", error.detail)
            })
            .collect::<Vec<_>>()
            .join("; ");
        Self::invalid(instance, detail, errors)
    }

    /// 400: one query or path parameter is wrong.
    pub(crate) fn invalid_parameter(instance: &str, name: &str, detail: &str) -> Self {
        Self::invalid(
            instance,
            format!("{name}: {detail}"),
            vec![ProblemField::parameter(name, detail)],
        )
    }

    /// 400: this problem's offending parts, then `other`'s, in one answer.
    pub(crate) fn and(self, other: Problem) -> Self {
        let mut errors = self.errors.unwrap_or_default();
        errors.extend(other.errors.unwrap_or_default());
        Self {
            detail: format!("{}; {}", self.detail, other.detail),
            errors: Some(errors),
            ..self
        }
    }

    /// 400: a body of changes names another language than the path.
    pub(crate) fn renamed(instance: &str) -> Self {
        Self::invalid(
            instance,
            "name: differs from the name in the path; a rename is a delete and a create",
            vec![ProblemField::pointer(
                "/name",
                "must equal the name in the path",
            )],
        )
    }

    /// 404: no language has the name in the path.
    pub(crate) fn language_not_found(instance: &str) -> Self {
        Self::new(
            ProblemKind::NotFound,
            instance,
            "No programming language has this name.",
        )
    }

    /// 404: the API has nothing at this path.
    pub(crate) fn no_such_path(instance: &str) -> Self {
        Self::new(
            ProblemKind::NotFound,
            instance,
            "This API has no resource at this path.",
        )
    }

    /// 405: the path does not answer the method; the response's `Allow` lists those it does.
    pub(crate) fn method_not_allowed(instance: &str) -> Self {
        Self::new(
            ProblemKind::MethodNotAllowed,
            instance,
            "This path does not answer this method; see the Allow header.",
        )
    }

    /// 409: a language of that name exists already.
    pub(crate) fn already_exists(instance: &str) -> Self {
        Self::new(
            ProblemKind::AlreadyExists,
            instance,
            "A programming language of this name exists already; update it with PUT or PATCH, \
             or delete it first.",
        )
    }

    /// 412: `If-Match` does not match the language's current ETag.
    pub(crate) fn precondition_failed(instance: &str) -> Self {
        Self::new(
            ProblemKind::PreconditionFailed,
            instance,
            "The language has changed since the ETag given in If-Match: nothing was changed. \
             Read it again and retry with its new ETag.",
        )
    }

    /// 408: the body did not arrive within the body-read timeout; the connection closes.
    pub(crate) fn request_timeout(instance: &str) -> Self {
        Self::new(
            ProblemKind::RequestTimeout,
            instance,
            "The body did not arrive in time: nothing was changed.",
        )
    }

    /// 501: the body comes in a transfer coding other than `chunked` (RFC 9112 §6.1).
    pub(crate) fn transfer_coding(instance: &str) -> Self {
        Self::new(
            ProblemKind::NotImplemented,
            instance,
            "Transfer-Encoding other than chunked is not supported: send the body with \
             Content-Length, or chunked.",
        )
    }

    /// 431: the request head is over `limit` bytes; the connection closes.
    pub(crate) fn head_too_large(instance: &str, limit: usize) -> Self {
        Self::new(
            ProblemKind::HeadTooLarge,
            instance,
            format!("The request head is over {limit} bytes."),
        )
    }

    /// 400: the request head is not HTTP/1.1 (or 1.0) that can be read; the connection closes.
    pub(crate) fn malformed_head(instance: &str) -> Self {
        Self::invalid(
            instance,
            "The request head is malformed: it is not an HTTP/1.1 request line and header fields.",
            Vec::new(),
        )
    }

    /// 400: a header that must appear once is missing or repeated, or its value is malformed.
    pub(crate) fn invalid_header(instance: &str, name: &str, detail: &str) -> Self {
        Self::invalid_parameter(instance, name, detail)
    }

    /// 413: the body is over the limit of `limit` bytes.
    pub(crate) fn payload_too_large(instance: &str, limit: usize) -> Self {
        Self::new(
            ProblemKind::PayloadTooLarge,
            instance,
            format!("The body is over {limit} bytes."),
        )
    }

    /// 415: the body is not declared as JSON.
    pub(crate) fn unsupported_media_type(instance: &str, content_type: Option<&str>) -> Self {
        let detail = match content_type {
            Some(content_type) => {
                format!("A body of type {content_type:?} is not accepted: send application/json.")
            }
            None => "The body needs a Content-Type of application/json.".to_owned(),
        };
        Self::new(ProblemKind::UnsupportedMediaType, instance, detail)
    }

    /// 415: the body is compressed (or otherwise coded), which the server does not decode.
    pub(crate) fn coded_body(instance: &str, coding: &str) -> Self {
        let detail = format!(
            "A body with Content-Encoding {coding:?} is not accepted: send it uncompressed (identity)."
        );
        Self::new(ProblemKind::UnsupportedMediaType, instance, detail)
    }

    /// 401: a write without a valid bearer token, while write tokens are configured.
    pub(crate) fn unauthorized(instance: &str) -> Self {
        Self::new(
            ProblemKind::Unauthorized,
            instance,
            "Writes need a valid token: send Authorization: Bearer <token>.",
        )
    }

    /// 409: the idempotency key's first request is still being answered.
    pub(crate) fn key_in_use(instance: &str) -> Self {
        Self::new(
            ProblemKind::KeyInUse,
            instance,
            "The first request with this Idempotency-Key is still being answered: nothing was \
             done; retry after Retry-After to get its answer.",
        )
    }

    /// 422: the idempotency key was used for another request.
    pub(crate) fn key_reused(instance: &str) -> Self {
        Self::new(
            ProblemKind::KeyReused,
            instance,
            "This Idempotency-Key was used for another request (its method, path or body \
             differ): nothing was done; use a new key for a new request.",
        )
    }

    /// 503: as many idempotency keys are live as the server may keep.
    pub(crate) fn keys_full(instance: &str) -> Self {
        Self::new(
            ProblemKind::KeysFull,
            instance,
            "The server keeps as many Idempotency-Keys as it may until some expire: nothing was \
             done; retry later, or without a key.",
        )
    }

    /// 429: the client has used its rate limit's quota; nothing was done.
    pub(crate) fn too_many_requests(instance: &str, retry_after: u64) -> Self {
        Self::new(
            ProblemKind::TooManyRequests,
            instance,
            format!(
                "This client has used its quota of requests for now (see RateLimit-Policy): \
                 nothing was done; retry in {retry_after} s."
            ),
        )
    }

    /// 403: a CORS preflight from an origin, or for a method or headers, that is not allowed.
    pub(crate) fn cors_refused(instance: &str) -> Self {
        Self::new(
            ProblemKind::Forbidden,
            instance,
            "Cross-origin requests from this origin, or with this method or these headers, are \
             not allowed.",
        )
    }

    /// 507: the store holds as many languages as it may.
    pub(crate) fn insufficient_storage(instance: &str) -> Self {
        Self::new(
            ProblemKind::InsufficientStorage,
            instance,
            "The store holds as many programming languages as it may: delete one first.",
        )
    }

    /// 503: the store cannot be reached; the response's `Retry-After` says when to try again, and
    /// the log has the cause.
    pub(crate) fn service_unavailable(instance: &str) -> Self {
        Self::new(
            ProblemKind::ServiceUnavailable,
            instance,
            "The database cannot be reached; try again shortly.",
        )
    }

    /// 503 from `/healthz` while the server is stopping (`--shutdown-delay`).
    pub(crate) fn stopping(instance: &str) -> Self {
        Self::new(
            ProblemKind::ShuttingDown,
            instance,
            "The server is stopping: it answers the requests it gets meanwhile, but takes no more \
             from a load balancer.",
        )
    }

    /// 500: a bug. The detail says nothing of it; the log has the cause.
    pub(crate) fn internal(instance: &str) -> Self {
        Self::new(
            ProblemKind::Internal,
            instance,
            "The server could not answer this request.",
        )
    }
}

/// What a 503 asks a client to wait, in seconds.
pub(crate) const RETRY_AFTER_SECONDS: &str = "2";

/// The most offending parts one 400 lists: an error is never much larger than the request that
/// caused it.
pub(crate) const MAX_LISTED: usize = 100;

impl Problem {
    /// This problem with at most `MAX_LISTED` entries in `errors`, and a `detail` that says how
    /// many there were, rather than naming them all.
    fn listing_at_most_the_first(mut self) -> Self {
        if let Some(errors) = self.errors.as_mut()
            && errors.len() > MAX_LISTED
        {
            let more = errors.len() - MAX_LISTED;
            errors.truncate(MAX_LISTED);
            self.detail = format!(
                "{} parts of the request are wrong: `errors` lists the first {MAX_LISTED}, \
                 and {more} more are not listed.",
                MAX_LISTED + more
            );
        }
        self
    }
}

impl Problem {
    /// The body: the one place every problem becomes bytes, so the one place the list is bounded.
    pub(crate) fn into_body(self) -> Vec<u8> {
        serde_json::to_vec(&self.listing_at_most_the_first()).unwrap_or_default()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = self.into_body();
        Response::builder()
            .status(status)
            .content_type(PROBLEM_JSON)
            .body(body)
    }
}

/// A problem as a response payload: `application/problem+json`, whatever the request's `Accept`.
#[derive(Debug, Clone)]
pub struct ProblemJson(pub Problem);

impl Payload for ProblemJson {
    const CONTENT_TYPE: &'static str = PROBLEM_JSON;

    fn check_content_type(content_type: &str) -> bool {
        content_type == PROBLEM_JSON
    }

    fn schema_ref() -> MetaSchemaRef {
        Problem::schema_ref()
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

impl IntoResponse for ProblemJson {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl ApiResponse for ProblemJson {
    fn meta() -> MetaResponses {
        response_meta::<Self>()
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

impl From<Problem> for ProblemJson {
    fn from(problem: Problem) -> Self {
        Self(problem)
    }
}

/// The spec's description of a payload answered on its own, with its media type and schema.
pub(crate) fn response_meta<P: Payload>() -> MetaResponses {
    MetaResponses {
        responses: vec![MetaResponse {
            description: "",
            status: Some(200),
            status_range: None,
            content: vec![MetaMediaType {
                content_type: P::CONTENT_TYPE,
                schema: P::schema_ref(),
            }],
            headers: vec![],
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_type_and_the_readme_lists_it() {
        let readme = include_str!("../README.md");
        let mut uris: Vec<&str> = ProblemKind::ALL.iter().map(|kind| kind.uri()).collect();
        for kind in ProblemKind::ALL {
            assert!(
                readme.contains(&format!("`{}`", kind.uri())),
                "README lists {}",
                kind.uri()
            );
        }
        uris.sort_unstable();
        uris.dedup();
        assert_eq!(uris.len(), ProblemKind::ALL.len());
    }
}
