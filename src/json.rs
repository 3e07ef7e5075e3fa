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
use serde::{
    Deserialize, Deserializer, Serialize,
    de::{DeserializeOwned, MapAccess},
};
use serde_json::{Map, Value};

use crate::{language::FieldError, problem::Problem};

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
    /// Not all there within the body-read timeout: 408.
    TimedOut,
    /// Not declared as JSON: 415.
    NotJson { content_type: Option<String> },
    /// Not a JSON object at all (malformed, or another kind of value): 400, naming no field.
    Malformed { detail: String },
    /// An object whose fields are wrong: 400, naming every offending field, each with its own
    /// detail, in document order (missing fields last).
    Fields(Vec<FieldError>),
}

impl BodyError {
    /// The problem that answers this error.
    pub(crate) fn into_problem(self, instance: &str) -> Problem {
        match self {
            Self::TooLarge => Problem::payload_too_large(instance, BODY_LIMIT_BYTES),
            Self::TimedOut => Problem::request_timeout(instance),
            Self::NotJson { content_type } => {
                Problem::unsupported_media_type(instance, content_type.as_deref())
            }
            Self::Malformed { detail } => Problem::invalid(instance, detail, Vec::new()),
            Self::Fields(errors) => Problem::invalid_fields(instance, errors),
        }
    }
}

/// A body this API reads: an object whose schema poem-openapi derives (the spec's, with its
/// required fields) and whose fields serde reads.
pub(crate) trait StrictBody: DeserializeOwned + Type {
    /// The same fields, each optional: each field of a body is read into this on its own, so that
    /// every field's mistake is found, not only the first.
    type Fields: DeserializeOwned;

    /// Every rule of the resource that `fields` break.
    fn rules(fields: &Self::Fields) -> Vec<FieldError>;
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

impl<'a, T: StrictBody, const MERGE_PATCH: bool> ApiExtractor<'a> for JsonBody<T, MERGE_PATCH> {
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

async fn read<T: StrictBody>(
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
            // The connection's timer ran out (`--body-read-timeout`).
            ReadBodyError::Io(error) if error.kind() == std::io::ErrorKind::TimedOut => {
                BodyError::TimedOut
            }
            _ => BodyError::Malformed {
                detail: "The body could not be read.".to_owned(),
            },
        })?;
    parse(&bytes)
}

/// Parses `bytes` as one JSON object of type `T`, naming every offending field on failure: each
/// field is read on its own (so one field's mistake does not hide the next), then the rules of
/// the resource are checked on those that were read, and the fields the schema requires that are
/// absent are named last.
pub(crate) fn parse<T: StrictBody>(bytes: &[u8]) -> std::result::Result<T, BodyError> {
    must_be_an_object(bytes)?;
    // The usual case, a valid body, costs serde two passes and nothing else: what the passes
    // accept, the field-by-field reading below would accept too.
    if let Ok(fields) = serde_json::from_slice::<T::Fields>(bytes)
        && T::rules(&fields).is_empty()
        && let Ok(body) = serde_json::from_slice::<T>(bytes)
    {
        return Ok(body);
    }
    let entries = entries(bytes)?;
    let mut errors: Vec<(usize, FieldError)> = Vec::new();
    let mut read = Map::new();
    for (at, (name, value)) in entries.iter().enumerate() {
        if entries[..at].iter().any(|(earlier, _)| earlier == name) {
            errors.push((
                at,
                FieldError::new(name, format!("duplicate field `{name}`")),
            ));
            continue;
        }
        let alone = Value::Object(Map::from_iter([(name.clone(), value.clone())]));
        match serde_json::from_value::<T::Fields>(alone) {
            Ok(_) => {
                read.insert(name.clone(), value.clone());
            }
            Err(error) => errors.push((at, FieldError::new(name, error.to_string()))),
        }
    }
    let position = |pointer: &str| {
        let name = pointer.strip_prefix('/').unwrap_or(pointer);
        entries.iter().position(|(field, _)| field == name)
    };
    if let Ok(fields) = serde_json::from_value::<T::Fields>(Value::Object(read.clone())) {
        for error in T::rules(&fields) {
            errors.push((position(&error.pointer).unwrap_or(usize::MAX), error));
        }
    }
    for field in required::<T>() {
        if !entries.iter().any(|(name, _)| name == field) {
            errors.push((
                usize::MAX,
                FieldError::new(field, format!("missing field `{field}`")),
            ));
        }
    }
    if !errors.is_empty() {
        // Stable: the errors of one field keep their order, missing fields their declared one.
        errors.sort_by_key(|(at, _)| *at);
        return Err(BodyError::Fields(
            errors.into_iter().map(|(_, error)| error).collect(),
        ));
    }
    serde_json::from_value(Value::Object(read)).map_err(|error| BodyError::Malformed {
        detail: format!("The body is not the expected document: {error}."),
    })
}

