//! A request's body as the connection hands it to the application: it must arrive within the
//! body-read timeout, and what the application leaves unread is settled after its answer, one rule
//! for every early refusal (401, 404, 405, 413, 415...): read and discarded after the answer, so
//! that the connection serves the next request, or the answer says `Connection: close` and the
//! connection closes after a lingering read (RFC 9112 §9.6; `timed.rs`). A client that sends its
//! head and body apart never finds its connection closed without warning.

use std::{
    io,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
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

use super::timed::later;

/// The most of a body left unread that is read and discarded to keep its connection, as Go's
/// net/http does; a longer rest is cheaper to refuse by closing.
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

/// Settles what the application left of a request's body once `response` answers it. The rest
/// is drained after the answer, up to `DRAIN_LIMIT_BYTES` within `drain_timeout`, so that a client
/// that waits for the answer before it sends its body (or sends it in a later write) keeps its
/// connection: the connection goes on to the next request once the rest is read, and closes if it
/// does not come in time. A rest known to be longer, a body that timed out, or one that a client
/// waiting for `100 Continue` never sent, marks `response` `Connection: close` instead. Whether
/// the connection is to close.
pub(super) fn settle(
    rest: &Mutex<Rest>,
    response: &mut poem::Response,
    drain_timeout: Duration,
) -> bool {
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
    if closing {
        return true;
    }
    match unread {
        None if !timed_out => return false,
        Some(unread) if !waits_for_continue && unread.size_hint().lower() <= DRAIN_LIMIT_BYTES => {
            tokio::spawn(drain(unread, drain_timeout));
            return false;
        }
        _ => {}
    }
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    true
}

/// Reads `body` to its end and discards it, for at most `DRAIN_LIMIT_BYTES` and `timeout`; past
/// either, it lets go of the body, and the connection closes.
async fn drain(mut body: Incoming, timeout: Duration) {
    let read = async {
        let mut left = DRAIN_LIMIT_BYTES;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                let Some(rest) = left.checked_sub(data.len() as u64) else {
                    return;
                };
                left = rest;
            }
        }
    };
    let _ = tokio::time::timeout_at(later(Instant::now(), timeout), read).await;
}
