//! The operations: one thin method per operation, each with the response enum that lists every
//! status it can return. The doc comments here are the spec's summaries and descriptions.
//!
//! Handlers turn requests into store calls and store facts into responses; the rules of the
//! resource live in `language`, the data in `store`, the error bodies in `problem`. A handler
//! reaches the store only by passing the request checks (`checks`), so none can forget them.

mod checks;
mod key;
mod responses;
mod wire;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures_util::FutureExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use poem::{FromRequest, IntoResponse, Request, RequestBody, http::StatusCode};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions, OpenApi, Tags,
    param::{Header, Path, Query},
    registry::{MetaSecurityScheme, Registry},
};

use checks::Checks;
use key::IdempotencyKey;
pub(crate) use key::parse_key;
use responses::{
    And, Answer, CreateLanguageResponse, DeleteLanguageResponse, Failure, GetLanguageResponse,
    HealthResponse, IndexResponse, ListLanguagesResponse, Nothing, PatchLanguageResponse,
    UpdateLanguageResponse,
};
pub(crate) use responses::{KeyInUse, KeyReused, Limited, WriteRefused};
use wire::{Health, LanguagePage};

use crate::{
    compression::{self, Accepted, Coding},
    conditional::{self, EntityTags, etag},
    json::{BodyError, Json, JsonBody, MERGE_PATCH},
    language::{Language, LanguageChanges},
    page_token,
    problem::Problem,
    routes::RouteTable,
    store::{Kept, Keyed, Lease, Page, Store, StoreError, Stored, YearFilter},
};

/// A 400 that the request checks found in the query, left for the operation to answer: it may add
/// its own findings (a page token, a body) to it, and a missing language is a 404 first (README,
/// "Choices where the contract leaves room").
#[derive(Clone)]
pub(crate) struct Refusal(pub(crate) Problem);

/// Whether the server is stopping: set on SIGINT or SIGTERM while `--shutdown-delay` runs, for
/// `/healthz` to answer 503 and every response to close its connection, so that a load balancer
/// takes the server out before it stops. Request data, set by `app`.
#[derive(Clone, Default)]
pub(crate) struct Stopping(Arc<AtomicBool>);

impl Stopping {
    pub(crate) fn begin(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_under_way(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The idempotency key of a write that runs: its lease, which the write completes in the same
/// step as itself (`store::Keyed`), and whether it did. Request data, set by the layers.
#[derive(Clone)]
pub(crate) struct RunningKey {
    pub(crate) lease: Arc<Lease>,
    pub(crate) ttl: Duration,
    completed: Arc<AtomicBool>,
}

impl RunningKey {
    pub(crate) fn new(lease: Lease, ttl: Duration) -> Self {
        Self {
            lease: Arc::new(lease),
            ttl,
            completed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether a write completed the key with its answer.
    pub(crate) fn completed(&self) -> bool {
        self.completed.load(Ordering::Relaxed)
    }

    /// The key, for a write whose answer `answer` makes.
    fn keyed<'a>(
        &'a self,
        answer: &'a (dyn Fn(&Result<Stored, StoreError>) -> Option<Kept> + Sync),
    ) -> Keyed<'a> {
        Keyed {
            lease: &self.lease,
            ttl: self.ttl,
            answer,
        }
    }

    /// Notes that a keyed write ended with `outcome`: the store settled the key in the same step,
    /// unless the store could not be reached (then the layers give the key up).
    fn ran(&self, outcome: &Result<Stored, StoreError>) {
        if !matches!(outcome, Err(StoreError::Unavailable)) {
            self.completed.store(true, Ordering::Relaxed);
        }
    }
}

/// The ETag of a write's outcome, computed once however often its answer is rendered: into the
/// copy its idempotency key keeps, then into the response.
#[derive(Default)]
struct OutcomeTag(std::sync::OnceLock<String>);

impl OutcomeTag {
    fn of(&self, language: &Stored) -> String {
        self.0.get_or_init(|| etag(language)).clone()
    }
}

/// The answer kept for a key: `answer`'s status, body and the fields a repeat gets; none for a
/// 5xx, which is not kept (a retry runs again).
fn kept<R: IntoResponse, Also>(answer: Answered<R, Also>) -> Option<Kept> {
    let response = match answer {
        Ok(answer) => answer.into_response(),
        Err(failure) => failure.into_response(),
    };
    if response.status().is_server_error() {
        return None;
    }
    let field = |name| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let (status, content_type, etag, location) = (
        response.status().as_u16(),
        field(poem::http::header::CONTENT_TYPE),
        field(poem::http::header::ETAG),
        field(poem::http::header::LOCATION),
    );
    // The operations' bodies are in memory: ready at once. (Were one not, the answer would be
    // kept without it rather than not at all: a key given up beside a write that happened would
    // let its retry write again.)
    let body = response
        .into_body()
        .into_vec()
        .now_or_never()
        .and_then(Result::ok)
        .unwrap_or_default();
    Some(Kept {
        status,
        content_type,
        etag,
        location,
        body,
    })
}

/// What every operation reads besides its declared parameters: the request checks' verdict, the
/// only way to the store (request data, set by the layers); the route table; the path as
/// received (a problem's `instance`). Not a parameter of the spec.
struct Context<'a> {
    checks: Checks<'a>,
    routes: &'a RouteTable,
    instance: &'a str,
    /// Whether the server is stopping (`Stopping`).
    stopping: bool,
    /// The idempotency key of a write that carries one.
    key: Option<RunningKey>,
    /// The coding the response will be compressed with, if it is long enough.
    coding: Option<Coding>,
}

/// The ETag a 200 with `language` would carry: its coding's, when the body would be compressed
/// (`compression::coding_for`). A 304 carries it too, standing for that 200 (RFC 9110 §15.4.5).
fn etag_sent(preferred: Option<Coding>, etag: String, language: &Stored) -> String {
    let len = serde_json::to_vec(language).map_or(0, |body| body.len());
    match compression::coding_for(preferred, len) {
        Some(coding) => conditional::coded(&etag, coding.token()),
        None => etag,
    }
}

impl<'a> FromRequest<'a> for Context<'a> {
    async fn from_request(request: &'a Request, _: &mut RequestBody) -> poem::Result<Self> {
        let missing = || poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR);
        let instance = request.original_uri().path();
        let refused = request.data::<Refusal>().map(|refusal| refusal.0.clone());
        Ok(Self {
            checks: Checks::new(
                request.data::<Store>().ok_or_else(missing)?,
                instance,
                refused,
            ),
            routes: request.data::<Arc<RouteTable>>().ok_or_else(missing)?,
            instance,
            stopping: request
                .data::<Stopping>()
                .is_some_and(Stopping::is_under_way),
            key: request.data::<RunningKey>().cloned(),
            coding: request
                .data::<Accepted>()
                .and_then(|accepted| accepted.for_each_request()),
        })
    }
}

