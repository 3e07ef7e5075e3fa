//! The operations: one thin method per operation, each with the response enum that lists every
//! status it can return. The doc comments here are the spec's summaries and descriptions.
//!
//! Handlers turn requests into store calls and store facts into responses; the rules of the
//! resource live in `schema`, the data in `store`, the error bodies in `problem`.

use std::sync::Arc;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use poem::{Request, Result};
use poem_openapi::{ApiResponse, OpenApi, Tags, param::Path, param::Query};

use crate::{
    json::{BodyError, Json, JsonBody},
    page_token,
    problem::{Problem, ProblemJson},
    schema::{Health, Language, LanguageChanges, LanguagePage},
    store::{Page, Store, StoreError, Stored, YearFilter},
};

/// The path of the collection; a language lives at this path, a slash, and its encoded name.
pub(crate) const COLLECTION: &str = "/programming_languages";

/// A page holds this many languages unless the client asks otherwise.
const DEFAULT_LIMIT: i32 = 100;
/// A page holds at most this many languages; a larger `limit` is treated as this.
const MAX_LIMIT: i32 = 1000;

/// What a name is percent-encoded against in a `Location`: everything but RFC 3986's unreserved
/// characters, so that `/`, `?`, `#`, `%` and `+` in a name survive the trip through the path.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Tags)]
enum Tag {
    /// Programming languages: their names, publication years and contributions.
    #[oai(rename = "programming languages")]
    Languages,
    /// The service itself.
    #[oai(rename = "service")]
    Service,
}

/// The API's operations over one store.
pub(crate) struct Api {
    store: Store,
}

impl Api {
    pub(crate) fn new(store: Store) -> Self {
        Self { store }
    }
}

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
    Ok(Json<Arc<Language>>),
    /// A query parameter the operation does not take, or the path is not valid percent-encoded
    /// UTF-8.
    #[allow(dead_code)] // raised by the framework's parsers and `middleware::strict_query`
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// No language has this name.
    #[oai(status = 404)]
    NotFound(ProblemJson),
}

#[derive(ApiResponse)]
pub(crate) enum CreateLanguageResponse {
    /// Created; `Location` is the new language's path.
    #[oai(status = 201)]
    Created(
        Json<Arc<Language>>,
        /// The path of the new language, its name percent-encoded.
        #[oai(header = "Location")]
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
}

#[derive(ApiResponse)]
pub(crate) enum UpdateLanguageResponse {
    /// The language, updated.
    #[oai(status = 200)]
    Ok(Json<Arc<Language>>),
    /// The body is malformed, breaks a rule of the resource, or names another language; or a
    /// query parameter or the path is wrong.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// No language has this name.
    #[oai(status = 404)]
    NotFound(ProblemJson),
    /// The body is over 16 KiB.
    #[oai(status = 413)]
    PayloadTooLarge(ProblemJson),
    /// The body is not declared as JSON.
    #[oai(status = 415)]
    UnsupportedMediaType(ProblemJson),
}

#[derive(ApiResponse)]
pub(crate) enum DeleteLanguageResponse {
    /// Deleted; the body is the language as it was.
    #[oai(status = 200)]
    Ok(Json<Arc<Language>>),
    /// A query parameter the operation does not take, or the path is not valid percent-encoded
    /// UTF-8.
    #[allow(dead_code)] // raised by the framework's parsers and `middleware::strict_query`
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// No language has this name.
    #[oai(status = 404)]
    NotFound(ProblemJson),
}

#[derive(ApiResponse)]
pub(crate) enum HealthResponse {
    /// The service can answer requests.
    #[oai(status = 200)]
    Ok(Json<Health>),
    /// A query parameter the operation does not take.
    #[allow(dead_code)] // raised by `middleware::strict_query`
    #[oai(status = 400)]
    BadRequest(ProblemJson),
}

#[derive(ApiResponse)]
pub(crate) enum IndexResponse {
    /// The API's documentation.
    #[oai(status = 307)]
    TemporaryRedirect(#[oai(header = "Location")] String),
}

#[OpenApi]
impl Api {
    /// List programming languages
    ///
    /// Languages in insertion order, as the tutorial's dict keeps them: a deleted and re-created
    /// language goes to the end, an updated one keeps its place. `after_year` and `before_year` are
    /// exclusive bounds on the publication year. Results come in pages of `limit`; when more
    /// follow, `next_page_token` is set: pass it as `page_token`, with the same year filters, for
    /// the next page. A walk over all pages returns every language that exists throughout it
    /// exactly once, whatever is created or deleted meanwhile.
    #[oai(
        path = "/programming_languages",
        method = "get",
        operation_id = "list_languages",
        tag = "Tag::Languages"
    )]
    async fn list_languages(
        &self,
        request: &Request,
        /// Only languages published after this year (exclusive).
        after_year: Query<Option<i32>>,
        /// Only languages published before this year (exclusive).
        before_year: Query<Option<i32>>,
        /// The most languages to return, from 1; above 1000 it is treated as 1000.
        #[oai(default = "default_limit", validator(minimum(value = "1")))]
        limit: Query<i32>,
        /// The `next_page_token` of the previous page, to get the page after it.
        page_token: Query<Option<String>>,
    ) -> Result<ListLanguagesResponse> {
        let instance = request.original_uri().path();
        let filter = YearFilter {
            after: after_year.0,
            before: before_year.0,
        };
        let after = match page_token.0.as_deref() {
            None => None,
            Some(token) => match page_token::redeem(self.store.page_token_key(), token, filter) {
                Some(cursor) => Some(cursor),
                None => {
                    return Ok(ListLanguagesResponse::BadRequest(
                        Problem::invalid_parameter(
                            instance,
                            "page_token",
                            "not a token this API issued for these year filters",
                        )
                        .into(),
                    ));
                }
            },
        };
        let limit = usize::try_from(limit.0.clamp(1, MAX_LIMIT)).unwrap_or(1);
        match self.store.list(filter, after, limit).await {
            Ok(Page { languages, next }) => Ok(ListLanguagesResponse::Ok(Json(LanguagePage {
                programming_languages: languages,
                next_page_token: next
                    .map(|cursor| page_token::issue(self.store.page_token_key(), cursor, filter)),
            }))),
            Err(error) => Err(unexpected(error)),
        }
    }

