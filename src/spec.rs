//! The published spec: poem-openapi's document with the corrections it cannot express, served as
//! JSON, as YAML and inside Swagger UI, all three from one corrected document.
//!
//! The corrections: response header names as they are sent (poem-openapi upper-cases them),
//! `additionalProperties: false` on request bodies (the server refuses unknown fields), a
//! `default` problem response on every operation, for the errors any request can meet, the
//! statuses in order, and an explicit empty security on the operations that declare none (the
//! reads). The writes' security and their 401 are declared with the operations (`WriteToken`,
//! `WriteRefused`). The document is the same whether or not tokens are configured.

use std::sync::{Arc, OnceLock};

use poem::{
    Endpoint, Request,
    endpoint::make_sync,
    http::{HeaderValue, header},
};
use poem_openapi::OpenApiService;
use serde_json::{Map, Value, json};

use crate::{
    api::Api,
    compression::{Accepted, Precompressed},
    json::BODY_LIMIT_BYTES,
    language::{FieldError, new_language_example},
    problem::{PROBLEM_JSON, Problem},
};

/// Response headers as the server sends them, by the upper-case name poem-openapi gives them.
const HEADER_NAMES: [&str; 9] = [
    "Allow",
    "ETag",
    "Idempotent-Replayed",
    "Location",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
    "WWW-Authenticate",
    "X-Request-Id",
];

/// The spec in each of its published forms, each made on its first request and then shared: a
/// server starts without the milliseconds and megabytes that Swagger UI's page alone takes.
#[derive(Clone)]
pub(crate) struct Spec(Arc<Forms>);

struct Forms {
    /// Makes the service the spec describes.
    service: Box<dyn Fn() -> OpenApiService<Api, ()> + Send + Sync>,
    /// poem-openapi's document and the corrected one.
    json: OnceLock<(String, Precompressed)>,
    yaml: OnceLock<Precompressed>,
    docs: OnceLock<Precompressed>,
}

impl Spec {
    pub(crate) fn new(
        service: impl Fn() -> OpenApiService<Api, ()> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(Forms {
            service: Box::new(service),
            json: OnceLock::new(),
            yaml: OnceLock::new(),
            docs: OnceLock::new(),
        }))
    }

    /// poem-openapi's document, and the corrected one as JSON.
    fn documents(&self) -> &(String, Precompressed) {
        self.0.json.get_or_init(|| {
            let original = (self.0.service)().spec();
            let mut document: Value =
                serde_json::from_str(&original).unwrap_or_else(|_| Value::Object(Map::new()));
            correct(&mut document);
            let json = Precompressed::new(format!("{document:#}\n"), "application/json");
            (original, json)
        })
    }

    fn json_form(&self) -> &Precompressed {
        &self.documents().1
    }

    fn yaml_form(&self) -> &Precompressed {
        self.0.yaml.get_or_init(|| {
            let document: Value =
                serde_json::from_slice(&self.json_form().identity()).unwrap_or_default();
            let yaml = serde_yaml::to_string(&document).unwrap_or_default();
            Precompressed::new(yaml, "application/yaml")
        })
    }

    fn docs_form(&self) -> &Precompressed {
        self.0.docs.get_or_init(|| {
            let (original, json) = self.documents();
            // Swagger UI's page embeds the spec as a JavaScript literal: put the corrected one
            // there.
            let json = json.identity();
            let corrected = std::str::from_utf8(&json).unwrap_or_default();
            let page = (self.0.service)()
                .swagger_ui_html()
                .replacen(original, corrected, 1)
                .replacen("<head>", NARROW_WINDOW_STYLE, 1);
            Precompressed::new(page, "text/html; charset=utf-8")
        })
    }

    #[cfg(test)]
    fn json(&self) -> bytes::Bytes {
        self.json_form().identity()
    }

    #[cfg(test)]
    fn docs(&self) -> bytes::Bytes {
        self.docs_form().identity()
    }

    pub(crate) fn json_endpoint(&self) -> impl Endpoint + use<> {
        let spec = self.clone();
        make_sync(move |request| spec.json_form().response(accepted(&request)))
    }

    pub(crate) fn yaml_endpoint(&self) -> impl Endpoint + use<> {
        let spec = self.clone();
        make_sync(move |request| spec.yaml_form().response(accepted(&request)))
    }

    /// Swagger UI's page, which no other site may frame (a page that acts for its user must not
    /// be overlaid by another's: clickjacking).
    pub(crate) fn docs_endpoint(&self) -> impl Endpoint + use<> {
        let spec = self.clone();
        make_sync(move |request| {
            let mut response = spec.docs_form().response(accepted(&request));
            response.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("frame-ancestors 'none'"),
            );
            response
        })
    }
}