/// The write token, as the spec declares it: an operation that takes one needs
/// `Authorization: Bearer <token>` while write tokens are configured. It extracts nothing: the
/// guard (`middleware::tokens`) runs before the operation, and the route table tells it which
/// operations take one. Its 401 is `WriteRefused`, in each such operation's answers.
pub(crate) struct WriteToken;

/// The write token's security scheme, by name in the spec.
const WRITE_TOKEN_SCHEME: &str = "writeToken";

impl<'a> ApiExtractor<'a> for WriteToken {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            WRITE_TOKEN_SCHEME,
            MetaSecurityScheme {
                ty: "http",
                description: Some(
                    "A write token the server was configured with (PROG_LANG_API_WRITE_TOKENS or \
                     --write-tokens-file). Without any configured, writes need none.",
                ),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![WRITE_TOKEN_SCHEME]
    }

    async fn from_request(
        _: &'a Request,
        _: &mut RequestBody,
        _: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        Ok(Self)
    }
}

/// Where Swagger UI is served (by `app`): the front door redirects there.
pub(crate) const DOCS: &str = "/docs";
/// The API's front door, outside the spec.
pub(crate) const FRONT_DOOR: &str = "/";

/// What an operation answers: its own response, or a failure every operation shares.
/// `Also`: the answers an operation meets before it runs, besides the shared ones: the rate
/// limit's (`Limited`, all but the health check), and the writes' `WriteRefused`, declared by
/// their `WriteToken`.
type Answered<R, Also = Limited> = Result<R, Failure<Also>>;

/// What a write meets before it runs: the token guard's 401, its key's 409 and 422, the rate
/// limit's 429.
type WriteAlso = And<And<WriteRefused, And<KeyInUse, KeyReused>>, Limited>;

/// The same for the create, which declares the 409 itself, beside its own.
type CreateAlso = And<And<WriteRefused, KeyReused>, Limited>;

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

/// The tags' descriptions stay a few words long: Swagger UI sets them beside the tag's name, and
/// a long one is squeezed to a letter a line in a narrow window. The long text is the API's
/// description (`app::openapi`).
#[derive(Tags)]
enum Tag {
    /// Languages, by name.
    #[oai(rename = "programming languages")]
    Languages,
    /// Health checks.
    #[oai(rename = "service")]
    Service,
}

