//! The JSON payloads: request bodies read strictly with serde, responses written straight by serde.
//!
//! poem-openapi's own `Json<T>` converts numbers to strings, reads `null` as absent, names no field
//! in its errors and reads bodies of any size; it also writes responses through a `Value` tree.
//! These keep the schemas poem-openapi derives for the spec and leave the parsing to serde.

use poem::{
    IntoResponse, Request, RequestBody, Response, Result, error::ReadBodyError, http::header,
};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions,
    payload::Payload,
    registry::{MetaMediaType, MetaRequest, MetaResponses, MetaSchemaRef, Registry},
    types::Type,
};
use serde::{Serialize, de::DeserializeOwned};

use crate::problem::{Problem, ProblemField};

/// The largest request body accepted, in bytes; a larger one is refused with 413 unread.
pub(crate) const BODY_LIMIT_BYTES: usize = 16 * 1024;

/// The media type bodies are declared with in the spec.
const APPLICATION_JSON: &str = "application/json";
/// The media type of a JSON merge patch (RFC 7396).
const MERGE_PATCH_JSON: &str = "application/merge-patch+json";

/// For `JsonBody`'s second parameter: a body that is a JSON merge patch, declared in the spec under
/// both `application/merge-patch+json` and `application/json`.
pub(crate) const MERGE_PATCH: bool = true;

/// A JSON request body, parsed strictly: a missing, unknown, duplicated or `null` field, or one of
/// the wrong JSON type, is an error naming the field. Errors are kept, not raised, so that the
/// handler answers each with its own declared response, and 404 for a missing language before
/// 400 for its body (README, "Choices where the contract leaves room").
pub(crate) struct JsonBody<T, const MERGE_PATCH: bool = false>(
    pub std::result::Result<T, BodyError>,
);

/// Why a request body was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Over `BODY_LIMIT_BYTES`: 413.
    TooLarge,
    /// Not declared as JSON: 415.
    NotJson { content_type: Option<String> },
    /// Not the expected document: 400, naming the offending field when there is one.
    Invalid {
        detail: String,
        field: Option<ProblemField>,
    },
}

impl BodyError {
    /// The problem that answers this error.
    pub(crate) fn into_problem(self, instance: &str) -> Problem {
        match self {
            Self::TooLarge => Problem::payload_too_large(instance, BODY_LIMIT_BYTES),
            Self::NotJson { content_type } => {
                Problem::unsupported_media_type(instance, content_type.as_deref())
            }
            Self::Invalid { detail, field } => {
                Problem::invalid(instance, detail, field.into_iter().collect())
            }
        }
    }
}

/// Whether `content_type` declares JSON: `application/json` or `application/*+json`, with any
/// parameters (RFC 6839 structured syntax suffixes).
pub(crate) fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.split_once('/') {
        Some(("application", subtype)) => {
            subtype == "json" || (subtype.ends_with("+json") && subtype.len() > "+json".len())
        }
        _ => false,
    }
}

impl<'a, T: Type + DeserializeOwned, const MERGE_PATCH: bool> ApiExtractor<'a>
    for JsonBody<T, MERGE_PATCH>
{
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        let media_types: &[&'static str] = if MERGE_PATCH {
            &[MERGE_PATCH_JSON, APPLICATION_JSON]
        } else {
            &[APPLICATION_JSON]
        };
        Some(MetaRequest {
            description: None,
            content: media_types
                .iter()
                .map(|&content_type| MetaMediaType {
                    content_type,
                    schema: T::schema_ref(),
                })
                .collect(),
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<()>,
    ) -> Result<Self> {
        Ok(Self(read(request, body).await))
    }
}

async fn read<T: DeserializeOwned>(
    request: &Request,
    body: &mut RequestBody,
) -> std::result::Result<T, BodyError> {
    let content_type = request.content_type();
    if !content_type.is_some_and(is_json) {
        return Err(BodyError::NotJson {
            content_type: content_type.map(str::to_owned),
        });
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok())
        .and_then(|length| length.parse::<u64>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT_BYTES as u64) {
        // Refused from the header alone: the body is never read.
        return Err(BodyError::TooLarge);
    }
    let bytes = body
        .take()
        .map_err(|_| BodyError::TooLarge)?
        .into_bytes_limit(BODY_LIMIT_BYTES)
        .await
        .map_err(|error| match error {
            ReadBodyError::PayloadTooLarge => BodyError::TooLarge,
            _ => BodyError::Invalid {
                detail: "The body could not be read.".to_owned(),
                field: None,
            },
        })?;
    parse(&bytes)
}

/// Parses `bytes` as one JSON document of type `T`, naming the offending field on failure.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, BodyError> {
    // serde reads a struct from a JSON array too, matching fields by position: refuse anything but
    // an object first. (Malformed JSON that happens to start with `{` is left to serde.)
    let first = bytes
        .iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'));
    if first.is_some_and(|&byte| byte != b'{') {
        let valid = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
        return Err(BodyError::Invalid {
            detail: if valid {
                "The body must be a JSON object.".to_owned()
            } else {
                "The body is not valid JSON.".to_owned()
            },
            field: None,
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        describe(&path, &error.into_inner())
    })?;
    // Trailing characters after the document make it malformed, not a second document.
    deserializer.end().map_err(|error| describe(".", &error))?;
    Ok(value)
}

/// The body error for `error`, raised at the dotted serde `path` (`.` for the document itself).
fn describe(path: &str, error: &serde_json::Error) -> BodyError {
    let message = without_position(error);
    if !matches!(error.classify(), serde_json::error::Category::Data) {
        return BodyError::Invalid {
            detail: format!("The body is not valid JSON: {error}."),
            field: None,
        };
    }
    // Errors about a whole field (missing, unknown, duplicated) are raised by the object
    // around it; serde names the field in the message, between backticks.
    let field = match named_field(&message) {
        Some(name) if path == "." => Some(name.to_owned()),
        // An unknown field is reported at its own path already.
        Some(name) if path.rsplit('.').next() == Some(name) => Some(path.to_owned()),
        Some(name) => Some(format!("{path}.{name}")),
        None if path == "." => None,
        None => Some(path.to_owned()),
    };
    match field {
        Some(field) => BodyError::Invalid {
            detail: format!("{field}: {message}"),
            field: Some(ProblemField::pointer(pointer(&field), message)),
        },
        None => BodyError::Invalid {
            detail: format!("The body is not the expected document: {message}."),
            field: None,
        },
    }
}

/// serde_json's message without its " at line L column C" suffix.
fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    message
        .strip_suffix(&suffix)
        .map_or(message.clone(), str::to_owned)
}

