//! The response enums, one per operation, each listing every status the operation can return
//! (the spec's responses come from these), and the mapping of store facts and refused bodies to
//! their variants.

use std::marker::PhantomData;

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{
    ApiResponse,
    registry::{MetaResponses, Registry},
};

use super::wire::{Health, LanguagePage};
use crate::{
    json::{BodyError, Json},
    problem::{Problem, ProblemJson},
    store::{StoreError, Stored},
};

#[derive(ApiResponse)]
pub(crate) enum ListLanguagesResponse {
    /// A page of languages, in insertion order.
    #[oai(status = 200)]
    Ok(Json<LanguagePage>),
    /// A parameter is not an integer, out of range, unknown or repeated, or a page token that was
    /// not issued for these filters.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
}

#[derive(ApiResponse)]
pub(crate) enum GetLanguageResponse {
    /// The language.
    #[oai(status = 200)]
    Ok(
        Json<Stored>,
        /// This state of the language: send it in `If-None-Match` or `If-Match`.
        #[oai(header = "ETag")]
        String,
    ),
    /// The language has not changed since the ETag given in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(
        /// This state of the language.
        #[oai(header = "ETag")]
        String,
    ),
    /// A query parameter the operation does not take, or a path that is not valid percent-encoded
    /// UTF-8.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// No language has this name.
    #[oai(status = 404)]
    NotFound(ProblemJson),
}

#[derive(ApiResponse)]
pub(crate) enum CreateLanguageResponse {
    /// Created; `Location` is the new language's path.
    #[oai(
        status = 201,
        header(
            name = "Idempotent-Replayed",
            ty = "Option<bool>",
            description = "`true` on the answer kept for an earlier request with the same `Idempotency-Key`: this one changed nothing. Absent otherwise."
        )
    )]
    Created(
        Json<Stored>,
        /// The path of the new language, its name percent-encoded.
        #[oai(header = "Location")]
        String,
        /// This state of the language: send it in `If-None-Match` or `If-Match`.
        #[oai(header = "ETag")]
        String,
    ),
    /// The body is malformed or breaks a rule of the resource, or a query parameter is given.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// A language of this name exists already; or (`/problems/idempotency-key-in-use`, with `Retry-After`) the first request with this `Idempotency-Key` is still being answered.
    #[oai(status = 409)]
    Conflict(ProblemJson),
    /// The body did not arrive within the body-read timeout; the connection is closed.
    #[oai(status = 408)]
    RequestTimeout(ProblemJson),
    /// The body is over 16 KiB.
    #[oai(status = 413)]
    PayloadTooLarge(ProblemJson),
    /// The body is not declared as JSON, or comes compressed (a `Content-Encoding`).
    #[oai(status = 415)]
    UnsupportedMediaType(ProblemJson),
    /// The store holds `--max-languages` languages: nothing was created.
    #[oai(status = 507)]
    InsufficientStorage(ProblemJson),
}

/// PUT and PATCH have one meaning, so one set of answers.
#[derive(ApiResponse)]
pub(crate) enum UpdateLanguageResponse {
    /// The language, updated.
    #[oai(
        status = 200,
        header(
            name = "Idempotent-Replayed",
            ty = "Option<bool>",
            description = "`true` on the answer kept for an earlier request with the same `Idempotency-Key`: this one changed nothing. Absent otherwise."
        )
    )]
    Ok(
        Json<Stored>,
        /// The new state of the language.
        #[oai(header = "ETag")]
        String,
    ),
    /// The body is malformed, breaks a rule of the resource, or names another language; or a
    /// query parameter or the path is malformed.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// No language has this name.
    #[oai(status = 404)]
    NotFound(ProblemJson),
    /// `If-Match` does not match the language's current ETag: nothing was changed.
    #[oai(status = 412)]
    PreconditionFailed(ProblemJson),
    /// The body did not arrive within the body-read timeout; the connection is closed.
    #[oai(status = 408)]
    RequestTimeout(ProblemJson),
    /// The body is over 16 KiB.
    #[oai(status = 413)]
    PayloadTooLarge(ProblemJson),
    /// The body is not declared as JSON, or comes compressed (a `Content-Encoding`).
    #[oai(status = 415)]
    UnsupportedMediaType(ProblemJson),
}

/// PATCH answers as PUT does.
pub(crate) type PatchLanguageResponse = UpdateLanguageResponse;

#[derive(ApiResponse)]
pub(crate) enum DeleteLanguageResponse {
    /// Deleted; the body is the language as it was.
    #[oai(
        status = 200,
        header(
            name = "Idempotent-Replayed",
            ty = "Option<bool>",
            description = "`true` on the answer kept for an earlier request with the same `Idempotency-Key`: this one changed nothing. Absent otherwise."
        )
    )]
    Ok(
        Json<Stored>,
        /// The state of the language that was deleted.
        #[oai(header = "ETag")]
        String,
    ),
    /// A query parameter the operation does not take, or a path that is not valid percent-encoded
    /// UTF-8.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// No language has this name.
    #[oai(status = 404)]
    NotFound(ProblemJson),
    /// `If-Match` does not match the language's current ETag: nothing was deleted.
    #[oai(status = 412)]
    PreconditionFailed(ProblemJson),
}