/// The API's operations. It holds nothing: the store and the route table are request data
/// (see `Context`), so the spec renders without a store.
pub(crate) struct Api;

#[OpenApi]
impl Api {
    /// List programming languages
    ///
    /// Languages in the order they were created: a deleted and re-created language goes to the
    /// end, an updated one keeps its place. `after_year` and `before_year` are
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
        cx: Context<'_>,
        /// Only languages published after this year (exclusive).
        after_year: Query<Option<i32>>,
        /// Only languages published before this year (exclusive).
        before_year: Query<Option<i32>>,
        /// The most languages to return, from 1; above 1000 it is treated as 1000.
        #[oai(default = "default_limit", validator(minimum(value = "1")))]
        limit: Query<i32>,
        /// The `next_page_token` of the previous page, to get the page after it.
        page_token: Query<Option<String>>,
    ) -> Answered<ListLanguagesResponse> {
        let instance = cx.instance;
        let filter = YearFilter {
            after: after_year.0,
            before: before_year.0,
        };
        let mut checks = cx.checks;
        let after = match page_token.0.as_deref() {
            None => None,
            Some(token) => {
                let cursor = page_token::redeem(checks.page_token_key(), token, filter);
                if cursor.is_none() {
                    checks = checks.found(Problem::invalid_parameter(
                        instance,
                        "page_token",
                        "not a token this API issued for these year filters",
                    ));
                }
                cursor
            }
        };
        let store = match checks.pass() {
            Ok((store, ())) => store,
            Err(refused) => return refused.answer(instance),
        };
        let limit = usize::try_from(limit.0.clamp(1, MAX_LIMIT)).unwrap_or(1);
        match store.list(filter, after, limit).await {
            Ok(Page { languages, next }) => Ok(ListLanguagesResponse::Ok(Json(LanguagePage {
                programming_languages: languages,
                next_page_token: next
                    .map(|cursor| page_token::issue(store.page_token_key(), cursor, filter)),
            }))),
            Err(error) => Answer::answer(error, instance),
        }
    }

    /// Get a programming language
    ///
    /// The language with exactly this name (case-sensitive). Here, type the name as it is; a
    /// client that builds the URL itself percent-encodes it: `PL/I` is
    /// `/programming_languages/PL%2FI`. The `ETag` identifies this state of the language: send it
    /// back in `If-None-Match` to get `304 Not Modified` while it has not changed.
    #[oai(
        path = "/programming_languages/:name",
        method = "get",
        operation_id = "get_language",
        tag = "Tag::Languages"
    )]
    async fn get_language(
        &self,
        cx: Context<'_>,
        /// The language's name as it is (`PL/I`, `C++`, `Café`); in a URL you build yourself,
        /// percent-encoded (`PL%2FI`).
        #[oai(example = "example_name")]
        name: Path<String>,
        /// `*` or ETags (weak comparison): answer 304 without a body when one matches.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<EntityTags>>,
    ) -> Answered<GetLanguageResponse> {
        let instance = cx.instance;
        let (store, name, ()) = match cx.checks.pass_for(name.0).await {
            Ok(passed) => passed,
            Err(refused) => return refused.answer(instance),
        };
        let language = match store.get(&name).await {
            Ok(language) => language,
            Err(error) => return Answer::answer(error, instance),
        };
        let etag = etag(&language);
        Ok(match if_none_match.0 {
            Some(tags) if tags.matches_weakly(&etag) => {
                GetLanguageResponse::NotModified(etag_sent(cx.coding, etag, &language))
            }
            _ => GetLanguageResponse::Ok(Json(language), etag),
        })
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
        cx: Context<'_>,
        _token: WriteToken,
        /// Makes the write safe to retry: a repeat with the same key and the same request gets the first answer (with `Idempotent-Replayed: true`) and changes nothing. 1 to 255 visible ASCII characters, quoted (`"8e03978e"`) or not; a new one for each new write.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKey>>,
        body: JsonBody<Language>,
    ) -> Answered<CreateLanguageResponse, CreateAlso> {
        let instance = cx.instance;
        let (store, language) = match cx.checks.with_body(body.0).pass() {
            Ok(passed) => passed,
            Err(refused) => return refused.answer(instance),
        };
        let routes = cx.routes;
        let tag = OutcomeTag::default();
        let render = |outcome: &Result<Stored, StoreError>| match outcome {
            Ok(language) => Ok(CreateLanguageResponse::Created(
                Json(language.clone()),
                location(routes, language.name()),
                tag.of(language),
            )),
            Err(error) => Answer::answer(error.clone(), instance),
        };
        let outcome = match &cx.key {
            None => store.create(language).await,
            Some(key) => {
                let answer = |outcome: &Result<Stored, StoreError>| kept(render(outcome));
                let outcome = store
                    .create_keyed(language, Some(&key.keyed(&answer)))
                    .await;
                key.ran(&outcome);
                outcome
            }
        };
        render(&outcome)
    }

    /// Update a programming language
    ///
    /// A partial update, as PATCH is: changes the fields the body gives and keeps the others.
    /// `{"contribution": "The JVM"}` changes only the contribution, `{}` changes nothing. A `name`
    /// in the body must be the one in the path: a rename is a delete and a create. Send the ETag
    /// you read in `If-Match` so that a change made meanwhile is not overwritten (412 instead).
    #[oai(
        path = "/programming_languages/:name",
        method = "put",
        operation_id = "update_language",
        tag = "Tag::Languages"
    )]
    async fn update_language(
        &self,
        cx: Context<'_>,
        _token: WriteToken,
        /// Makes the write safe to retry: a repeat with the same key and the same request gets the first answer (with `Idempotent-Replayed: true`) and changes nothing. 1 to 255 visible ASCII characters, quoted (`"8e03978e"`) or not; a new one for each new write.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKey>>,
        /// The language's name as it is (`PL/I`, `C++`, `Café`); in a URL you build yourself,
        /// percent-encoded (`PL%2FI`).
        #[oai(example = "example_name")]
        name: Path<String>,
        /// `*` or ETags (strong comparison): change the language only if one matches, else 412.
        #[oai(name = "If-Match")]
        if_match: Header<Option<EntityTags>>,
        body: JsonBody<LanguageChanges>,
    ) -> Answered<UpdateLanguageResponse, WriteAlso> {
        change(cx, name.0, if_match.0, body.0).await
    }

    /// Patch a programming language
    ///
    /// A JSON merge patch (RFC 7396), as `application/merge-patch+json` or `application/json`: the
    /// fields it gives are changed, the others kept, exactly as PUT does. Every field is required,
    /// so `null` (which would remove one) is a 400. Send the ETag you read in `If-Match` so that a
    /// change made meanwhile is not overwritten (412 instead).
    #[oai(
        path = "/programming_languages/:name",
        method = "patch",
        operation_id = "patch_language",
        tag = "Tag::Languages"
    )]
    async fn patch_language(
        &self,
        cx: Context<'_>,
        _token: WriteToken,
        /// Makes the write safe to retry: a repeat with the same key and the same request gets the first answer (with `Idempotent-Replayed: true`) and changes nothing. 1 to 255 visible ASCII characters, quoted (`"8e03978e"`) or not; a new one for each new write.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKey>>,
        /// The language's name as it is (`PL/I`, `C++`, `Café`); in a URL you build yourself,
        /// percent-encoded (`PL%2FI`).
        #[oai(example = "example_name")]
        name: Path<String>,
        /// `*` or ETags (strong comparison): change the language only if one matches, else 412.
        #[oai(name = "If-Match")]
        if_match: Header<Option<EntityTags>>,
        body: JsonBody<LanguageChanges, MERGE_PATCH>,
    ) -> Answered<PatchLanguageResponse, WriteAlso> {
        change(cx, name.0, if_match.0, body.0).await
    }

    /// Delete a programming language
    ///
    /// Removes the language and returns it as it was. With `If-Match`, only if the language is
    /// still in the state you read (412 otherwise).
    #[oai(
        path = "/programming_languages/:name",
        method = "delete",
        operation_id = "delete_language",
        tag = "Tag::Languages"
    )]
    async fn delete_language(
        &self,
        cx: Context<'_>,
        _token: WriteToken,
        /// Makes the write safe to retry: a repeat with the same key and the same request gets the first answer (with `Idempotent-Replayed: true`) and changes nothing. 1 to 255 visible ASCII characters, quoted (`"8e03978e"`) or not; a new one for each new write.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKey>>,
        /// The language's name as it is (`PL/I`, `C++`, `Café`); in a URL you build yourself,
        /// percent-encoded (`PL%2FI`).
        #[oai(example = "example_name")]
        name: Path<String>,
        /// `*` or ETags (strong comparison): delete the language only if one matches, else 412.
        #[oai(name = "If-Match")]
        if_match: Header<Option<EntityTags>>,
    ) -> Answered<DeleteLanguageResponse, WriteAlso> {
        let instance = cx.instance;
        let (store, name, ()) = match cx.checks.pass_for(name.0).await {
            Ok(passed) => passed,
            Err(refused) => return refused.answer(instance),
        };
        let precondition = if_matches(if_match.0.as_ref());
        let tag = OutcomeTag::default();
        let render = |outcome: &Result<Stored, StoreError>| match outcome {
            Ok(language) => Ok(DeleteLanguageResponse::Ok(
                Json(language.clone()),
                tag.of(language),
            )),
            Err(error) => Answer::answer(error.clone(), instance),
        };
        let outcome = match &cx.key {
            None => store.delete(&name, &precondition).await,
            Some(key) => {
                let answer = |outcome: &Result<Stored, StoreError>| kept(render(outcome));
                let outcome = store
                    .delete_keyed(&name, &precondition, Some(&key.keyed(&answer)))
                    .await;
                key.ran(&outcome);
                outcome
            }
        };
        render(&outcome)
    }

    /// Check the service's health
    ///
    /// `{"status": "ok"}` while the service can answer requests: for load balancers and probes.
    /// A 503 while its database is out of reach, or while it is stopping.
    #[oai(
        path = "/healthz",
        method = "get",
        operation_id = "health",
        tag = "Tag::Service"
    )]
    async fn health(&self, cx: Context<'_>) -> Answered<HealthResponse, Nothing> {
        let store = match cx.checks.pass() {
            Ok((store, ())) => store,
            Err(refused) => return refused.answer(cx.instance),
        };
        if cx.stopping {
            return Err(responses::stopping(cx.instance));
        }
        match store.health().await {
            Ok(()) => Ok(HealthResponse::Ok(Json(Health::ok()))),
            Err(error) => Answer::answer(error, cx.instance),
        }
    }

    /// The API's front door: its documentation.
    #[oai(path = "/", method = "get", hidden)]
    async fn index(&self) -> IndexResponse {
        IndexResponse::TemporaryRedirect(DOCS.to_owned())
    }
}

