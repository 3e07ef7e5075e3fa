//! The cross-cutting layers, as one endpoint around the routes: request id, access log, the error
//! boundary, CORS, write tokens and the request checks. One layer rather than one per concern, so a
//! request pays for one future and one route lookup, and each optional part (tokens, CORS) is a
//! field that is set or not, rather than a layer that passes requests through.
//!
//! Each concern lives in its own file; this one only orders them.

mod access_log;
pub(crate) mod checks;
mod client;
mod cors;
mod errors;
mod idempotency;
mod rate_limit;
mod request_id;
mod tokens;

use std::{net::IpAddr, panic::AssertUnwindSafe, sync::Arc, time::Instant};

use futures_util::FutureExt;
use poem::{
    Endpoint, IntoResponse, Request, Response, Result,
    http::{
        HeaderValue, Method, Uri,
        header::{CONNECTION, X_CONTENT_TYPE_OPTIONS},
    },
};

pub(crate) use client::TrustedProxies;
pub(crate) use cors::CorsPolicy;
use idempotency::Begun;
pub(crate) use idempotency::Keys;
pub(crate) use rate_limit::RateLimits;
use rate_limit::{Client, Verdict};
pub(crate) use request_id::new_request_id;
pub(crate) use tokens::WriteTokens;

use crate::{
    api::{Refusal, Stopping},
    compression::{self, Accepted},
    config::Config,
    metrics::Metrics,
    problem::Problem,
    routes::{Operation, Route, RouteTable},
    store::Store,
};

/// The routes `E`, wrapped in every cross-cutting concern.
pub(crate) struct Layers<E> {
    inner: E,
    store: Store,
    routes: Arc<RouteTable>,
    tokens: Option<WriteTokens>,
    cors: Option<CorsPolicy>,
    compression: bool,
    metrics: Option<Arc<Metrics>>,
    stopping: Stopping,
    limits: Option<Arc<RateLimits>>,
    proxies: TrustedProxies,
    keys: Keys,
}

impl<E: Endpoint> Layers<E> {
    pub(crate) fn new(
        inner: E,
        store: Store,
        routes: Arc<RouteTable>,
        config: &Config,
        metrics: Option<Arc<Metrics>>,
        stopping: Stopping,
        keys: Keys,
    ) -> Self {
        let limits = config
            .rate_limit
            .map(|limit| Arc::new(RateLimits::new(limit)));
        if let (Some(metrics), Some(limits)) = (&metrics, &limits) {
            let limits = Arc::clone(limits);
            metrics.count_rate_limited_clients(move || limits.clients());
        }
        Self {
            inner,
            store,
            tokens: (!config.write_tokens.is_empty())
                .then(|| WriteTokens::new(&config.write_tokens)),
            cors: (!config.cors_origins.is_empty())
                .then(|| CorsPolicy::new(&config.cors_origins, &routes)),
            routes,
            compression: config.compression,
            metrics,
            stopping,
            limits,
            keys,
            proxies: TrustedProxies::new(
                config.trusted_proxies.iter().map(|proxy| proxy.0).collect(),
            ),
        }
    }

    /// The answer to `request`, every error as a problem: the routes' answer, unless the request
    /// checks or the write-token guard refuse first; CORS on it while CORS is on.
    ///
    /// An async block rather than an `async fn`, as `call` is: an `async fn` keeps its arguments
    /// twice in its future (the request is 472 bytes), and every request's future is moved into
    /// its box whole.
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn keeps the request twice"
    )]
    fn answer<'a>(
        &'a self,
        mut request: Request,
        path: &'a str,
        route: Option<&'a Route>,
    ) -> impl Future<Output = Response> + Send + 'a {
        async move {
            if let Some(refusal) = checks::check_head(&request, path) {
                return refusal;
            }
            let origin = match &self.cors {
                Some(cors) => {
                    if request.method() == Method::OPTIONS
                        && let Some(route) = route
                    {
                        return cors.options(&request, path, route);
                    }
                    request.headers().get(poem::http::header::ORIGIN).cloned()
                }
                None => None,
            };
            let decorated = |mut response: Response| {
                if let Some(cors) = &self.cors {
                    cors.decorate(&mut response, origin.as_ref(), route);
                }
                response
            };
            let method = request.method().clone();
            if let Some(refusal) = self.refusal(&mut request, path, route, &method) {
                return decorated(refusal);
            }
            // A write's idempotency key: claimed before it runs, settled with its answer.
            let mut running = None;
            if Keys::carried(&request)
                && route
                    .and_then(|route| route.operation(&method))
                    .is_some_and(Operation::secured)
            {
                let scope = self
                    .tokens
                    .as_ref()
                    .map(|_| WriteTokens::scope(&request))
                    .unwrap_or_default();
                // Boxed, as is `end` below: the state of a key's claim (its store calls, its
                // renewals) is held by a keyed write alone, not by every request's future.
                match Box::pin(self.keys.begin(&mut request, path, scope)).await {
                    Begun::Unkeyed => {}
                    Begun::Answered(response) => return decorated(response),
                    Begun::Running(release) => running = Some(release),
                }
            }
            // HEAD is answered as GET is, compressed as GET would be; hyper sends no body.
            if method == Method::HEAD {
                request.set_method(Method::GET);
            }
            // What the operations read: the store, the route table, whether the server stops.
            let extensions = request.extensions_mut();
            extensions.insert(self.store.clone());
            extensions.insert(Arc::clone(&self.routes));
            extensions.insert(self.stopping.clone());
            let mut response = match self.inner.call(request).await {
                Ok(response) => response.into_response(),
                Err(error) => errors::answer(error, path, &method, route),
            };
            if let Some(release) = running {
                Box::pin(self.keys.end(release, &mut response)).await;
            }
            decorated(response)
        }
    }

    /// The refusal of the write-token guard or the request checks, if either refuses `request`.
    /// A query check that the operation should see is left in the request as a `Refusal`.
    fn refusal(
        &self,
        request: &mut Request,
        path: &str,
        route: Option<&Route>,
        method: &Method,
    ) -> Option<Response> {
        let route = route.filter(|route| route.answers(method))?;
        if let Some(tokens) = &self.tokens
            && route.operation(method).is_some_and(Operation::secured)
            && !tokens.admit(request)
        {
            return Some(tokens::refusal(request, path));
        }
        if let Some(refusal) = checks::check_content_encoding(request, path) {
            return Some(refusal);
        }
        if let Some(problem) = checks::check_path(route, path) {
            return Some(problem.into_response());
        }
        if let Some((problem, kept)) =
            checks::check_query(route, method, path, request.uri().query())
        {
            if route.operation(method).is_none() {
                return Some(problem.into_response());
            }
            // The operation answers, with the parameters that passed: it may find more to name
            // in the same 400 (a page token, a body), and a missing language is a 404 rather
            // than a 400 (README, "Choices where the contract leaves room").
            if let Some(uri) = with_query(request.uri(), &kept) {
                *request.uri_mut() = uri;
            }
            request.extensions_mut().insert(Refusal(problem));
        }
        None
    }
}