/// The codings `request` accepts, as the layers read them.
fn accepted(request: &Request) -> Accepted {
    request.data::<Accepted>().copied().unwrap_or_default()
}

/// What the bundled Swagger UI lacks for a narrow window (a phone, a split screen): a tag's
/// description sets beside its name and is squeezed to a letter a line; it goes below instead.
/// It goes first in the head: Swagger UI's own script holds the text `</head>`.
const NARROW_WINDOW_STYLE: &str = "<head>\n<style>@media (max-width: 640px) { \
     .swagger-ui .opblock-tag { flex-wrap: wrap; } \
     .swagger-ui .opblock-tag small { flex: 1 0 100%; order: 3; padding: 0 0 8px; } \
     }</style>";

/// The schema of a whole language.
const LANGUAGE_SCHEMA: &str = "#/components/schemas/Language";

fn correct(document: &mut Value) {
    let mut request_schemas = Vec::new();
    for (_, operation) in operations(document) {
        if let Some(operation) = operation.as_object_mut() {
            // An operation without a security requirement (a read, which takes no `WriteToken`)
            // is open: say so, rather than leave it to be guessed.
            operation.entry("security").or_insert_with(|| json!([]));
        }
        if let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        {
            // The statuses in order, as a reader looks them up: poem-openapi lists the shared
            // answers (`Failure`) after the operation's own.
            let mut entries: Vec<(String, Value)> = std::mem::take(responses).into_iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.cmp(b));
            responses.extend(entries);
            for response in responses.values_mut() {
                if let Some(headers) = response.get_mut("headers").and_then(Value::as_object_mut) {
                    rename_headers(headers);
                }
            }
            responses.insert(
                "default".to_owned(),
                json!({
                    "description": "A problem: any error this operation can meet, in RFC 9457's shape.",
                    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
                }),
            );
        }
        if let Some(content) = operation
            .pointer_mut("/requestBody/content")
            .and_then(Value::as_object_mut)
        {
            // A body that is a whole language (the create's) is exemplified by one the store
            // does not start with: the schema's example, a seed language, would meet a 409 on
            // Swagger UI's first "Execute".
            for media in content.values_mut() {
                if media.pointer("/schema/$ref").and_then(Value::as_str) == Some(LANGUAGE_SCHEMA)
                    && let Some(media) = media.as_object_mut()
                {
                    media.insert(
                        "example".to_owned(),
                        serde_json::to_value(new_language_example()).unwrap_or_default(),
                    );
                }
            }
            request_schemas.extend(
                content
                    .values()
                    .filter_map(|media| media.pointer("/schema/$ref")?.as_str())
                    .filter_map(|reference| reference.strip_prefix("#/components/schemas/"))
                    .map(str::to_owned),
            );
        }
    }
    for name in request_schemas {
        if let Some(schema) = document
            .pointer_mut(&format!("/components/schemas/{name}"))
            .and_then(Value::as_object_mut)
        {
            schema.insert("additionalProperties".to_owned(), Value::Bool(false));
        }
    }
    examples_where_they_are_used(document);
}

/// Every example at the media types that use it: a schema's own example (poem-openapi's
/// `#[oai(example)]`) moves to each request and response of that schema, and each problem
/// response gets a problem of its status. The bundled Swagger UI renders a schema-level example
/// as `OrderedMap { ... }`, and makes filler (`"string"`, `0`) for a schema without one.
fn examples_where_they_are_used(document: &mut Value) {
    let mut examples = Map::new();
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in schemas.iter_mut() {
            if let Some(example) = schema.as_object_mut().and_then(|s| s.remove("example")) {
                examples.insert(format!("#/components/schemas/{name}"), example);
            }
        }
    }
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, operations) in paths.iter_mut() {
        let Some(operations) = operations.as_object_mut() else {
            continue;
        };
        for operation in operations.values_mut() {
            let Some(operation) = operation.as_object_mut() else {
                continue;
            };
            let has_body = operation.contains_key("requestBody");
            let mut contents: Vec<(Option<&str>, &mut Map<String, Value>)> = Vec::new();
            for (key, part) in operation.iter_mut() {
                match key.as_str() {
                    "requestBody" => {
                        if let Some(content) =
                            part.get_mut("content").and_then(Value::as_object_mut)
                        {
                            contents.push((None, content));
                        }
                    }
                    "responses" => {
                        for (status, response) in part.as_object_mut().into_iter().flatten() {
                            if let Some(content) =
                                response.get_mut("content").and_then(Value::as_object_mut)
                            {
                                contents.push((Some(status.as_str()), content));
                            }
                        }
                    }
                    _ => {}
                }
            }
            for (status, content) in contents {
                for (media_type, media) in content.iter_mut() {
                    let Some(media) = media.as_object_mut() else {
                        continue;
                    };
                    if media.contains_key("example") {
                        continue;
                    }
                    let example = if media_type == PROBLEM_JSON {
                        status
                            .map(|status| problem_example(status, path, has_body))
                            .and_then(|problem| serde_json::to_value(problem).ok())
                    } else {
                        media
                            .get("schema")
                            .and_then(|schema| schema.get("$ref"))
                            .and_then(Value::as_str)
                            .and_then(|reference| examples.get(reference))
                            .cloned()
                    };
                    if let Some(example) = example {
                        media.insert("example".to_owned(), example);
                    }
                }
            }
        }
    }
}