    /// Get a programming language
    ///
    /// The language with exactly this name (case-sensitive). Percent-encode the name in the path:
    /// `PL/I` is `/programming_languages/PL%2FI`.
    #[oai(
        path = "/programming_languages/:name",
        method = "get",
        operation_id = "get_language",
        tag = "Tag::Languages"
    )]
    async fn get_language(
        &self,
        request: &Request,
        /// The language's name, percent-encoded.
        name: Path<String>,
    ) -> Result<GetLanguageResponse> {
        let instance = request.original_uri().path();
        one_language(
            self.store.get(&name).await,
            instance,
            GetLanguageResponse::Ok,
            GetLanguageResponse::NotFound,
        )
    }

    /// Create a programming language
    ///
    /// Adds a language at the end of the list. All three fields are required. A name that exists
    /// already is a 409: update that language, or delete it first.
    #[oai(
        path = "/programming_languages",
        method = "post",
        operation_id = "create_language",
        tag = "Tag::Languages"
    )]
    async fn create_language(
        &self,
        request: &Request,
        body: JsonBody<Language>,
    ) -> Result<CreateLanguageResponse> {
        let instance = request.original_uri().path();
        let language = match body.0 {
            Ok(language) => language,
            Err(error) => return Ok(CreateLanguageResponse::rejected(error, instance)),
        };
        let errors = language.validate();
        if !errors.is_empty() {
            return Ok(CreateLanguageResponse::BadRequest(
                Problem::invalid_fields(instance, errors).into(),
            ));
        }
        let name = language.name.clone();
        match self.store.create(language).await {
            Ok(stored) => {
                let location = location(&stored.language.name);
                Ok(CreateLanguageResponse::Created(
                    Json(stored.language),
                    location,
                ))
            }
            Err(StoreError::AlreadyExists) => Ok(CreateLanguageResponse::Conflict(
                Problem::already_exists(instance, &name).into(),
            )),
            Err(error) => Err(unexpected(error)),
        }
    }

    /// Update a programming language
    ///
    /// Changes the fields the body gives and keeps the others, as the tutorial's PUT does:
    /// `{"contribution": "The JVM"}` changes only the contribution, `{}` changes nothing. A `name`
    /// in the body must be the one in the path: a rename is a delete and a create.
    #[oai(
        path = "/programming_languages/:name",
        method = "put",
        operation_id = "update_language",
        tag = "Tag::Languages"
    )]
    async fn update_language(
        &self,
        request: &Request,
        /// The language's name, percent-encoded.
        name: Path<String>,
        body: JsonBody<LanguageChanges>,
    ) -> Result<UpdateLanguageResponse> {
        let instance = request.original_uri().path();
        let changes = match self.check_changes(instance, &name, body).await {
            Ok(changes) => changes,
            Err(rejection) => return Ok(rejection.into()),
        };
        one_language(
            self.store.update(&name, changes).await,
            instance,
            UpdateLanguageResponse::Ok,
            UpdateLanguageResponse::NotFound,
        )
    }

    /// Delete a programming language
    ///
    /// Removes the language and returns it as it was, as the tutorial does.
    #[oai(
        path = "/programming_languages/:name",
        method = "delete",
        operation_id = "delete_language",
        tag = "Tag::Languages"
    )]
    async fn delete_language(
        &self,
        request: &Request,
        /// The language's name, percent-encoded.
        name: Path<String>,
    ) -> Result<DeleteLanguageResponse> {
        let instance = request.original_uri().path();
        one_language(
            self.store.delete(&name).await,
            instance,
            DeleteLanguageResponse::Ok,
            DeleteLanguageResponse::NotFound,
        )
    }

    /// Check the service's health
    ///
    /// `{"status": "ok"}` while the service can answer requests: for load balancers and probes.
    #[oai(
        path = "/healthz",
        method = "get",
        operation_id = "health",
        tag = "Tag::Service"
    )]
    async fn health(&self) -> Result<HealthResponse> {
        match self.store.health().await {
            Ok(()) => Ok(HealthResponse::Ok(Json(Health::ok()))),
            Err(error) => Err(unexpected(error)),
        }
    }

    /// The API's front door: its documentation.
    #[oai(path = "/", method = "get", hidden)]
    async fn index(&self) -> IndexResponse {
        IndexResponse::TemporaryRedirect(crate::routes::DOCS.to_owned())
    }
}