/// The field a "missing field `x`", "unknown field `x`" or "duplicate field `x`" message names.
fn named_field(message: &str) -> Option<&str> {
    ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name)
}

/// The JSON Pointer (RFC 6901) of a dotted serde path such as `a.b`.
fn pointer(path: &str) -> String {
    path.split('.')
        .map(|token| format!("/{}", token.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// A JSON response body, written by serde straight from the value.
pub struct Json<T>(pub T);

impl<T: Type> Payload for Json<T> {
    const CONTENT_TYPE: &'static str = APPLICATION_JSON;

    fn check_content_type(content_type: &str) -> bool {
        is_json(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Serialize + Send> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder()
                .content_type(APPLICATION_JSON)
                .body(body),
            Err(error) => {
                // The wire types serialize infallibly; this is a bug, not bad input.
                tracing::error!(%error, "response did not serialize");
                poem::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

impl<T: Type + Serialize + Send> ApiResponse for Json<T> {
    fn meta() -> MetaResponses {
        crate::problem::response_meta::<Self>()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::{Language, LanguageChanges};

    fn field_of<T: DeserializeOwned>(body: &str) -> Option<String> {
        match parse::<T>(body.as_bytes()) {
            Err(BodyError::Invalid { field, .. }) => field.and_then(|field| field.pointer),
            _ => None,
        }
    }

    #[test]
    fn errors_name_the_offending_field() {
        let pointer = |body| field_of::<Language>(body);
        assert_eq!(
            pointer(r#"{"name": "X", "contribution": "y"}"#).as_deref(),
            Some("/publication_year")
        );
        assert_eq!(
            pointer(r#"{"name": 1, "publication_year": 1990, "contribution": "y"}"#).as_deref(),
            Some("/name")
        );
        assert_eq!(
            pointer(r#"{"name": "X", "publication_year": 1990, "contribution": "y", "z": 1}"#)
                .as_deref(),
            Some("/z")
        );
        assert_eq!(
            pointer(r#"{"name": "X", "name": "Y", "publication_year": 1990, "contribution": "y"}"#)
                .as_deref(),
            Some("/name")
        );
        assert_eq!(
            field_of::<LanguageChanges>(r#"{"contribution": null}"#).as_deref(),
            Some("/contribution")
        );
    }

    #[test]
    fn only_an_object_is_a_body() {
        for body in ["[\"X\", 1990, \"c\"]", "[]", "\"X\"", "7", "null", " [ ]"] {
            let error = parse::<Language>(body.as_bytes()).expect_err(body);
            assert_eq!(
                error,
                BodyError::Invalid {
                    detail: "The body must be a JSON object.".to_owned(),
                    field: None
                },
                "{body}"
            );
            assert!(parse::<LanguageChanges>(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn malformed_json_names_no_field() {
        for body in ["", "{", "{\"name\": }", "{} {}", "nul"] {
            let error = parse::<LanguageChanges>(body.as_bytes()).expect_err(body);
            assert!(
                matches!(error, BodyError::Invalid { field: None, .. }),
                "{body}"
            );
        }
    }

    proptest::proptest! {
        /// Whatever the bytes, parsing ends in a value or a body error, and an error's text speaks
        /// JSON, never Rust.
        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            check_parses_cleanly(&bytes);
        }

        /// The same for near-misses of a valid body: every field drawn from a set of JSON values.
        #[test]
        fn any_shaped_body_parses_or_fails_cleanly(
            fields in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["name", "publication_year", "contribution", "x", ""]),
                    proptest::sample::select(vec![
                        "\"COBOL\"", "1960", "1960.0", "-1", "1e400", "null", "true", "[]", "{}",
                        "\"\\u0000\"", "\"\\ud800\"", "18446744073709551616", "\"\"",
                    ]),
                ),
                0..5,
            )
        ) {
            let body = format!(
                "{{{}}}",
                fields.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect::<Vec<_>>().join(", ")
            );
            check_parses_cleanly(body.as_bytes());
        }
    }

    fn check_parses_cleanly(bytes: &[u8]) {
        for result in [
            parse::<Language>(bytes).map(|_| ()),
            parse::<LanguageChanges>(bytes).map(|_| ()),
        ] {
            if let Err(BodyError::Invalid { detail, field }) = result {
                let text = format!("{detail} {field:?}");
                for internal in ["i32", "i64", "u64", "struct ", "String", "Option"] {
                    assert!(!detail.contains(internal), "{internal} in {text}");
                }
            }
        }
    }

    #[test]
    fn json_media_types_are_recognized() {
        for yes in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
            "application/problem+json ; x=y",
        ] {
            assert!(is_json(yes), "{yes}");
        }
        for no in [
            "text/json",
            "application/jsonx",
            "application/+json",
            "text/plain",
            "",
        ] {
            assert!(!is_json(no), "{no}");
        }
    }
}
