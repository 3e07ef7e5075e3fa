//! A request's body as the connection hands it to the application: it must arrive within the
//! body-read timeout, and what the application leaves unread is settled after its answer, one rule
//! for every early refusal (401, 404, 405, 413, 415...): read and discarded after the answer, so
//! that the connection serves the next request, or the answer says `Connection: close` and the
//! connection closes after a lingering read (RFC 9112 §9.6; `timed.rs`). A client that sends its
//! head and body apart never finds its connection closed without warning.

use std::{
    io,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError, atomic::Ordering},
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{
    body::{Body, Frame, Incoming, SizeHint},
    header::{CONNECTION, EXPECT, HeaderMap, HeaderValue},
};
use tokio::time::{Instant, Sleep};

use super::timed::{Told, later};

/// The most of a body left unread that is read and discarded to keep its connection, as Go's
/// net/http does; a longer rest is cheaper to refuse by closing. Only a rest of a known length
/// (`Content-Length`) is drained: a chunked one could turn out longer after the answer said the
/// connection stays.
pub(super) const DRAIN_LIMIT_BYTES: u64 = 256 * 1024;

/// A request's body, timed from the end of its head; what is left of it when the application is
/// done with it goes to its `Rest`.
pub(super) struct TimedBody {
    /// `None` once the body has ended, failed or timed out: nothing is left to drain.
    inner: Option<Incoming>,
    deadline: Instant,
    /// Armed at the first read that has to wait: a body that comes with its head costs no timer.
    timer: Option<Pin<Box<Sleep>>>,
    polled: bool,
    rest: Arc<Mutex<Rest>>,
}

/// What the application left of a body, for the connection to settle once it has answered.
#[derive(Default)]
pub(super) struct Rest {
    unread: Option<Incoming>,
    /// Whether the application read any of it: a client that waits for `100 Continue` has not
    /// sent a body that nobody asked for.
    polled: bool,
    /// Whether the client waits for `100 Continue` before it sends the body.
    expects_continue: bool,
    timed_out: bool,
}

/// `body`, timed by `timeout` from now (the end of its head `headers`), and the slot its unread
/// rest is left in; a request without a body (most of them) is given an empty one and no slot.
pub(super) fn watch(
    headers: &HeaderMap,
    body: Incoming,
    timeout: Duration,
) -> (poem::Body, Option<Arc<Mutex<Rest>>>) {
    if body.is_end_stream() {
        return (poem::Body::empty(), None);
    }
    let rest = Arc::new(Mutex::new(Rest {
        expects_continue: headers
            .get(EXPECT)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue")),
        ..Rest::default()
    }));
    let timed = TimedBody {
        inner: Some(body),
        deadline: later(Instant::now(), timeout),
        timer: None,
        polled: false,
        rest: Arc::clone(&rest),
    };
    (poem::Body::from(timed.boxed()), Some(rest))
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        this.polled = true;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(Some(Err(error))) => {
                this.inner = None;
                Poll::Ready(Some(Err(io::Error::other(error))))
            }
            Poll::Ready(None) => {
                this.inner = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let deadline = this.deadline;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.inner = None;
                lock(&this.rest).timed_out = true;
                Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request body took too long",
                ))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Incoming::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Incoming::size_hint)
    }
}

impl Drop for TimedBody {
    fn drop(&mut self) {
        let mut rest = lock(&self.rest);
        rest.polled = self.polled;
        rest.unread = self.inner.take();
    }
}

fn lock(rest: &Mutex<Rest>) -> std::sync::MutexGuard<'_, Rest> {
    rest.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Settles what the application left of a request's body once `response` answers it, and tells
/// the connection's stream (`told`) what follows. A rest of a known length up to
/// `DRAIN_LIMIT_BYTES` is read and discarded after the answer, within `drain_timeout`, so that a
/// client that sends its body after the answer (or in a later write) keeps its connection: the
/// connection goes on to the next request once the rest is read. Any other rest (longer, of an
/// unknown length, timed out, or never sent by a client that waits for `100 Continue`) marks
/// `response` `Connection: close`, and the close lingers.
pub(super) fn settle(
    rest: &Mutex<Rest>,
    response: &mut poem::Response,
    drain_timeout: Duration,
    told: Arc<Told>,
) {
    let (unread, waits_for_continue, timed_out) = {
        let mut rest = lock(rest);
        (
            rest.unread.take(),
            rest.expects_continue && !rest.polled,
            rest.timed_out,
        )
    };
    let closing = response
        .headers()
        .get(CONNECTION)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
    if !closing {
        match unread {
            None if !timed_out => return,
            Some(unread)
                if !waits_for_continue
                    && unread
                        .size_hint()
                        .exact()
                        .is_some_and(|length| length <= DRAIN_LIMIT_BYTES) =>
            {
                // Set before the answer goes out, so before any of the rest is read.
                told.draining.store(true, Ordering::Relaxed);
                tokio::spawn(drain(unread, drain_timeout, told));
                return;
            }
            _ => {}
        }
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    told.linger.store(true, Ordering::Relaxed);
}

/// Reads `body` to its end and discards it, within `timeout`; if it does not end in time, lets go
/// of it, and the connection closes, lingering.
async fn drain(mut body: Incoming, timeout: Duration, told: Arc<Told>) {
    let read = async {
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                return false;
            }
        }
        true
    };
    let ended = tokio::time::timeout_at(later(Instant::now(), timeout), read)
        .await
        .unwrap_or(false);
    if !ended {
        told.linger.store(true, Ordering::Relaxed);
    }
    told.draining.store(false, Ordering::Relaxed);
}
