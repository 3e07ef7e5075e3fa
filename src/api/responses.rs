//! The response enums, one per operation, each listing every status the operation can return
//! (the spec's responses come from these), and the mapping of store facts and refused bodies to
//! their variants.

use poem::Result;
use poem_openapi::ApiResponse;

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
    /// The database cannot be reached (PostgreSQL store only): try again after `Retry-After`.
    #[oai(status = 503)]
    ServiceUnavailable(
        ProblemJson,
        /// Seconds to wait before trying again.
        #[oai(header = "Retry-After")]
        String,
    ),
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
    #[allow(dead_code)] // raised by the framework's parsers and `middleware::check_request`
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// No language has this name.
    #[oai(status = 404)]
    NotFound(ProblemJson),
    /// The database cannot be reached (PostgreSQL store only): try again after `Retry-After`.
    #[oai(status = 503)]
    ServiceUnavailable(
        ProblemJson,
        /// Seconds to wait before trying again.
        #[oai(header = "Retry-After")]
        String,
    ),
}

#[derive(ApiResponse)]
pub(crate) enum CreateLanguageResponse {
    /// Created; `Location` is the new language's path.
    #[oai(status = 201)]
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
    /// A language of this name exists already.
    #[oai(status = 409)]
    Conflict(ProblemJson),
    /// The body is over 16 KiB.
    #[oai(status = 413)]
    PayloadTooLarge(ProblemJson),
    /// The body is not declared as JSON.
    #[oai(status = 415)]
    UnsupportedMediaType(ProblemJson),
    /// The store holds `--max-languages` languages: nothing was created.
    #[oai(status = 507)]
    InsufficientStorage(ProblemJson),
    /// The database cannot be reached (PostgreSQL store only): try again after `Retry-After`.
    #[oai(status = 503)]
    ServiceUnavailable(
        ProblemJson,
        /// Seconds to wait before trying again.
        #[oai(header = "Retry-After")]
        String,
    ),
}

/// PUT and PATCH have one meaning, so one set of answers.
#[derive(ApiResponse)]
pub(crate) enum UpdateLanguageResponse {
    /// The language, updated.
    #[oai(status = 200)]
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
    /// The body is over 16 KiB.
    #[oai(status = 413)]
    PayloadTooLarge(ProblemJson),
    /// The body is not declared as JSON.
    #[oai(status = 415)]
    UnsupportedMediaType(ProblemJson),
    /// The database cannot be reached (PostgreSQL store only): try again after `Retry-After`.
    #[oai(status = 503)]
    ServiceUnavailable(
        ProblemJson,
        /// Seconds to wait before trying again.
        #[oai(header = "Retry-After")]
        String,
    ),
}

/// PATCH answers as PUT does.
pub(crate) type PatchLanguageResponse = UpdateLanguageResponse;

#[derive(ApiResponse)]
pub(crate) enum DeleteLanguageResponse {
    /// Deleted; the body is the language as it was.
    #[oai(status = 200)]
    Ok(
        Json<Stored>,
        /// The state of the language that was deleted.
        #[oai(header = "ETag")]
        String,
    ),
    /// A query parameter the operation does not take, or a path that is not valid percent-encoded
    /// UTF-8.
    #[allow(dead_code)] // raised by the framework's parsers and `middleware::check_request`
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// No language has this name.
    #[oai(status = 404)]
    NotFound(ProblemJson),
    /// `If-Match` does not match the language's current ETag: nothing was deleted.
    #[oai(status = 412)]
    PreconditionFailed(ProblemJson),
    /// The database cannot be reached (PostgreSQL store only): try again after `Retry-After`.
    #[oai(status = 503)]
    ServiceUnavailable(
        ProblemJson,
        /// Seconds to wait before trying again.
        #[oai(header = "Retry-After")]
        String,
    ),
}

#[derive(ApiResponse)]
pub(crate) enum HealthResponse {
    /// The service can answer requests.
    #[oai(status = 200)]
    Ok(Json<Health>),
    /// A query parameter the operation does not take.
    #[allow(dead_code)] // raised by `middleware::check_request`
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// The database cannot be reached (PostgreSQL store only): try again after `Retry-After`.
    #[oai(status = 503)]
    ServiceUnavailable(
        ProblemJson,
        /// Seconds to wait before trying again.
        #[oai(header = "Retry-After")]
        String,
    ),
}

