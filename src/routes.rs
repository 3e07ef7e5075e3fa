//! The route table: what the operations' declarations say of each path (the methods it answers,
//! each operation's id and query parameters), derived once at start from poem-openapi's
//! `OpenApi::meta()`, plus the few routes outside the spec (the docs, the spec itself, `/`).
//!
//! `Allow`, the request checks, the write-token guard, the `Location` of a new language and the
//! details of a parameter that did not parse all read it: no other place names a path, a method, a
//! query parameter or the operations that need a write token, so adding an operation or a
//! parameter is an edit in `api/` alone.

use std::ops::RangeInclusive;

use poem::http::{HeaderValue, Method};
use poem_openapi::registry::{MetaApi, MetaParamIn, MetaSchemaRef};

/// Every path the server answers, with its methods and operations.
pub(crate) struct RouteTable {
    /// Literal routes first, so that a literal path wins over a template that also matches it.
    routes: Vec<Route>,
    /// The request headers the operations read (header parameters, `Content-Type` of a body,
    /// `Authorization` of a security requirement), by lower-case name, sorted: what CORS allows.
    request_headers: Vec<String>,
    /// The response headers the operations declare, by lower-case name, sorted: what CORS
    /// exposes.
    response_headers: Vec<String>,
}

/// One path, as declared: `/programming_languages/{name}`.
pub(crate) struct Route {
    segments: Vec<Segment>,
    operations: Vec<Operation>,
    /// Every method the path answers, HEAD wherever GET is (poem runs GET and drops the body).
    methods: Vec<Method>,
    /// `methods`, as the `Allow` header lists them.
    allow: HeaderValue,
    /// What a route outside the spec is called in metrics (`docs`, `spec`).
    name: Option<&'static str>,
}

enum Segment {
    Literal(String),
    /// A path parameter, by name: one whole, non-empty segment.
    Parameter(String),
}

/// One operation: its method, its operationId, the query parameters it takes, and whether it
/// declares a security requirement (the writes' `WriteToken`).
pub(crate) struct Operation {
    method: Method,
    id: &'static str,
    query: Vec<Parameter>,
    secured: bool,
}

impl Operation {
    /// Whether the operation declares a security requirement: with write tokens configured, it
    /// needs one.
    pub(crate) fn secured(&self) -> bool {
        self.secured
    }
}

/// A query parameter, and what its value must be, from its declared schema.
pub(crate) struct Parameter {
    pub(crate) name: String,
    /// What the value must be, in words.
    pub(crate) expected: String,
    /// The integers the value may be, when it must be one.
    integers: Option<RangeInclusive<i64>>,
}

impl Parameter {
    fn new(name: String, schema: &MetaSchemaRef) -> Self {
        Self {
            expected: expected(schema),
            integers: integers(schema),
            name,
        }
    }

    /// What is wrong with `value` (decoded) for this parameter, if anything.
    pub(crate) fn refuse(&self, value: &str) -> Option<&str> {
        match &self.integers {
            Some(range)
                if !value
                    .parse::<i64>()
                    .is_ok_and(|value| range.contains(&value)) =>
            {
                Some(&self.expected)
            }
            _ if value.is_empty() => Some("must not be empty"),
            _ => None,
        }
    }
}