/// Refuses anything but a JSON object, with the words for it: serde would read a struct from an
/// array too, matching fields by position. (Malformed JSON that starts with `{` is left to serde.)
fn must_be_an_object(bytes: &[u8]) -> std::result::Result<(), BodyError> {
    let first = bytes
        .iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'));
    if first.is_some_and(|&byte| byte != b'{') {
        let valid = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
        return Err(BodyError::Malformed {
            detail: if valid {
                "The body must be a JSON object.".to_owned()
            } else {
                "The body is not valid JSON.".to_owned()
            },
        });
    }
    Ok(())
}

/// The fields of the object in `bytes`, in document order, duplicates kept; or why it is not one.
fn entries(bytes: &[u8]) -> std::result::Result<Vec<(String, Value)>, BodyError> {
    let malformed = |error: serde_json::Error| BodyError::Malformed {
        detail: format!("The body is not valid JSON: {error}."),
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let Entries(entries) = Entries::deserialize(&mut deserializer).map_err(malformed)?;
    // Trailing characters after the document make it malformed, not a second document.
    deserializer.end().map_err(malformed)?;
    Ok(entries)
}

/// A JSON object's fields as sent: serde_json's `Map` would keep only the last of duplicates.
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Entries;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(Visitor)
    }
}

/// The fields `T`'s schema requires, as poem-openapi declares them for the spec.
fn required<T: Type>() -> Vec<&'static str> {
    let mut registry = Registry::new();
    T::register(&mut registry);
    registry
        .schemas
        .get(&*T::name())
        .map(|schema| schema.required.clone())
        .unwrap_or_default()
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

    fn pointers_of<T: StrictBody>(body: &str) -> Vec<String> {
        match parse::<T>(body.as_bytes()) {
            Err(BodyError::Fields(errors)) => {
                errors.into_iter().map(|error| error.pointer).collect()
            }
            _ => Vec::new(),
        }
    }

    fn field_of<T: StrictBody>(body: &str) -> Option<String> {
        pointers_of::<T>(body).into_iter().next()
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
    fn every_offending_field_is_named_once_in_document_order_missing_ones_last() {
        let pointers = pointers_of::<Language>(
            r#"{"name": 42, "extra": 1, "publication_year": "x", "publication_year": 1990}"#,
        );
        assert_eq!(
            pointers,
            [
                "/name",
                "/extra",
                "/publication_year",
                "/publication_year",
                "/contribution"
            ]
        );
        let errors = match parse::<Language>(br#"{"contribution": "", "name": " X", "a/b": null}"#)
        {
            Err(BodyError::Fields(errors)) => errors,
            other => panic!("{other:?}"),
        };
        let named: Vec<(&str, &str)> = errors
            .iter()
            .map(|error| (error.pointer.as_str(), error.detail.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("/contribution", "must be 1 to 1000 characters"),
                (
                    "/name",
                    "must be 1 to 64 characters, without control characters or leading or trailing white space"
                ),
                (
                    "/a~1b",
                    "unknown field `a/b`, expected one of `name`, `publication_year`, `contribution`"
                ),
                ("/publication_year", "missing field `publication_year`"),
            ]
        );
        assert_eq!(
            pointers_of::<LanguageChanges>(r#"{"publication_year": 1.5, "contribution": null}"#),
            ["/publication_year", "/contribution"]
        );
        assert!(pointers_of::<LanguageChanges>("{}").is_empty());
    }

    #[test]
    fn only_an_object_is_a_body() {
        for body in ["[\"X\", 1990, \"c\"]", "[]", "\"X\"", "7", "null", " [ ]"] {
            let error = parse::<Language>(body.as_bytes()).expect_err(body);
            assert_eq!(
                error,
                BodyError::Malformed {
                    detail: "The body must be a JSON object.".to_owned(),
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
            assert!(matches!(error, BodyError::Malformed { .. }), "{body}");
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
            let details = match result {
                Err(BodyError::Malformed { detail }) => vec![detail],
                Err(BodyError::Fields(errors)) => {
                    errors.into_iter().map(|error| error.detail).collect()
                }
                _ => Vec::new(),
            };
            for detail in details {
                for internal in ["i32", "i64", "u64", "struct ", "String", "Option"] {
                    assert!(!detail.contains(internal), "{internal} in {detail}");
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
