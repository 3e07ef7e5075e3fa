//! The one module that wires everything together: the operations and their state, the published
//! spec and its documentation, the route table derived from the operations, and the layers around
//! them, over one store and one configuration.

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Route, get};
use poem_openapi::{OpenApi, OpenApiService};

use crate::{
    api::{Api, DOCS, FRONT_DOOR},
    config::Config,
    middleware::Layers,
    routes::RouteTable,
    spec::Spec,
    store::Store,
};

const SPEC_JSON: &str = "/openapi.json";
const SPEC_YAML: &str = "/openapi.yaml";

/// The routes the server answers outside the spec: `/` (an operation the spec hides), the
/// documentation and the spec itself.
pub(crate) const ROUTES_OUTSIDE_THE_SPEC: [&str; 4] = [FRONT_DOOR, DOCS, SPEC_JSON, SPEC_YAML];

/// What is given to the spec's `servers` when no public URL is configured: the server the spec was
/// fetched from.
const DEFAULT_SERVER: &str = "/";

/// The API's OpenAPI service: its operations and the document that describes them. It holds no
/// state (the store is request data), so the spec renders without a store.
pub(crate) fn openapi(public_url: Option<&str>) -> OpenApiService<Api, ()> {
    OpenApiService::new(Api, "prog-lang-api", env!("CARGO_PKG_VERSION"))
        .description(
            "Programming languages, their publication years and contributions: list them, \
             filter them by year, and create, read, update and delete them by name. \
             Errors are RFC 9457 problem details (`application/problem+json`).",
        )
        .license("MIT OR Apache-2.0")
        .server(public_url.unwrap_or(DEFAULT_SERVER))
}

/// The whole service over `store`, configured by `config`, as the server and the tests run it.
pub(crate) fn app(store: Store, config: &Config) -> impl Endpoint + 'static {
    let routes = Arc::new(RouteTable::new(Api::meta(), &ROUTES_OUTSIDE_THE_SPEC));
    let public_url = config.public_url.clone();
    let spec = Spec::new(move || openapi(public_url.as_deref()));
    let endpoint = Route::new()
        .nest("/", openapi(config.public_url.as_deref()))
        .at(SPEC_JSON, get(spec.json_endpoint()))
        .at(SPEC_YAML, get(spec.yaml_endpoint()))
        .at(DOCS, get(spec.docs_endpoint()))
        .data(store)
        .data(Arc::clone(&routes));
    Layers::new(endpoint, routes, config)
}