#[derive(ApiResponse)]
pub(crate) enum IndexResponse {
    /// The API's documentation.
    #[oai(status = 307)]
    TemporaryRedirect(#[oai(header = "Location")] String),
}

/// The variant of an operation's response that answers a store fact, where it declares one.
pub(super) trait AnswerError: Sized {
    fn for_error(error: &StoreError, problem: ProblemJson) -> Option<Self>;
}

/// The `Retry-After` of a 503, in seconds.
fn retry_after() -> String {
    crate::problem::RETRY_AFTER_SECONDS.to_owned()
}

/// The response that answers `error`; a fact the operation does not declare is a bug (500).
pub(super) fn answer_error<R: AnswerError>(error: StoreError, instance: &str) -> Result<R> {
    let problem = match error {
        StoreError::NotFound => Problem::language_not_found(instance),
        StoreError::AlreadyExists => Problem::already_exists(instance),
        StoreError::PreconditionFailed => Problem::precondition_failed(instance),
        StoreError::Full => Problem::insufficient_storage(instance),
        StoreError::Unavailable => Problem::service_unavailable(instance),
    };
    R::for_error(&error, problem.into()).ok_or_else(|| unexpected(error))
}

/// A store error that an operation cannot produce: a bug, answered as a 500 problem that shows
/// none of it (`problem::catch_errors` logs it).
fn unexpected(error: StoreError) -> poem::Error {
    poem::Error::from_string(
        format!("store error that this operation does not expect: {error}"),
        poem::http::StatusCode::INTERNAL_SERVER_ERROR,
    )
}

impl AnswerError for ListLanguagesResponse {
    fn for_error(error: &StoreError, problem: ProblemJson) -> Option<Self> {
        match error {
            StoreError::Unavailable => Some(Self::ServiceUnavailable(problem, retry_after())),
            _ => None,
        }
    }
}

impl AnswerError for HealthResponse {
    fn for_error(error: &StoreError, problem: ProblemJson) -> Option<Self> {
        match error {
            StoreError::Unavailable => Some(Self::ServiceUnavailable(problem, retry_after())),
            _ => None,
        }
    }
}

impl AnswerError for GetLanguageResponse {
    fn for_error(error: &StoreError, problem: ProblemJson) -> Option<Self> {
        match error {
            StoreError::Unavailable => Some(Self::ServiceUnavailable(problem, retry_after())),
            StoreError::NotFound => Some(Self::NotFound(problem)),
            _ => None,
        }
    }
}

impl AnswerError for CreateLanguageResponse {
    fn for_error(error: &StoreError, problem: ProblemJson) -> Option<Self> {
        match error {
            StoreError::Unavailable => Some(Self::ServiceUnavailable(problem, retry_after())),
            StoreError::AlreadyExists => Some(Self::Conflict(problem)),
            StoreError::Full => Some(Self::InsufficientStorage(problem)),
            _ => None,
        }
    }
}

impl AnswerError for UpdateLanguageResponse {
    fn for_error(error: &StoreError, problem: ProblemJson) -> Option<Self> {
        match error {
            StoreError::Unavailable => Some(Self::ServiceUnavailable(problem, retry_after())),
            StoreError::NotFound => Some(Self::NotFound(problem)),
            StoreError::PreconditionFailed => Some(Self::PreconditionFailed(problem)),
            _ => None,
        }
    }
}

impl AnswerError for DeleteLanguageResponse {
    fn for_error(error: &StoreError, problem: ProblemJson) -> Option<Self> {
        match error {
            StoreError::Unavailable => Some(Self::ServiceUnavailable(problem, retry_after())),
            StoreError::NotFound => Some(Self::NotFound(problem)),
            StoreError::PreconditionFailed => Some(Self::PreconditionFailed(problem)),
            _ => None,
        }
    }
}

/// The variant of an operation's response that answers a refused body.
pub(super) trait RejectedBody {
    fn rejected(error: BodyError, instance: &str) -> Self;
}

impl RejectedBody for CreateLanguageResponse {
    fn rejected(error: BodyError, instance: &str) -> Self {
        let problem = ProblemJson(error.clone().into_problem(instance));
        match error {
            BodyError::TooLarge => Self::PayloadTooLarge(problem),
            BodyError::NotJson { .. } => Self::UnsupportedMediaType(problem),
            BodyError::Invalid { .. } => Self::BadRequest(problem),
        }
    }
}

impl RejectedBody for UpdateLanguageResponse {
    fn rejected(error: BodyError, instance: &str) -> Self {
        let problem = ProblemJson(error.clone().into_problem(instance));
        match error {
            BodyError::TooLarge => Self::PayloadTooLarge(problem),
            BodyError::NotJson { .. } => Self::UnsupportedMediaType(problem),
            BodyError::Invalid { .. } => Self::BadRequest(problem),
        }
    }
}
