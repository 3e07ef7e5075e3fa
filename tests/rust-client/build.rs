//! Generates the client from the exported spec, `openapi/openapi.json`, with progenitor.
//!
//! progenitor 0.15 cannot take three things the spec rightly says, so a copy is adapted first, and
//! only in these ways:
//! - a `default` response beside a typed 200 (it asserts one success type); the client still
//!   sees those statuses, as errors;
//! - `304 Not Modified` on get_language (the same assertion); the client sends no `If-None-Match`;
//! - `application/merge-patch+json` on patch_language (an unsupported media type); the client
//!   patches with `application/json`, which the server takes with the same meaning.

use std::{env, fs, path::PathBuf};

use serde_json::Value;

fn main() {
    let spec_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json");
    println!("cargo:rerun-if-changed={}", spec_path.display());
    let text = fs::read_to_string(&spec_path).expect("read openapi/openapi.json");
    let mut spec: Value = serde_json::from_str(&text).expect("the spec is JSON");
    adapt(&mut spec);
    let spec: openapiv3::OpenAPI = serde_json::from_value(spec).expect("an OpenAPI 3.0 document");
    let tokens = progenitor::Generator::default()
        .generate_tokens(&spec)
        .expect("progenitor generates the client");
    let file = syn::parse2(tokens).expect("generated code parses");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("client.rs");
    fs::write(out, prettyplease::unparse(&file)).expect("write the client");
}

fn adapt(spec: &mut Value) {
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for (method, operation) in item.iter_mut() {
            if let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            {
                responses.remove("default");
                if method == "get" {
                    responses.remove("304");
                }
            }
            if let Some(content) = operation
                .pointer_mut("/requestBody/content")
                .and_then(Value::as_object_mut)
            {
                content.remove("application/merge-patch+json");
            }
        }
    }
}