impl RouteTable {
    /// The table of the operations `apis` declare (`<Api as OpenApi>::meta()`), and of `others`,
    /// paths outside the spec that answer GET (and so HEAD), each with its name in metrics.
    pub(crate) fn new(apis: Vec<MetaApi>, others: &[(&str, &'static str)]) -> Self {
        let mut routes: Vec<Route> = Vec::new();
        let (mut request_headers, mut response_headers) = (Vec::new(), Vec::new());
        let declared = apis.into_iter().flat_map(|api| api.paths);
        for path in declared {
            for operation in &path.operations {
                request_headers.extend(
                    operation
                        .params
                        .iter()
                        .filter(|param| param.in_type == MetaParamIn::Header)
                        .map(|param| param.name.to_ascii_lowercase()),
                );
                if operation.request.is_some() {
                    request_headers.push("content-type".to_owned());
                }
                if !operation.security.is_empty() {
                    request_headers.push("authorization".to_owned());
                }
                response_headers.extend(
                    operation
                        .responses
                        .responses
                        .iter()
                        .flat_map(|response| &response.headers)
                        .map(|header| header.name.to_ascii_lowercase()),
                );
            }
            let operations = path
                .operations
                .into_iter()
                .map(|operation| Operation {
                    method: operation.method,
                    id: operation.operation_id.unwrap_or_default(),
                    secured: !operation.security.is_empty(),
                    query: operation
                        .params
                        .into_iter()
                        .filter(|param| param.in_type == MetaParamIn::Query)
                        .map(|param| Parameter::new(param.name, &param.schema))
                        .collect(),
                })
                .collect();
            routes.push(Route::new(path.path, operations, None));
        }
        for (path, name) in others {
            routes.push(Route::new((*path).to_owned(), Vec::new(), Some(name)));
        }
        routes.sort_by_key(|route| route.parameters().count());
        for names in [&mut request_headers, &mut response_headers] {
            names.sort();
            names.dedup();
        }
        Self {
            routes,
            request_headers,
            response_headers,
        }
    }

    /// The request headers the operations read, by lower-case name.
    pub(crate) fn request_headers(&self) -> &[String] {
        &self.request_headers
    }

    /// The response headers the operations declare, by lower-case name.
    pub(crate) fn response_headers(&self) -> &[String] {
        &self.response_headers
    }

    /// The route `path` (as received, percent-encoded) is on, if the server has one.
    pub(crate) fn find(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|route| route.matches(path))
    }

    /// The path of the operation `operation_id`, its parameters replaced by `values` (already
    /// percent-encoded), in the order the path declares them.
    pub(crate) fn path_of(&self, operation_id: &str, values: &[&str]) -> Option<String> {
        let route = self
            .routes
            .iter()
            .find(|route| route.operations.iter().any(|op| op.id == operation_id))?;
        let mut values = values.iter();
        let mut path = String::new();
        for segment in &route.segments {
            path.push('/');
            match segment {
                Segment::Literal(literal) => path.push_str(literal),
                Segment::Parameter(_) => path.push_str(values.next()?),
            }
        }
        Some(path)
    }
}

impl Route {
    fn new(template: String, operations: Vec<Operation>, name: Option<&'static str>) -> Self {
        let segments = template
            .trim_start_matches('/')
            .split('/')
            .map(|segment| match segment.strip_prefix('{') {
                Some(name) => Segment::Parameter(name.trim_end_matches('}').to_owned()),
                None => Segment::Literal(segment.to_owned()),
            })
            .collect();
        let declared: Vec<Method> = operations.iter().map(|op| op.method.clone()).collect();
        let mut methods = if declared.is_empty() {
            vec![Method::GET]
        } else {
            declared
        };
        if methods.contains(&Method::GET) {
            methods.insert(
                1 + methods.iter().position(|m| m == Method::GET).unwrap_or(0),
                Method::HEAD,
            );
        }
        let listed = methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            allow: HeaderValue::from_str(&listed).unwrap_or(HeaderValue::from_static("GET")),
            segments,
            operations,
            methods,
            name,
        }
    }

    /// Whether `path` is this route's: each literal segment the same, each parameter a non-empty
    /// segment, nothing after. Literals are compared in place, so that the routes a path is not
    /// (most of them) are told apart at their first segment without splitting the path.
    fn matches(&self, path: &str) -> bool {
        let Some(mut rest) = path.strip_prefix('/') else {
            return false;
        };
        for (index, segment) in self.segments.iter().enumerate() {
            if index > 0 {
                let Some(after) = rest.strip_prefix('/') else {
                    return false;
                };
                rest = after;
            }
            let end = match segment {
                Segment::Literal(literal) if rest.starts_with(literal.as_str()) => literal.len(),
                Segment::Literal(_) => return false,
                Segment::Parameter(_) => match rest.bytes().position(|byte| byte == b'/') {
                    Some(0) => return false,
                    Some(end) => end,
                    None if rest.is_empty() => return false,
                    None => rest.len(),
                },
            };
            rest = &rest[end..];
            if !(rest.is_empty() || rest.starts_with('/')) {
                return false;
            }
        }
        rest.is_empty()
    }

    /// The path as declared, with `{name}` for each parameter.
    #[cfg(test)]
    fn template(&self) -> String {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(literal) => format!("/{literal}"),
                Segment::Parameter(name) => format!("/{{{name}}}"),
            })
            .collect()
    }

    /// The `Allow` header of this path: every method it answers.
    pub(crate) fn allow(&self) -> &HeaderValue {
        &self.allow
    }

    pub(crate) fn methods(&self) -> &[Method] {
        &self.methods
    }

    /// The operation that answers `method` here; HEAD is answered by GET's.
    pub(crate) fn operation(&self, method: &Method) -> Option<&Operation> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.operations.iter().find(|op| op.method == method)
    }

    /// What a request with `method` here is called in metrics: its operationId, or the route's
    /// name outside the spec; `None` when the path does not answer `method`.
    pub(crate) fn name(&self, method: &Method) -> Option<&'static str> {
        match self.operation(method) {
            Some(operation) => Some(operation.id),
            None => self.name.filter(|_| self.answers(method)),
        }
    }

    /// Whether the path answers `method` at all, in or outside the spec.
    pub(crate) fn answers(&self, method: &Method) -> bool {
        self.methods.contains(method)
    }

    /// The names of the path's parameters, in order.
    pub(crate) fn parameters(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Parameter(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// Each of the path's parameters in `path` (which this route matches), by name, as received.
    pub(crate) fn parameter_values<'p>(
        &self,
        path: &'p str,
    ) -> impl Iterator<Item = (&str, &'p str)> {
        self.segments
            .iter()
            .zip(path.trim_start_matches('/').split('/'))
            .filter_map(|(segment, part)| match segment {
                Segment::Parameter(name) => Some((name.as_str(), part)),
                Segment::Literal(_) => None,
            })
    }
}