/// A real problem for a response of `status` (`default` for any other) on `path`, as the server
/// would answer it, with an example name in the path: a missing language for a 404, a seed
/// language otherwise; a 400 names a body field when the operation `has_body`, else a parameter.
fn problem_example(status: &str, path: &str, has_body: bool) -> Problem {
    let named = |name: &str| path.replace("{name}", name);
    let instance = named("COBOL");
    match status {
        "400" if !has_body => {
            Problem::invalid_parameter(&instance, "befor_year", "unknown parameter")
        }
        "400" => Problem::invalid_fields(
            &instance,
            vec![FieldError::new(
                "publication_year",
                "invalid type: string \"1995\", expected an integer from 1800 to 2100",
            )],
        ),
        "401" => Problem::unauthorized(&instance),
        "404" if path.contains("{name}") => Problem::language_not_found(&named("Fortran")),
        "404" => Problem::no_such_path(&instance),
        "405" => Problem::method_not_allowed(&instance),
        "408" => Problem::request_timeout(&instance),
        // On a language, a write's 409 is its key's; on the list, the create's own.
        "409" if path.contains("{name}") => Problem::key_in_use(&instance),
        "409" => Problem::already_exists(&instance),
        "412" => Problem::precondition_failed(&instance),
        "413" => Problem::payload_too_large(&instance, BODY_LIMIT_BYTES),
        "415" => Problem::unsupported_media_type(&instance, Some("text/plain")),
        "422" => Problem::key_reused(&instance),
        "429" => Problem::too_many_requests(&instance, 1),
        "503" => Problem::service_unavailable(&instance),
        "507" => Problem::insufficient_storage(&instance),
        _ => Problem::internal(&instance),
    }
}

/// Every operation object of the document, with its method.
fn operations(document: &mut Value) -> Vec<(String, &mut Value)> {
    document
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|path| {
            path.iter_mut()
                .map(|(method, operation)| (method.clone(), operation))
        })
        .collect()
}

fn rename_headers(headers: &mut Map<String, Value>) {
    let renamed = std::mem::take(headers)
        .into_iter()
        .map(|(name, header)| {
            let sent = HEADER_NAMES
                .iter()
                .find(|known| known.eq_ignore_ascii_case(&name))
                .map_or(name, |known| (*known).to_owned());
            (sent, header)
        })
        .collect();
    *headers = renamed;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, app::openapi};

    #[test]
    fn the_published_name_rule_is_the_rule_the_server_applies() {
        // The schemas as a client reads them from the document (pattern and lengths), against
        // the server's own rule, on names at each edge of it. (`language.rs` tests the pattern
        // against the rule over generated names.)
        let spec = Spec::new(|| openapi(&Config::defaults()));
        let document: Value = serde_json::from_slice(&spec.json()).expect("JSON");
        let (good, bad) = crate::language::edge_names();
        for schema in ["Language", "LanguageChanges"] {
            let name = &document["components"]["schemas"][schema]["properties"]["name"];
            let pattern = regex::Regex::new(name["pattern"].as_str().expect("a pattern"))
                .expect("the pattern compiles");
            let lengths = name["minLength"].as_u64().expect("minLength")
                ..=name["maxLength"].as_u64().expect("maxLength");
            for candidate in good.iter().chain(&bad) {
                let chars = candidate.chars().count() as u64;
                let published = pattern.is_match(candidate) && lengths.contains(&chars);
                let served = crate::language::Name::try_from(candidate.as_str()).is_ok();
                assert_eq!(published, served, "{schema}: {candidate:?}");
            }
        }
    }

    #[test]
    fn swagger_ui_shows_the_corrected_spec() {
        let spec = Spec::new(|| openapi(&Config::defaults()));
        let docs = String::from_utf8(spec.docs().to_vec()).expect("UTF-8");
        assert!(docs.contains(std::str::from_utf8(&spec.json()).expect("UTF-8")));
        assert!(!docs.contains(&openapi(&Config::defaults()).spec()));
    }
}