/// PUT and PATCH: the same meaning, the same code path.
async fn change(
    cx: Context<'_>,
    name: String,
    if_match: Option<EntityTags>,
    body: Result<LanguageChanges, BodyError>,
) -> Answered<UpdateLanguageResponse, WriteAlso> {
    let (instance, key) = (cx.instance, cx.key);
    let renamed = body
        .as_ref()
        .is_ok_and(|changes| changes.name.as_deref().is_some_and(|new| *new != name));
    let mut checks = cx.checks.with_body(body);
    if renamed {
        checks = checks.found(Problem::renamed(instance));
    }
    let (store, name, changes) = match checks.pass_for(name).await {
        Ok(passed) => passed,
        Err(refused) => return refused.answer(instance),
    };
    let precondition = if_matches(if_match.as_ref());
    let tag = OutcomeTag::default();
    let render = |outcome: &Result<Stored, StoreError>| match outcome {
        Ok(language) => Ok(UpdateLanguageResponse::Ok(
            Json(language.clone()),
            tag.of(language),
        )),
        Err(error) => Answer::answer(error.clone(), instance),
    };
    let outcome = match &key {
        None => store.update(&name, changes, &precondition).await,
        Some(key) => {
            let answer = |outcome: &Result<Stored, StoreError>| kept(render(outcome));
            let outcome = store
                .update_keyed(&name, changes, &precondition, Some(&key.keyed(&answer)))
                .await;
            key.ran(&outcome);
            outcome
        }
    };
    render(&outcome)
}

/// The precondition an `If-Match` sets: with none, any state will do.
fn if_matches(if_match: Option<&EntityTags>) -> impl Fn(&Stored) -> bool + Sync + '_ {
    move |language| if_match.is_none_or(|tags| tags.matches_strongly(&etag(language)))
}

/// The relative reference of the language named `name`: `get_language`'s path.
fn location(routes: &RouteTable, name: &str) -> String {
    let encoded = match name {
        // Dot segments are removed by URL resolution (RFC 3986 §5.2.4): encode them to keep them.
        "." | ".." => name.replace('.', "%2E"),
        _ => utf8_percent_encode(name, PATH_SEGMENT).to_string(),
    };
    routes
        .path_of("get_language", &[&encoded])
        .unwrap_or(encoded)
}

/// The name Swagger UI fills in: a seed language, so that every "Execute" finds it.
fn example_name() -> String {
    "COBOL".to_owned()
}

fn default_limit() -> i32 {
    DEFAULT_LIMIT
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::route_table;

    #[test]
    fn locations_encode_every_reserved_character() {
        let routes = route_table();
        let location = |name| location(&routes, name);
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