impl Operation {
    pub(crate) fn query(&self) -> &[Parameter] {
        &self.query
    }

    /// What the value of the query parameter `name` must be, if the operation takes one.
    pub(crate) fn expected(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|param| param.name == name)
            .map(|param| param.expected.as_str())
    }
}

/// The integers a value of `schema` may be, if it is an integer: its format's range, narrowed by
/// its bounds.
fn integers(schema: &MetaSchemaRef) -> Option<RangeInclusive<i64>> {
    let MetaSchemaRef::Inline(schema) = schema else {
        return None;
    };
    if schema.ty != "integer" {
        return None;
    }
    let (low, high) = match schema.format {
        Some("int32") => (i64::from(i32::MIN), i64::from(i32::MAX)),
        _ => (i64::MIN, i64::MAX),
    };
    // The bounds are whole numbers where they bound an integer.
    #[allow(clippy::cast_possible_truncation)]
    let low = schema.minimum.map_or(low, |min| low.max(min.ceil() as i64));
    #[allow(clippy::cast_possible_truncation)]
    let high = schema
        .maximum
        .map_or(high, |max| high.min(max.floor() as i64));
    Some(low..=high)
}

/// What a value of `schema` must be, in words: the schema's type and bounds.
fn expected(schema: &MetaSchemaRef) -> String {
    let MetaSchemaRef::Inline(schema) = schema else {
        return "invalid value".to_owned();
    };
    let bound = |value: Option<f64>| value.map(|value| format!("{value}"));
    match (schema.ty, bound(schema.minimum), bound(schema.maximum)) {
        ("integer", Some(min), Some(max)) => format!("must be an integer from {min} to {max}"),
        ("integer", Some(min), None) => format!("must be an integer from {min} up"),
        ("integer", None, Some(max)) => format!("must be an integer up to {max}"),
        ("integer", None, None) if schema.format == Some("int32") => {
            "must be a 32-bit integer".to_owned()
        }
        ("integer", None, None) => "must be an integer".to_owned(),
        _ => "invalid value".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::app;

    fn table() -> RouteTable {
        app::route_table()
    }

    #[test]
    fn the_headers_are_those_the_operations_declare() {
        let table = table();
        assert_eq!(
            table.request_headers(),
            [
                "authorization",
                "content-type",
                "idempotency-key",
                "if-match",
                "if-none-match"
            ]
        );
        assert_eq!(
            table.response_headers(),
            [
                "etag",
                "idempotent-replayed",
                "location",
                "ratelimit",
                "ratelimit-policy",
                "retry-after",
                "www-authenticate"
            ]
        );
    }

    #[test]
    fn every_write_and_only_the_writes_need_a_write_token() {
        // An operation that changes something (a method that is not safe, RFC 9110 §9.2.1) and
        // forgot its `WriteToken` would be open to anyone while tokens are configured.
        let table = table();
        let operations: Vec<&Operation> = table
            .routes
            .iter()
            .flat_map(|route| &route.operations)
            .collect();
        assert!(operations.iter().any(|operation| operation.secured()));
        for operation in operations {
            assert_eq!(
                operation.secured(),
                !operation.method.is_safe(),
                "{} {}",
                operation.method,
                operation.id
            );
        }
    }

    /// What `Route::matches` means, said the plain way: split the path at `/` and compare.
    fn matches_by_splitting(route: &Route, path: &str) -> bool {
        let Some(path) = path.strip_prefix('/') else {
            return false;
        };
        let parts: Vec<&str> = path.split('/').collect();
        parts.len() == route.segments.len()
            && route
                .segments
                .iter()
                .zip(&parts)
                .all(|(segment, part)| match segment {
                    Segment::Literal(literal) => literal == part,
                    Segment::Parameter(_) => !part.is_empty(),
                })
    }

    #[test]
    fn a_path_matches_the_routes_its_segments_match() {
        const PARTS: [&str; 11] = [
            "",
            "programming_languages",
            "programming_languagesX",
            "programming",
            "COBOL",
            "C%2B%2B",
            "healthz",
            "docs",
            "openapi.json",
            "é",
            "a/b",
        ];
        // Every path of up to three of those parts, with and without its leading slash.
        let mut paths = vec![vec![]];
        for length in 1..=3 {
            for path in paths
                .clone()
                .into_iter()
                .filter(|path| path.len() == length - 1)
            {
                for part in PARTS {
                    paths.push([path.clone(), vec![part]].concat());
                }
            }
        }
        let routes = table().routes;
        for parts in &paths {
            for path in [format!("/{}", parts.join("/")), parts.join("/")] {
                for route in &routes {
                    assert_eq!(
                        route.matches(&path),
                        matches_by_splitting(route, &path),
                        "{path} against {}",
                        route.template()
                    );
                }
            }
        }
    }

    /// The table says what the published spec says: every path, method and query parameter.
    #[test]
    fn the_table_holds_what_the_spec_declares() {
        let spec: Value = serde_json::from_str(&app::openapi(&crate::Config::defaults()).spec())
            .expect("the spec is JSON");
        let table = table();
        let paths = spec["paths"].as_object().expect("paths");
        let mut operations = 0;
        for (template, item) in paths {
            let route = table
                .find(&template.replace("{name}", "x"))
                .expect(template);
            assert_eq!(&route.template(), template);
            for (method, operation) in item.as_object().expect("a path item") {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect(method);
                let declared = route.operation(&method).expect("declared in the table");
                assert_eq!(declared.id, operation["operationId"], "{method} {template}");
                let query: Vec<&str> = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|param| param["in"] == "query")
                    .filter_map(|param| param["name"].as_str())
                    .collect();
                let names: Vec<&str> = declared.query().iter().map(|p| p.name.as_str()).collect();
                assert_eq!(names, query, "{method} {template}");
                operations += 1;
            }
            let listed: usize = route
                .methods()
                .iter()
                .filter(|method| *method != Method::HEAD)
                .count();
            assert_eq!(
                listed,
                item.as_object().map_or(0, |item| item.len()),
                "{template}"
            );
        }
        assert_eq!(operations, 7);
    }

    #[test]
    fn allow_lists_every_method_with_head_beside_get() {
        let table = table();
        let allow = |path: &str| table.find(path).map(|route| route.allow().clone());
        assert_eq!(allow("/programming_languages").unwrap(), "GET, HEAD, POST");
        assert_eq!(
            allow("/programming_languages/PL%2FI").unwrap(),
            "GET, HEAD, PUT, PATCH, DELETE"
        );
        for path in ["/", "/healthz", "/docs", "/openapi.json", "/openapi.yaml"] {
            assert_eq!(allow(path).unwrap(), "GET, HEAD", "{path}");
        }
        for path in [
            "/nope",
            "/programming_languages/",
            "/programming_languages/a/b",
            "",
        ] {
            assert!(allow(path).is_none(), "{path}");
        }
    }

    #[test]
    fn parameters_are_described_by_their_schemas() {
        let table = table();
        let list = table
            .find("/programming_languages")
            .and_then(|route| route.operation(&Method::GET))
            .expect("list_languages");
        assert_eq!(list.id, "list_languages");
        assert_eq!(
            list.expected("after_year"),
            Some("must be a 32-bit integer")
        );
        assert_eq!(list.expected("limit"), Some("must be an integer from 1 up"));
        assert_eq!(list.expected("nope"), None);
        let refuse = |name: &str, value: &str| {
            let param = list.query().iter().find(|param| param.name == name);
            param
                .and_then(|param| param.refuse(value))
                .map(str::to_owned)
        };
        assert_eq!(refuse("limit", "1"), None);
        assert_eq!(refuse("limit", "+7"), None);
        for bad in ["0", "-1", "", "x", "1.0", "99999999999"] {
            assert_eq!(
                refuse("limit", bad).as_deref(),
                Some("must be an integer from 1 up"),
                "{bad}"
            );
        }
        assert_eq!(refuse("before_year", "-2147483648"), None);
        assert_eq!(
            refuse("before_year", "2147483648").as_deref(),
            Some("must be a 32-bit integer")
        );
        assert_eq!(refuse("page_token", "x"), None);
        assert_eq!(
            refuse("page_token", "").as_deref(),
            Some("must not be empty")
        );
        assert_eq!(
            table.path_of("get_language", &["PL%2FI"]).as_deref(),
            Some("/programming_languages/PL%2FI")
        );
    }
}