/// Why a body of changes was refused, before the store was asked to apply it.
enum Rejection {
    /// No language has the name in the path: 404 comes before anything wrong with the body.
    NotFound(Problem),
    /// The body could not be read as changes.
    Body(BodyError, String),
    /// The changes break a rule of the resource, or rename the language.
    Invalid(Problem),
}

impl Api {
    /// The changes in `body`, if they may be applied to the language `name`.
    async fn check_changes(
        &self,
        instance: &str,
        name: &str,
        body: JsonBody<LanguageChanges>,
    ) -> Result<LanguageChanges, Rejection> {
        let refusal = match body.0 {
            Ok(changes) => {
                let errors = changes.validate();
                if !errors.is_empty() {
                    Rejection::Invalid(Problem::invalid_fields(instance, errors))
                } else if changes.name.as_deref().is_some_and(|new| new != name) {
                    Rejection::Invalid(Problem::renamed(instance))
                } else {
                    return Ok(changes);
                }
            }
            Err(error) => Rejection::Body(error, instance.to_owned()),
        };
        match self.store.get(name).await {
            Err(StoreError::NotFound) => {
                Err(Rejection::NotFound(Problem::language_not_found(instance)))
            }
            _ => Err(refusal),
        }
    }
}

impl From<Rejection> for UpdateLanguageResponse {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::NotFound(problem) => Self::NotFound(problem.into()),
            Rejection::Invalid(problem) => Self::BadRequest(problem.into()),
            Rejection::Body(error, instance) => Self::rejected(error, &instance),
        }
    }
}

/// The answer of an operation on one existing language: the language, or 404 when there is none.
fn one_language<R>(
    result: Result<Stored, StoreError>,
    instance: &str,
    found: impl FnOnce(Json<Arc<Language>>) -> R,
    missing: impl FnOnce(ProblemJson) -> R,
) -> Result<R> {
    match result {
        Ok(stored) => Ok(found(Json(stored.language))),
        Err(StoreError::NotFound) => Ok(missing(Problem::language_not_found(instance).into())),
        Err(error) => Err(unexpected(error)),
    }
}

/// The relative reference of the language named `name`.
fn location(name: &str) -> String {
    format!("{COLLECTION}/{}", utf8_percent_encode(name, PATH_SEGMENT))
}

fn default_limit() -> i32 {
    DEFAULT_LIMIT
}

/// A store error that this operation cannot produce: a bug, answered as a 500 problem that shows
/// none of it (`problem::catch_errors` logs it).
fn unexpected(error: StoreError) -> poem::Error {
    poem::Error::from_string(
        format!("store error that this operation does not expect: {error}"),
        poem::http::StatusCode::INTERNAL_SERVER_ERROR,
    )
}

/// Maps a refused body to the response that declares its status.
trait RejectedBody {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_encode_every_reserved_character() {
        assert_eq!(location("PL/I"), "/programming_languages/PL%2FI");
        assert_eq!(location("C++"), "/programming_languages/C%2B%2B");
        assert_eq!(location("C#"), "/programming_languages/C%23");
        assert_eq!(location("Café"), "/programming_languages/Caf%C3%A9");
        assert_eq!(location("a b?%"), "/programming_languages/a%20b%3F%25");
        assert_eq!(
            location("Objective-C"),
            "/programming_languages/Objective-C"
        );
    }
}
