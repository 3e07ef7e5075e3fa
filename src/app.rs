//! The one module that wires everything together: the operations and their state, the published
//! spec and its documentation, the route table derived from the operations, and the layers around
//! them, over one store and one configuration; the metrics; and what each listener serves, with
//! its limits (`run`).

use std::{future::Future, io, sync::Arc, time::Duration};

use poem::{
    Endpoint, EndpointExt, Request, Response, Route,
    endpoint::{BoxEndpoint, make, make_sync},
    get,
    http::{HeaderValue, header},
};
use poem_openapi::{ContactObject, LicenseObject, OpenApi, OpenApiService};
use tokio::{net::TcpListener, sync::watch};

use crate::{
    api::{Api, DOCS, FRONT_DOOR, Stopping},
    config::Config,
    metrics::Metrics,
    middleware::{Keys, Layers},
    routes::RouteTable,
    server::{self, Limits, Served, Timeouts},
    spec::Spec,
    store::{KeyLimits, Store},
};

const SPEC_JSON: &str = "/openapi.json";
const SPEC_YAML: &str = "/openapi.yaml";
/// The icon a browser asks for on every visit to the documentation: without it, each page load
/// logs a 404 in the browser's console.
const FAVICON: &str = "/favicon.ico";
const FAVICON_PNG: &[u8] = include_bytes!("favicon.png");

/// What answers GET on a route outside the spec, made from the spec it serves; `None` for a route
/// an operation the spec hides answers.
type Answerer = fn(&Spec) -> Option<BoxEndpoint<'static>>;

/// The routes the server answers outside the spec: each path, its name in metrics, and what
/// answers it. The route table and the mounts both read this one list.
const OUTSIDE_THE_SPEC: [(&str, &str, Answerer); 5] = [
    // The way to the documentation: `Api::index`, an operation the spec hides.
    (FRONT_DOOR, "docs", |_| None),
    (DOCS, "docs", |spec| Some(get(spec.docs_endpoint()).boxed())),
    (FAVICON, "docs", |_| Some(get(make_sync(favicon)).boxed())),
    (SPEC_JSON, "spec", |spec| {
        Some(get(spec.json_endpoint()).boxed())
    }),
    (SPEC_YAML, "spec", |spec| {
        Some(get(spec.yaml_endpoint()).boxed())
    }),
];

fn favicon(_: Request) -> Response {
    Response::builder()
        .content_type("image/png")
        .header(header::CACHE_CONTROL, "public, max-age=86400")
        .body(FAVICON_PNG)
}

/// The route table of the operations and of the routes outside the spec.
pub(crate) fn route_table() -> RouteTable {
    let outside = OUTSIDE_THE_SPEC.map(|(path, name, _)| (path, name));
    RouteTable::new(Api::meta(), &outside)
}

/// What is given to the spec's `servers` when no public URL is configured: the server the spec was
/// fetched from.
const DEFAULT_SERVER: &str = "/";

/// Serves the API over `store` on `listener`, and the metrics on their own listener when
/// `config` asks for them, until `shutdown` completes, the shutdown delay (`--shutdown-delay`) has
/// passed, and the drain is over.
pub async fn run(
    listener: TcpListener,
    store: Store,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let metrics_listener = match config.metrics_addr {
        None => None,
        Some(addr) => Some(TcpListener::bind(addr).await.map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot serve metrics on {addr}: {error}"),
            )
        })?),
    };
    if let Some(bound) = &metrics_listener {
        tracing::info!("metrics on http://{}/metrics", bound.local_addr()?);
    }
    let metrics = metrics_listener
        .is_some()
        .then(|| Metrics::new(store.clone()));
    let timeouts = Timeouts {
        header_read: config.header_read_timeout(),
        body_read: config.body_read_timeout(),
        idle: config.idle_timeout(),
    };
    let pool_size = config
        .database_url
        .as_ref()
        .map_or(0, |_| config.database_pool_size);
    let cap = server::fit_cap(config.max_connections, pool_size);
    let api_limits = Limits {
        timeouts,
        max_connections: Some(usize::try_from(cap).unwrap_or(usize::MAX)),
        drain: config.drain_timeout(),
        open_connections: metrics.as_ref().map(|metrics| metrics.open_connections()),
    };
    let stopping = Stopping::default();
    let api = boxed(app(store, &config, metrics.clone(), stopping.clone()));
    // One signal for both listeners, after the shutdown delay: each serve waits for it.
    let (stop, stopped) = watch::channel(false);
    let stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stopped| *stopped).await;
        }
    };
    let delay = config.shutdown_delay();
    let signal = async move {
        shutdown.await;
        if !delay.is_zero() {
            stopping.begin();
            tracing::info!(
                "stopping in {} s (--shutdown-delay): /healthz answers 503 meanwhile",
                delay.as_secs()
            );
            tokio::time::sleep(delay).await;
        }
        let _ = stop.send(true);
    };
    let served_metrics = async {
        match (metrics_listener, metrics) {
            (Some(listener), Some(metrics)) => {
                let limits = Limits {
                    timeouts,
                    max_connections: None,
                    drain: config.drain_timeout(),
                    open_connections: None,
                };
                server::serve(listener, boxed(self::metrics(metrics)), limits, stopped()).await
            }
            _ => Ok(()),
        }
    };
    let ((), served, served_metrics) = tokio::join!(
        signal,
        server::serve(listener, api, api_limits, stopped()),
        served_metrics
    );
    served.and(served_metrics)
}

