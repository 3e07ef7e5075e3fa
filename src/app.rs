//! The one module that wires everything together: the operations, the published spec and its
//! documentation, and the layers around them, over one store and one configuration.

use poem::{Endpoint, EndpointExt, IntoResponse, Route, get};
use poem_openapi::OpenApiService;

use crate::{
    api::Api,
    config::Config,
    middleware::{self, CorsPolicy, WriteTokens},
    routes::DOCS,
    spec::Spec,
    store::Store,
};

/// What is given to the spec's `servers` when no public URL is configured: the server the spec was
/// fetched from.
const DEFAULT_SERVER: &str = "/";

/// The API's OpenAPI service: its operations and the document that describes them.
pub(crate) fn openapi(store: Store, public_url: Option<&str>) -> OpenApiService<Api, ()> {
    OpenApiService::new(Api::new(store), "prog-lang-api", env!("CARGO_PKG_VERSION"))
        .description(
            "Programming languages, their publication years and contributions: list them, \
             filter them by year, and create, read, update and delete them by name. \
             Errors are RFC 9457 problem details (`application/problem+json`).",
        )
        .license("MIT OR Apache-2.0")
        .server(public_url.unwrap_or(DEFAULT_SERVER))
}

/// The whole service over `store`, configured by `config`, as the server and the tests run it.
/// Layers, outermost first: request id, access log, errors as problems, CORS, errors as problems,
/// write tokens, request checks, then the routes.
pub(crate) fn app(store: Store, config: &Config) -> impl Endpoint + 'static {
    let service = openapi(store.clone(), config.public_url.as_deref());
    let spec = {
        let (store, public_url) = (store.clone(), config.public_url.clone());
        Spec::new(move || openapi(store.clone(), public_url.as_deref()))
    };
    let tokens = (!config.write_tokens.is_empty()).then(|| WriteTokens::new(&config.write_tokens));
    let cors = (!config.cors_origins.is_empty()).then(|| CorsPolicy::new(&config.cors_origins));
    Route::new()
        .at("/openapi.json", get(spec.json_endpoint()))
        .at("/openapi.yaml", get(spec.yaml_endpoint()))
        .at(DOCS, get(spec.docs_endpoint()))
        .nest("/", service)
        .around(move |endpoint, request| {
            middleware::check_request(endpoint, request, store.clone())
        })
        .around(move |endpoint, request| {
            let tokens = tokens.clone();
            async move {
                match tokens {
                    Some(tokens) => {
                        middleware::require_write_token(endpoint, request, tokens).await
                    }
                    None => endpoint
                        .call(request)
                        .await
                        .map(IntoResponse::into_response),
                }
            }
        })
        // Errors become problems before CORS adds its headers to them; a second pass catches any
        // error of the layers outside.
        .around(middleware::catch_errors)
        .around(move |endpoint, request| {
            let cors = cors.clone();
            async move {
                match cors {
                    Some(cors) => middleware::cors(endpoint, request, cors).await,
                    None => endpoint
                        .call(request)
                        .await
                        .map(IntoResponse::into_response),
                }
            }
        })
        .around(middleware::catch_errors)
        .around(middleware::access_log)
        .around(middleware::request_id)
}
