//! serve(listener, store, config, shutdown): HTTP/1.1 on an already bound listener, with the
//! connection timeouts that keep slow or idle clients from starving others, until `shutdown`
//! completes; then new connections are refused, idle ones closed, and requests in flight get up to
//! the drain timeout to finish.
//!
//! poem's own server has no header-read timeout, so connections are served here with hyper
//! directly, and each request handed to the poem endpoint that `app::app` builds.

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::Duration,
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
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinSet,
    time::{Instant, Sleep},
};

use crate::{app, config::Config, store::Store};

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
    let endpoint = endpoint(store, &config);
    let timeouts = Timeouts {
        header_read: config.header_read_timeout(),
        idle: config.idle_timeout(),
    };
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(
                        stream,
                        local,
                        remote,
                        Arc::clone(&endpoint),
                        timeouts,
                        stopped.clone(),
                    ));
                }
                // Out of file descriptors, or a connection reset before it was accepted: wait a
                // moment rather than spin, and go on serving the others.
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
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

/// The whole service, boxed. Not generic, so that it is compiled here once, and not in every crate
/// that calls the generic `serve`, where the layers' deeply nested future types would need a
/// higher recursion limit.
fn endpoint(store: Store, config: &Config) -> Arc<BoxEndpoint<'static, Response>> {
    Arc::new(app::app(store, config).map_to_response().boxed())
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    header_read: Duration,
    idle: Duration,
}

async fn serve_connection(
    stream: TcpStream,
    local: SocketAddr,
    remote: SocketAddr,
    endpoint: Arc<BoxEndpoint<'static, Response>>,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
) {
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let endpoint = Arc::clone(&endpoint);
        async move {
            let request = (
                request,
                LocalAddr(Addr::SocketAddr(local)),
                RemoteAddr(Addr::SocketAddr(remote)),
                Scheme::HTTP,
            )
                .into();
            let response: hyper::Response<BoxBody<Bytes, io::Error>> =
                endpoint.get_response(request).await.into();
            Ok::<_, Infallible>(response)
        }
    });
    let connection = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(TimedStream::new(stream, timeouts)), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = async { stop.wait_for(|stopping| *stopping).await.map(|_| ()) } => {
            // Finishes the request under way, if any, then closes; an idle connection closes now.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// A connection's stream that enforces the header-read and idle timeouts.
///
/// It follows a connection's phases from what crosses it: a request head is under way from the
/// accept (first request) or from the first byte after a response (later requests) until its
/// empty line; then the request is being served, without a deadline, since a slow
/// upload is legitimate; from the response's last write the connection is idle. A read that waits
/// past the deadline of its phase fails with `TimedOut`, and hyper closes the connection.
struct TimedStream {
    inner: TcpStream,
    timeouts: Timeouts,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    /// Whether the head has begun: the blank lines a client may send before a request line do not
    /// begin it (RFC 9112 §2.2), so they cannot end it either.
    head_begun: bool,
    /// Whether the head's current line is empty so far (a `\r` does not count): an empty line
    /// ends the head, whether lines end with `\r\n` or a bare `\n` (hyper accepts both).
    line_empty: bool,
    /// The task that last found nothing to read: hyper reads ahead while it serves a request, so
    /// when the response is out and the idle deadline starts, that read must be polled again for
    /// the deadline to be watched.
    reader: Option<Waker>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Head,
    Serving,
    Idle,
}

impl TimedStream {
    fn new(inner: TcpStream, timeouts: Timeouts) -> Self {
        Self {
            inner,
            timeouts,
            phase: Phase::Head,
            deadline: Box::pin(tokio::time::sleep(timeouts.header_read)),
            head_begun: false,
            line_empty: false,
            reader: None,
        }
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        let timeout = match phase {
            Phase::Head => self.timeouts.header_read,
            Phase::Idle => self.timeouts.idle,
            Phase::Serving => return,
        };
        self.deadline.as_mut().reset(Instant::now() + timeout);
        self.head_begun = false;
        self.line_empty = false;
        if let Some(reader) = self.reader.take() {
            reader.wake();
        }
    }

    /// A response is going out: once it is written, the connection is idle until the next
    /// request's first byte, and the idle time counts from its last write. (A 100 Continue, or an
    /// error answered before the body was read, ends the same way: idle, or closed by hyper.)
    fn wrote(&mut self, written: &Poll<io::Result<usize>>, first_bytes: &[u8]) {
        if !matches!(written, Poll::Ready(Ok(count)) if *count > 0) {
            return;
        }
        match self.phase {
            // An interim response (`100 Continue`) asks for the body: the request goes on.
            Phase::Serving if first_bytes.starts_with(b"HTTP/1.1 1") => {}
            Phase::Serving => self.enter(Phase::Idle),
            // More of the same response: the idle time counts from its last write.
            Phase::Idle => {
                let idle = self.timeouts.idle;
                self.deadline.as_mut().reset(Instant::now() + idle);
            }
            Phase::Head => {}
        }
    }

    /// Follows the head through `bytes`, just read; the head ends at its first empty line.
    fn saw(&mut self, bytes: &[u8]) {
        if self.phase == Phase::Idle && !bytes.is_empty() {
            self.enter(Phase::Head);
        }
        if self.phase != Phase::Head {
            return;
        }
        for &byte in bytes {
            match byte {
                b'\r' | b'\n' if !self.head_begun => {}
                b'\n' if self.line_empty => {
                    self.enter(Phase::Serving);
                    return;
                }
                b'\n' => self.line_empty = true,
                b'\r' => {}
                _ => {
                    self.head_begun = true;
                    self.line_empty = false;
                }
            }
        }
    }
}

impl AsyncRead for TimedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let this = &mut *self;
                this.saw(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                if !self
                    .reader
                    .as_ref()
                    .is_some_and(|reader| reader.will_wake(cx.waker()))
                {
                    self.reader = Some(cx.waker().clone());
                }
                if self.phase != Phase::Serving && self.deadline.as_mut().poll(cx).is_ready() {
                    let what = if self.phase == Phase::Head {
                        "the request head took too long"
                    } else {
                        "the connection was idle too long"
                    };
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for TimedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(&written, buf);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        let first = bufs
            .iter()
            .find(|buf| !buf.is_empty())
            .map_or(&[][..], |buf| &buf[..]);
        self.wrote(&written, first);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