/// `uri` with `query` in place of its query.
fn with_query(uri: &Uri, query: &str) -> Option<Uri> {
    let path = uri.path();
    let path_and_query = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

impl<E: Endpoint> Endpoint for Layers<E> {
    type Output = Response;

    // An async block: see `answer`.
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn keeps the request twice"
    )]
    fn call(&self, mut request: Request) -> impl Future<Output = Result<Response>> + Send {
        async move {
            let started = Instant::now();
            let id = request_id::settle(&request);
            let method = request.method().clone();
            // A clone of the URI shares its bytes: the path without an allocation.
            let uri = request.original_uri().clone();
            let path = uri.path();
            let accepted = if self.compression {
                Accepted::parse(request.headers())
            } else {
                Accepted::default()
            };
            // Absent is read as the default: most requests (no Accept-Encoding) allocate nothing here.
            if accepted != Accepted::default() {
                request.extensions_mut().insert(accepted);
            }
            let route = self.routes.find(path);
            let in_flight = self
                .metrics
                .as_ref()
                .map(|metrics| metrics.request_started());
            let client = self.proxies.client(&request);
            // Never limited: the health check, which load balancers probe, and a preflight, which a
            // browser sends on its own before the request that counts.
            let judged = self
                .limits
                .as_ref()
                .filter(|_| method != Method::OPTIONS)
                .filter(|_| route.and_then(|route| route.name(&method)) != Some(HEALTH))
                .map(|limits| (limits, limits.check(self.counted(&request, client))));
            let mut response = match judged {
                Some((limits, Verdict::Refused { retry_after })) => {
                    let mut refusal = limits.refusal(path, retry_after);
                    // A browser reads the 429 (and its Retry-After) only with the CORS grant.
                    if let Some(cors) = &self.cors {
                        let origin = request.headers().get(poem::http::header::ORIGIN);
                        cors.decorate(&mut refusal, origin, route);
                    }
                    refusal
                }
                _ => AssertUnwindSafe(self.answer(request, path, route))
                    .catch_unwind()
                    .await
                    // A bug: the panic message went to the log through the panic hook; the client gets
                    // a problem that shows none of it.
                    .unwrap_or_else(|_| Problem::internal(path).into_response()),
            };
            if self.compression {
                compression::compress(&mut response, accepted.for_each_request()).await;
            }
            access_log::log(&method, path, response.status(), started, &id, client);
            if let Some(metrics) = &self.metrics {
                let operation = route.and_then(|route| route.name(&method));
                metrics.observe(
                    operation,
                    &method,
                    response.status().as_u16(),
                    started.elapsed(),
                );
            }
            drop(in_flight);
            let headers = response.headers_mut();
            headers.insert(request_id::REQUEST_ID, id);
            // No response is to be read as another type than it says (a problem as HTML, say).
            headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            // Stopping: the client (a load balancer's pool) opens its next connection elsewhere,
            // rather than meet this one closed under its next request.
            if self.stopping.is_under_way() {
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            if let Some((limits, verdict)) = judged {
                limits.fields(verdict, headers);
            }
            Ok(response)
        }
    }
}

/// The health check's operation, which rate limits leave alone.
const HEALTH: &str = "health";

impl<E> Layers<E> {
    /// Who `request`, from `client`, counts against: its write token when it carries a valid
    /// one, else its address.
    fn counted(&self, request: &Request, client: Option<IpAddr>) -> Client {
        match self
            .tokens
            .as_ref()
            .and_then(|tokens| tokens.which(request))
        {
            Some(token) => Client::Token(token),
            None => client.map_or(Client::Crowd(0), Client::Address),
        }
    }
}