#[derive(ApiResponse)]
pub(crate) enum HealthResponse {
    /// The service can answer requests.
    #[oai(status = 200)]
    Ok(Json<Health>),
    /// A query parameter the operation does not take.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
}

#[derive(ApiResponse)]
pub(crate) enum IndexResponse {
    /// The API's documentation.
    #[oai(status = 307)]
    TemporaryRedirect(#[oai(header = "Location")] String),
}

/// The answer every operation shares, declared once: poem-openapi merges its responses into each
/// operation's (`Result<Response, Failure>`).
#[derive(ApiResponse)]
pub(crate) enum Unavailable {
    /// The database cannot be reached (PostgreSQL store only), as many `Idempotency-Key`s are live as the server keeps, or, for `/healthz`, the server is stopping: try again after `Retry-After`.
    #[oai(status = 503)]
    ServiceUnavailable(
        ProblemJson,
        /// Seconds to wait before trying again.
        #[oai(header = "Retry-After")]
        String,
    ),
}

/// What a write meets before it is carried out, besides the shared 503: declared here, on the
/// operations that take a `WriteToken`, and answered by the write-token guard
/// (`middleware::tokens`), which runs before the operation.
#[derive(ApiResponse)]
pub(crate) enum WriteRefused {
    /// Write tokens are configured and the request has no valid one: nothing was changed.
    #[oai(status = 401)]
    Unauthorized(
        ProblemJson,
        /// `Bearer`: the scheme the token goes in; `Bearer error="invalid_token"` when a token was sent and is not valid (RFC 6750).
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
}

/// What every operation but the health check meets before it runs while rate limits are on: the
/// limit's 429, answered by the layers (`middleware::rate_limit`).
#[derive(ApiResponse)]
pub(crate) enum Limited {
    /// This client is over its rate limit (`--rate-limit`): nothing was done; retry after `Retry-After`.
    #[oai(status = 429)]
    TooManyRequests(
        ProblemJson,
        /// Seconds to wait before the next request.
        #[oai(header = "Retry-After")]
        String,
        /// The limit: `"default";q=N;w=SECS`, N requests per SECS seconds (on every response while limits are on).
        #[oai(header = "RateLimit-Policy")]
        String,
        /// Where the client stands: `"default";r=REMAINING;t=SECS`, the requests left and the seconds until the whole quota is back (on every response while limits are on).
        #[oai(header = "RateLimit")]
        String,
    ),
}

/// What a write with an `Idempotency-Key` meets before it runs (README, "Retries"), answered by
/// the layers (`middleware::idempotency`): the key's first request still running (the create
/// declares its 409 itself, beside its own).
#[derive(ApiResponse)]
pub(crate) enum KeyInUse {
    /// The first request with this `Idempotency-Key` is still being answered: nothing was done; retry after `Retry-After` to get its answer.
    #[oai(status = 409)]
    Conflict(
        ProblemJson,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        String,
    ),
}

/// The key used for another request.
#[derive(ApiResponse)]
pub(crate) enum KeyReused {
    /// This `Idempotency-Key` was used for another request (its method, path or body differ): nothing was done.
    #[oai(status = 422)]
    UnprocessableEntity(ProblemJson),
}

/// Two sets of answers, `A`'s and `B`'s: what `Failure` adds to the shared ones.
pub(crate) struct And<A, B>(PhantomData<(A, B)>);

impl<A: ApiResponse, B: ApiResponse> ApiResponse for And<A, B> {
    fn meta() -> MetaResponses {
        let mut meta = A::meta();
        meta.responses.extend(B::meta().responses);
        meta
    }

    fn register(registry: &mut Registry) {
        A::register(registry);
        B::register(registry);
    }
}

/// No answer beyond the shared ones.
pub(crate) struct Nothing;

impl ApiResponse for Nothing {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: Vec::new(),
        }
    }

    fn register(_: &mut Registry) {}
}

/// What any operation may fail with: the store out of reach (a 503, declared by `Unavailable`),
/// or a bug, answered by the error boundary as a 500 problem that shows none of it. `Also`
/// declares the answers some operations meet before they run (the writes' `WriteRefused`).
pub(crate) struct Failure<Also = Nothing>(poem::Error, PhantomData<fn() -> Also>);

impl<Also> Failure<Also> {
    fn new(error: poem::Error) -> Self {
        Self(error, PhantomData)
    }
}

impl<Also: ApiResponse> ApiResponse for Failure<Also> {
    fn meta() -> MetaResponses {
        let mut meta = Unavailable::meta();
        meta.responses.extend(Also::meta().responses);
        meta
    }

    fn register(registry: &mut Registry) {
        Unavailable::register(registry);
        Also::register(registry);
    }
}

