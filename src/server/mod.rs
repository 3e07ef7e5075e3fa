//! serve(listener, endpoint, limits, shutdown): HTTP/1.1 on an already bound listener, with the
//! connection timeouts (`timed`), the body-read timeout and the unread rest of early-refused
//! bodies (`body`), and the cap on connections (`limit`) that keep slow, idle or too many clients
//! from starving others, until `shutdown` completes; then new connections are refused, idle ones
//! closed, and requests in flight get up to the drain timeout to finish.
//!
//! It serves whatever endpoint it is given and knows nothing of the operations, the store or the
//! metrics' contents: `app::run` builds the endpoints (the API's, the metrics'), and the limits of
//! each. (What it refuses itself, hyper's unparsable heads, it answers as the API answers every
//! error: a problem with a request id.)
//!
//! poem's own server has no header-read timeout, so connections are served here with hyper
//! directly, and each request handed to the poem endpoint.

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
    Addr, Endpoint, Response,
    endpoint::BoxEndpoint,
    http::uri::Scheme,
    web::{LocalAddr, RemoteAddr},
};
use prometheus_client::metrics::gauge::Gauge;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinSet,
};

pub(crate) use limit::fit_cap;
use limit::{Activity, Connections, EveryMinute, Slot};
use timed::{TimedStream, Told};

/// What `serve` serves: one endpoint, boxed. Not generic, so that the connection code is compiled
/// here once, and not in every crate that serves, where the layers' deeply nested future types
/// would need a higher recursion limit.
pub(crate) type Served = Arc<BoxEndpoint<'static, Response>>;

/// How long a connection may take over each part of a request, how many may be open, how long
/// shutdown waits for them, and the gauge that counts them.
pub(crate) struct Limits {
    pub(crate) timeouts: Timeouts,
    /// At most this many connections open at once; `None`: no cap.
    pub(crate) max_connections: Option<usize>,
    /// How long requests in flight get to finish once `shutdown` completes.
    pub(crate) drain: Duration,
    /// Counts the connections open, when set.
    pub(crate) open_connections: Option<Gauge>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) header_read: Duration,
    pub(crate) body_read: Duration,
    pub(crate) idle: Duration,
}

/// Serves `endpoint` on `listener` until `shutdown` completes and the drain is over. Taking the
/// listener and the shutdown signal as parameters lets tests bind port 0 and stop the server
/// themselves, through the same code path as `main`.
pub(crate) async fn serve(
    listener: TcpListener,
    endpoint: Served,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let Limits {
        timeouts,
        max_connections,
        drain,
        open_connections,
    } = limits;
    let limit = max_connections.map(Connections::new);
    let accept_errors = EveryMinute::default();
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    // A connection accepted at the cap, and the slot it waits for: one wait, kept across the
    // loop's turns, so that it asks one idle connection at a time to close.
    let mut waiting: Option<(TcpStream, SocketAddr)> = None;
    let mut room: Option<Pin<Box<dyn Future<Output = Slot> + Send>>> = None;
    tokio::pin!(shutdown);
    loop {
        let connection = |(stream, remote): (TcpStream, SocketAddr), slot: Option<Slot>| {
            let _ = stream.set_nodelay(true);
            serve_connection(
                stream,
                (local, remote),
                Arc::clone(&endpoint),
                timeouts,
                stopped.clone(),
                Held {
                    slot,
                    _counted: open_connections.as_ref().map(Open::new),
                },
            )
        };
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept(), if waiting.is_none() => match accepted {
                Ok(accepted) => match &limit {
                    None => {
                        connections.spawn(connection(accepted, None));
                    }
                    Some(limit) => match limit.try_slot() {
                        Some(slot) => {
                            connections.spawn(connection(accepted, Some(slot)));
                        }
                        None => {
                            waiting = Some(accepted);
                            room = Some(Box::pin(Arc::clone(limit).slot()));
                        }
                    },
                },
                Err(error) => accept_failed(&accept_errors, error).await,
            },
            Some(slot) = async { room.as_mut()?.await.into() }, if room.is_some() => {
                room = None;
                if let Some(accepted) = waiting.take() {
                    connections.spawn(connection(accepted, Some(slot)));
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // A connection still waiting for room is closed unserved, as the kernel's queue is.
    drop((waiting, room));
    tracing::info!(
        connections = connections.len(),
        "stopped accepting on {local}: finishing the requests in flight"
    );
    let _ = stop.send(true);
    let drained = tokio::time::timeout(drain, async {
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

/// Out of file descriptors, or a connection reset before it was accepted: wait a moment rather
/// than spin, and go on serving the others; say so at most once a minute.
async fn accept_failed(warnings: &EveryMinute, error: io::Error) {
    if warnings.ready() {
        tracing::warn!(%error, "accept failed (at most one such warning a minute)");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// What a connection holds while it is open: its slot under the cap (when there is one), and its
/// count in the gauge.
struct Held {
    slot: Option<Slot>,
    _counted: Option<Open>,
}

/// One connection counted in the open-connections gauge until it is dropped.
struct Open(Gauge);

impl Open {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The longest request head, and the most the connection's read buffer holds: a longer head is a
/// 431, and a connection that never ends its head holds no more than this (hyper's default buffer
/// is 400 KiB).
const MAX_HEAD_BYTES: usize = 64 * 1024;

async fn serve_connection(
    stream: TcpStream,
    (local, remote): (SocketAddr, SocketAddr),
    endpoint: Served,
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