/// An endpoint as `serve` takes it.
fn boxed(endpoint: impl Endpoint + 'static) -> Served {
    Arc::new(endpoint.map_to_response().boxed())
}

/// The API's OpenAPI service: its operations and the document that describes them, as `config`
/// publishes it. It holds no state (the store is request data), so the spec renders without a
/// store.
pub(crate) fn openapi(config: &Config) -> OpenApiService<Api, ()> {
    let public_url = config.public_url.as_deref().unwrap_or(DEFAULT_SERVER);
    OpenApiService::new(Api, "prog-lang-api", env!("CARGO_PKG_VERSION"))
        .description(
            "Programming languages, their publication years and contributions: list them, \
             filter them by year, and create, read, update and delete them by name. \
             Errors are RFC 9457 problem details (`application/problem+json`). \
             A name goes in the path as it is typed here (`PL/I`); a client that builds URLs \
             itself percent-encodes it (`/programming_languages/PL%2FI`). When the server has \
             write tokens, creates, updates and deletes need one: use Authorize.",
        )
        .contact(contact(config, public_url))
        .license(LicenseObject::new(env!("CARGO_PKG_LICENSE")).url(LICENSE_URL))
        .server(public_url)
}

/// The license is an SPDX expression (`MIT OR Apache-2.0`): OpenAPI 3.0 has one URL for it, so
/// the URL is the SPDX License List, which defines both identifiers and links their texts.
const LICENSE_URL: &str = "https://spdx.org/licenses/";

/// Whom users of this server write to: the operator's `--contact-url` and `--contact-email`, or,
/// when neither is set, the server's documentation page under an absolute public URL. OpenAPI 3.0
/// says `info.contact.url` MUST be a URL, and generators that validate the document
/// (openapi-generator) refuse a relative one: without an absolute public URL the contact has only
/// its name.
fn contact(config: &Config, public_url: &str) -> ContactObject {
    let contact = ContactObject::new().name("prog-lang-api");
    let docs = public_url
        .contains("://")
        .then(|| format!("{}{DOCS}", public_url.trim_end_matches('/')));
    let contact = match (&config.contact_url, &config.contact_email, docs) {
        (Some(url), _, _) => contact.url(url),
        (None, None, Some(docs)) => contact.url(docs),
        _ => contact,
    };
    match &config.contact_email {
        Some(email) => contact.email(email),
        None => contact,
    }
}

/// The whole service over `store`, configured by `config`, as the server and the tests run it.
pub(crate) fn app(
    store: Store,
    config: &Config,
    metrics: Option<Arc<Metrics>>,
    stopping: Stopping,
) -> impl Endpoint + 'static {
    let routes = Arc::new(route_table());
    let published = config.clone();
    let spec = Spec::new(move || openapi(&published));
    let mut endpoint = Route::new().nest("/", openapi(config));
    for (path, _, answerer) in OUTSIDE_THE_SPEC {
        if let Some(answer) = answerer(&spec) {
            endpoint = endpoint.at(path, answer);
        }
    }
    let keys = Keys::new(
        store.clone(),
        KeyLimits {
            ttl: Duration::from_secs(config.idempotency_ttl_secs),
            // Renewed every half of it while a body comes, and the rest of a request bounded by
            // the store's 4 s per operation: a key whose server stopped mid-request is free
            // again at most 10 s later (and its request, should it still run, writes nothing).
            lease: Duration::from_secs(10),
            max_keys: usize::try_from(config.idempotency_max_keys).unwrap_or(usize::MAX),
        },
    );
    Layers::new(endpoint, store, routes, config, metrics, stopping, keys)
}

/// The operations alone over `store`, mounted on poem as poem-openapi's examples mount them, with
/// none of the layers and none of the routes outside the spec: the load benchmark's baseline
/// (`benches/plain_poem.rs`), which so moves when the operations do.
#[doc(hidden)]
pub fn bare_operations(store: Store) -> impl Endpoint + 'static {
    let routes = Arc::new(route_table());
    Route::new()
        .nest("/", openapi(&Config::defaults()))
        .data(store)
        .data(routes)
}

/// The metrics listener's service: `GET /metrics`, and nothing else.
pub(crate) fn metrics(metrics: Arc<Metrics>) -> impl Endpoint + 'static {
    make(move |request: Request| {
        let metrics = Arc::clone(&metrics);
        async move {
            let mut response = metrics.answer(&request).await;
            response.headers_mut().insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            response
        }
    })
}