impl<Also> IntoResponse for Failure<Also> {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl<Also> From<Failure<Also>> for poem::Error {
    fn from(failure: Failure<Also>) -> Self {
        failure.0
    }
}

/// The 503 of `/healthz` while the server is stopping: another server, or this one restarted,
/// answers after `Retry-After`.
pub(super) fn stopping(instance: &str) -> Failure {
    let response = Unavailable::ServiceUnavailable(
        Problem::stopping(instance).into(),
        crate::problem::RETRY_AFTER_SECONDS.to_owned(),
    );
    Failure::new(poem::Error::from_response(response.into_response()))
}

/// How an operation's response answers each fact of the store: the variant that declares it, or
/// the shared failure. Each operation names only the facts it can meet.
pub(super) trait Answer: Sized {
    /// The 400 that names what was wrong with the request.
    fn bad_request(problem: ProblemJson) -> Self;

    /// The answer to a body refused with a status of its own (`checks::Refused::Body`): only the
    /// operations that read a body meet one, and declare its statuses.
    fn rejected(error: BodyError, instance: &str) -> Self {
        Self::bad_request(error.into_problem(instance).into())
    }

    /// The variant that answers `error` with `problem`, where the operation declares one.
    fn declared(error: &StoreError, problem: ProblemJson) -> Option<Self> {
        let _ = (error, problem);
        None
    }

    /// The answer to `error`, met on the request for `instance`.
    fn answer<Also>(error: StoreError, instance: &str) -> Result<Self, Failure<Also>> {
        let problem = match error {
            StoreError::NotFound => Problem::language_not_found(instance),
            StoreError::AlreadyExists => Problem::already_exists(instance),
            StoreError::PreconditionFailed => Problem::precondition_failed(instance),
            StoreError::Full => Problem::insufficient_storage(instance),
            StoreError::Unavailable => {
                let problem = Problem::service_unavailable(instance).into();
                let retry_after = crate::problem::RETRY_AFTER_SECONDS.to_owned();
                let response = Unavailable::ServiceUnavailable(problem, retry_after);
                return Err(Failure::new(poem::Error::from_response(
                    response.into_response(),
                )));
            }
        };
        Self::declared(&error, problem.into()).ok_or_else(|| {
            Failure::new(poem::Error::from_string(
                format!("store error that this operation does not expect: {error}"),
                StatusCode::INTERNAL_SERVER_ERROR,
            ))
        })
    }
}

/// The 413, 408, 415 or 400 that answers a refused body, in the response enum of an operation
/// that reads one (`Self`), which declares them.
macro_rules! rejected_body {
    ($error:expr, $instance:expr) => {{
        let error: BodyError = $error;
        let problem = ProblemJson(error.clone().into_problem($instance));
        match error {
            BodyError::TooLarge => Self::PayloadTooLarge(problem),
            BodyError::TimedOut => Self::RequestTimeout(problem),
            BodyError::NotJson { .. } => Self::UnsupportedMediaType(problem),
            BodyError::Malformed { .. } | BodyError::Fields(_) => Self::BadRequest(problem),
        }
    }};
}

/// The operations whose only refusal is the 400: `Answer` but for `bad_request`, which each one's
/// `BadRequest` variant answers.
macro_rules! answer_bad_requests {
    ($($response:ty),*) => {$(
        impl Answer for $response {
            fn bad_request(problem: ProblemJson) -> Self {
                Self::BadRequest(problem)
            }
        }
    )*};
}

answer_bad_requests!(ListLanguagesResponse, HealthResponse);

impl Answer for GetLanguageResponse {
    fn bad_request(problem: ProblemJson) -> Self {
        Self::BadRequest(problem)
    }

    fn declared(error: &StoreError, problem: ProblemJson) -> Option<Self> {
        matches!(error, StoreError::NotFound).then(|| Self::NotFound(problem))
    }
}

impl Answer for CreateLanguageResponse {
    fn bad_request(problem: ProblemJson) -> Self {
        Self::BadRequest(problem)
    }

    fn rejected(error: BodyError, instance: &str) -> Self {
        rejected_body!(error, instance)
    }

    fn declared(error: &StoreError, problem: ProblemJson) -> Option<Self> {
        match error {
            StoreError::AlreadyExists => Some(Self::Conflict(problem)),
            StoreError::Full => Some(Self::InsufficientStorage(problem)),
            _ => None,
        }
    }
}

/// PUT, PATCH and DELETE meet the same facts; PUT and PATCH read a body.
macro_rules! answer_changes {
    ($($response:ty { $($more:item)* }),*) => {$(
        impl Answer for $response {
            fn bad_request(problem: ProblemJson) -> Self {
                Self::BadRequest(problem)
            }

            $($more)*

            fn declared(error: &StoreError, problem: ProblemJson) -> Option<Self> {
                match error {
                    StoreError::NotFound => Some(Self::NotFound(problem)),
                    StoreError::PreconditionFailed => Some(Self::PreconditionFailed(problem)),
                    _ => None,
                }
            }
        }
    )*};
}

answer_changes!(
    UpdateLanguageResponse {
        fn rejected(error: BodyError, instance: &str) -> Self {
            rejected_body!(error, instance)
        }
    },
    DeleteLanguageResponse {}
);
