//! serve(listener, store, config, shutdown): HTTP/1.1 on an already bound listener, with the
//! connection timeouts (`timed`), the body-read timeout and the unread rest of early-refused
//! bodies (`body`), and the cap on connections (`limit`) that keep slow, idle or too many clients
//! from starving others, and the metrics listener when configured, until
//! `shutdown` completes; then new connections are refused, idle ones closed, and requests in
//! flight get up to the drain timeout to finish.
//!
//! poem's own server has no header-read timeout, so connections are served here with hyper
//! directly, and each request handed to the poem endpoint that `app::app` builds.

mod body;
mod limit;
mod timed;

use std::{
    convert::Infallible, future::Future, io, net::SocketAddr, pin::Pin, sync::Arc, time::Duration,
};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use poem::{
    Addr, Endpoint, EndpointExt, Response,
    endpoint::BoxEndpoint,
    http::uri::Scheme,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinSet,
};

use limit::{Activity, Connections, EveryMinute, Slot};
use timed::{TimedStream, Told};

use crate::{
    app,
    config::Config,
    metrics::{InFlight, Metrics},
    store::Store,
};

/// Serves the API over `store` on `listener` until `shutdown` completes and the drain is over.
/// Taking the listener and the shutdown signal as parameters lets tests bind port 0 and stop the
/// server themselves, through the same code path as `main`.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let (metrics, metrics_listener) = match config.metrics_addr {
        None => (None, None),
        Some(addr) => {
            let bound = TcpListener::bind(addr).await.map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!("cannot serve metrics on {addr}: {error}"),
                )
            })?;
            tracing::info!("metrics on http://{}/metrics", bound.local_addr()?);
            (Some(Metrics::new(store.clone())), Some(bound))
        }
    };
    let endpoint = api_endpoint(store, &config, metrics.clone());
    let metrics_endpoint = metrics.clone().map(metrics_endpoint);
    let timeouts = Timeouts {
        header_read: config.header_read_timeout(),
        body_read: config.body_read_timeout(),
        idle: config.idle_timeout(),
    };
    let pool_size = config
        .database_url
        .as_ref()
        .map_or(0, |_| config.database_pool_size);
    let cap = limit::fit_cap(config.max_connections, pool_size);
    let limit = Connections::new(usize::try_from(cap).unwrap_or(usize::MAX));
    let accept_errors = EveryMinute::default();
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    // A connection accepted at the cap, and the slot it waits for: one wait, kept across the
    // loop's turns, so that it asks one idle connection at a time to close.
    let mut waiting: Option<(TcpStream, SocketAddr)> = None;
    let mut room: Option<Pin<Box<dyn Future<Output = Slot> + Send>>> = None;
    tokio::pin!(shutdown);
    loop {
        let api = |(stream, remote): (TcpStream, SocketAddr), slot: Slot| {
            let _ = stream.set_nodelay(true);
            serve_connection(
                stream,
                (local, remote),
                Arc::clone(&endpoint),
                timeouts,
                stopped.clone(),
                Held {
                    slot: Some(slot),
                    _counted: metrics.as_ref().map(|metrics| metrics.connection_opened()),
                },
            )
        };
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept(), if waiting.is_none() => match accepted {
                Ok(accepted) => match limit.try_slot() {
                    Some(slot) => {
                        connections.spawn(api(accepted, slot));
                    }
                    None => {
                        waiting = Some(accepted);
                        room = Some(Box::pin(Arc::clone(&limit).slot()));
                    }
                },
                Err(error) => accept_failed(&accept_errors, error).await,
            },
            Some(slot) = async { room.as_mut()?.await.into() }, if room.is_some() => {
                room = None;
                if let Some(accepted) = waiting.take() {
                    connections.spawn(api(accepted, slot));
                }
            },
            accepted = accept(metrics_listener.as_ref()) => match (accepted, &metrics_endpoint) {
                (Ok((stream, local, remote)), Some(endpoint)) => {
                    connections.spawn(serve_connection(
                        stream,
                        (local, remote),
                        Arc::clone(endpoint),
                        timeouts,
                        stopped.clone(),
                        Held { slot: None, _counted: None },
                    ));
                }
                (Err(error), _) => accept_failed(&accept_errors, error).await,
                (Ok(_), None) => {}
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    drop(metrics_listener);
    // A connection still waiting for room is closed unserved, as the kernel's queue is.
    drop((waiting, room));
    let _ = stop.send(true);
    let drained = tokio::time::timeout(config.drain_timeout(), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "drain timeout: closing the connections still in use"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// A connection on `listener`, if there is one; without a listener, never.
async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr, SocketAddr)> {
    match listener {
        Some(listener) => {
            let (stream, remote) = listener.accept().await?;
            Ok((stream, listener.local_addr()?, remote))
        }
        None => std::future::pending().await,
    }
}

/// Out of file descriptors, or a connection reset before it was accepted: wait a moment rather
/// than spin, and go on serving the others; say so at most once a minute.
async fn accept_failed(warnings: &EveryMinute, error: io::Error) {
    if warnings.ready() {
        tracing::warn!(%error, "accept failed (at most one such warning a minute)");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// What a connection holds while it is open: its slot under the cap (client connections only),
/// and its count in the metrics.
struct Held {
    slot: Option<Slot>,
    _counted: Option<InFlight>,
}

/// The whole service, boxed. Not generic, so that it is compiled here once, and not in every crate
/// that calls the generic `serve`, where the layers' deeply nested future types would need a
/// higher recursion limit.
fn api_endpoint(
    store: Store,
    config: &Config,
    metrics: Option<Arc<Metrics>>,
) -> Arc<BoxEndpoint<'static, Response>> {
    Arc::new(app::app(store, config, metrics).map_to_response().boxed())
}

/// The metrics listener's service, boxed.
fn metrics_endpoint(metrics: Arc<Metrics>) -> Arc<BoxEndpoint<'static, Response>> {
    Arc::new(app::metrics(metrics).map_to_response().boxed())
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    header_read: Duration,
    body_read: Duration,
    idle: Duration,
}

/// The longest request head, and the most the connection's read buffer holds: a longer head is a
/// 431, and a connection that never ends its head holds no more than this (hyper's default buffer
/// is 400 KiB).
const MAX_HEAD_BYTES: usize = 64 * 1024;

async fn serve_connection(
    stream: TcpStream,
    (local, remote): (SocketAddr, SocketAddr),
    endpoint: Arc<BoxEndpoint<'static, Response>>,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
    held: Held,
) {
    let activity = held
        .slot
        .as_ref()
        .map_or_else(Activity::unwatched, |slot| Arc::clone(&slot.activity));
    let told = Arc::new(Told::default());
    let stream_told = Arc::clone(&told);
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let endpoint = Arc::clone(&endpoint);
        let told = Arc::clone(&told);
        async move {
            let (parts, body) = request.into_parts();
            let (body, rest) = body::watch(&parts.headers, body, timeouts.body_read);
            let parts = (
                parts,
                LocalAddr(Addr::SocketAddr(local)),
                RemoteAddr(Addr::SocketAddr(remote)),
                Scheme::HTTP,
            )
                .into();
            let mut response = endpoint
                .get_response(poem::Request::from_parts(parts, body))
                .await;
            if let Some(rest) = rest {
                body::settle(&rest, &mut response, timeouts.header_read, told);
            }
            let response: hyper::Response<BoxBody<Bytes, io::Error>> = response.into();
            Ok::<_, Infallible>(response)
        }
    });
    let connection = http1::Builder::new()
        .keep_alive(true)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_header_size(MAX_HEAD_BYTES)
        .serve_connection(
            TokioIo::new(TimedStream::watched(
                stream,
                timeouts,
                Arc::clone(&activity),
                stream_told,
            )),
            service,
        );
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        // The server stops, or the cap needs room: the request under way, if any, is finished,
        // then the connection closes; an idle one closes now.
        () = async {
            tokio::select! {
                _ = stop.wait_for(|stopping| *stopping) => {}
                () = activity.closing() => {}
            }
        } => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
    drop(held);
}
