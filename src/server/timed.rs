//! A connection's stream that enforces the header-read and idle timeouts, following the
//! connection's phases from the bytes that cross it.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

use poem::http::StatusCode;

use super::{Timeouts, limit::Activity};
use crate::{
    middleware::new_request_id,
    problem::{PROBLEM_JSON, Problem},
};

/// A connection's stream that enforces the header-read and idle timeouts.
///
/// It follows a connection's phases from what crosses it: a request head is under way from the
/// accept (first request) or from the first byte after a response (later requests) until its
/// empty line; then the request is being served, without a deadline, since a slow
/// upload is legitimate; from the response's last write the connection is idle. A read that waits
/// past the deadline of its phase fails with `TimedOut`, and hyper closes the connection.
///
/// A phase change only notes the time. The one timer stays armed at a time no later than the
/// current phase's deadline, and is moved only when it fires early or would fire late: moving a
/// tokio timer at each phase change, and waking the reader to watch it, cost every request a
/// timer update and a second poll of its task (README, "Performance").
///
/// Generic over the stream, so that its phases are tested on paused time over an in-memory pipe.
pub(super) struct TimedStream<S> {
    inner: S,
    timeouts: Timeouts,
    phase: Phase,
    /// When the current phase began.
    since: Instant,
    /// The timer: armed no later than the current phase's deadline, and kept registered with the
    /// task of the read that waits, so that the task is polled again by then.
    timer: Pin<Box<Sleep>>,
    /// Whether the head has begun: the blank lines a client may send before a request line do not
    /// begin it (RFC 9112 §2.2), so they cannot end it either.
    head_begun: bool,
    /// Whether the head's current line is empty so far (a `\r` does not count): an empty line
    /// ends the head, whether lines end with `\r\n` or a bare `\n` (hyper accepts both).
    line_empty: bool,
    /// Told when a request begins and when the connection falls idle, for the connection cap.
    activity: Arc<Activity>,
    /// What the connection's service tells the stream.
    told: Arc<Told>,
    /// Until when a lingering shutdown reads, once it has begun.
    lingering_until: Option<Instant>,
    /// The problem written in place of hyper's own answer to a head it could not read, as far as
    /// it is written, and the length of hyper's answer.
    replacing: Option<(Vec<u8>, usize, usize)>,
}

/// What a connection's service tells its stream, of what the bytes alone do not show.
#[derive(Debug, Default)]
pub(super) struct Told {
    /// The server closes the connection while the client may still be sending (an early
    /// refusal's unread body, a head too large): the shutdown lingers.
    pub(super) linger: AtomicBool,
    /// The unread rest of a body is being read and discarded after its answer: its bytes are
    /// no new request, and the connection stays idle meanwhile.
    pub(super) draining: AtomicBool,
}

/// How long a closing connection reads and discards what its client still sends, so that the
/// kernel does not answer those bytes with a reset that can destroy the response in flight
/// (RFC 9112 §9.6): time enough for the response to arrive and the client to close.
const LINGER: Duration = Duration::from_secs(2);

/// Reads of a lingering shutdown before it lets other tasks run.
const LINGER_READS_PER_POLL: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Head,
    Serving,
    Idle,
}

impl<S> TimedStream<S> {
    #[cfg(test)]
    fn new(inner: S, timeouts: Timeouts) -> Self {
        Self::watched(inner, timeouts, Activity::unwatched(), Arc::default())
    }

    /// `inner`, its timeouts enforced, its activity told to `activity`, and what the service
    /// knows that the bytes do not show told to `told`.
    pub(super) fn watched(
        inner: S,
        timeouts: Timeouts,
        activity: Arc<Activity>,
        told: Arc<Told>,
    ) -> Self {
        Self {
            activity,
            told,
            lingering_until: None,
            replacing: None,
            inner,
            timeouts,
            phase: Phase::Head,
            since: Instant::now(),
            timer: Box::pin(tokio::time::sleep(timeouts.header_read)),
            head_begun: false,
            line_empty: false,
        }
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        if phase == Phase::Serving {
            return;
        }
        self.since = Instant::now();
        if phase == Phase::Idle {
            self.activity.idle();
        }
        // The timer is never later than the deadline: a read may be waiting already (hyper reads
        // ahead while serving) on a timer armed for a later one (the previous phase's, or an idle
        // timeout shorter than the header-read one); moved, it wakes that read by the deadline.
        if let Some(deadline) = self.deadline()
            && deadline < self.timer.deadline()
        {
            self.timer.as_mut().reset(deadline);
        }
        self.head_begun = false;
        self.line_empty = false;
    }

    /// The current phase's deadline; none while a request is served.
    fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Head => Some(later(self.since, self.timeouts.header_read)),
            Phase::Idle => Some(later(self.since, self.timeouts.idle)),
            Phase::Serving => None,
        }
    }

    /// Whether the current phase's deadline has passed; otherwise the timer is left armed no
    /// later than it, registered with `cx`'s task.
    fn deadline_passed(&mut self, cx: &mut Context<'_>) -> bool {
        // `enter` keeps the timer no later than the deadline.
        let deadline = self.deadline();
        while self.timer.as_mut().poll(cx).is_ready() {
            match deadline {
                Some(deadline) if self.timer.deadline() >= deadline => return true,
                Some(deadline) => self.timer.as_mut().reset(deadline),
                // While serving, the timer is kept registered, so that the read waiting now is
                // polled again by the deadline of the phase that follows: none is earlier than
                // the shorter timeout from now.
                None => {
                    let soonest = self.timeouts.header_read.min(self.timeouts.idle);
                    self.timer.as_mut().reset(later(Instant::now(), soonest));
                }
            }
        }
        false
    }

    /// A response is going out: once it is written, the connection is idle until the next
    /// request's first byte, and the idle time counts from its last write. (A 100 Continue, or an
    /// error answered before the body was read, ends the same way: idle, or closed by hyper.)
    /// `bytes` are the write's first bytes, and `more` whether the write went on past them.
    fn wrote(&mut self, written: &Poll<io::Result<usize>>, bytes: &[u8], more: bool) {
        let Poll::Ready(Ok(count)) = *written else {
            return;
        };
        if count == 0 {
            return;
        }
        let bytes = &bytes[..count.min(bytes.len())];
        let more = more && count > bytes.len();
        match self.phase {
            // Only interim responses (`100 Continue`), which ask for the body: the request goes
            // on. hyper may write the final response in the same write, after them.
            Phase::Serving if only_interim(bytes, more) => {}
            Phase::Serving => self.enter(Phase::Idle),
            // More of the same response: the idle time counts from its last write.
            Phase::Idle => self.since = Instant::now(),
            Phase::Head => {}
        }
    }

    /// Follows the head through `bytes`, just read; the head ends at its first empty line. Line by
    /// line (memchr finds each end), not byte by byte: a head is read on every request.
    fn saw(&mut self, bytes: &[u8]) {
        if self.phase == Phase::Idle && !bytes.is_empty() {
            // A body drained after its answer is no request: the connection stays idle. (A head
            // in the same read as the body's end is then served as idle, not timed as a head.)
            if self.told.draining.load(Ordering::Relaxed) {
                return;
            }
            self.enter(Phase::Head);
        }
        if self.phase != Phase::Head {
            return;
        }
        let mut rest = bytes;
        if !self.head_begun {
            rest = after_blank_lines(rest);
            if rest.is_empty() {
                return;
            }
            self.activity.busy();
            self.head_begun = true;
            self.line_empty = false;
        }
        // A line holds something when any of its bytes is other than `\r`.
        let holds_something = |line: &[u8]| line.iter().any(|&byte| byte != b'\r');
        while let Some(end) = memchr::memchr(b'\n', rest) {
            if holds_something(&rest[..end]) {
                self.line_empty = false;
            }
            if self.line_empty {
                self.enter(Phase::Serving);
                return;
            }
            self.line_empty = true;
            rest = &rest[end + 1..];
        }
        if holds_something(rest) {
            self.line_empty = false;
        }
    }
}

/// `bytes` without the blank lines a client may send before a request line.
fn after_blank_lines(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&byte| byte != b'\r' && byte != b'\n')
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// Whether `bytes` (and `more` after them) hold nothing but interim responses, whole or begun:
/// `HTTP/1.1 1xx` heads, each ending at its empty line.
fn only_interim(mut bytes: &[u8], more: bool) -> bool {
    while bytes.starts_with(b"HTTP/1.1 1") {
        match bytes.windows(4).position(|window| window == b"\r\n\r\n") {
            Some(end) => bytes = &bytes[end + 4..],
            // The head goes on in a later write.
            None => return true,
        }
    }
    bytes.is_empty() && !more
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TimedStream<S> {
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
                if self.deadline_passed(cx) {
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

impl<S: AsyncWrite + Unpin> TimedStream<S> {
    /// Whether hyper is answering a head it could not read, which no request exists for the
    /// application to answer: it writes `bytes` at the start of an answer (not idle, where a
    /// later write of an answer already begun goes). Then the stream writes a problem in its
    /// place (`hyper_len` bytes long), so that this error too is `application/problem+json`.
    fn replaces(&mut self, bytes: &[u8], hyper_len: usize) -> bool {
        if self.replacing.is_none()
            && self.phase != Phase::Idle
            && let Some(problem) = hyper_refusal(bytes)
        {
            self.replacing = Some((problem, 0, hyper_len));
            // hyper closes next, and the client may still be sending (a head too large).
            self.told.linger.store(true, Ordering::Relaxed);
        }
        self.replacing.is_some()
    }

    /// Writes on the problem that replaces hyper's answer; once it is all written, tells hyper
    /// that its own answer was.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some((problem, written, hyper_len)) = self.replacing.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while *written < problem.len() {
            match std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &problem[*written..]))
            {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(count) => *written += count,
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        let answered = *hyper_len;
        self.replacing = None;
        Poll::Ready(Ok(answered))
    }
}

/// hyper's answer to a head it cannot read is a 4xx head with an empty body and no request id
/// (every answer of the application has one): the problem to send in its place, a whole
/// response that closes the connection. The path is unknown, so `instance` is `/`.
fn hyper_refusal(bytes: &[u8]) -> Option<Vec<u8>> {
    let status = bytes.strip_prefix(b"HTTP/1.1 4")?;
    let head = &bytes[..memchr::memmem::find(bytes, b"\r\n\r\n")?];
    if memchr::memmem::find(head, b"content-length: 0\r\n").is_none()
        || memchr::memmem::find(head, b"x-request-id").is_some()
    {
        return None;
    }
    let problem = if status.starts_with(b"31 ") {
        Problem::head_too_large("/", super::MAX_HEAD_BYTES)
    } else {
        Problem::malformed_head("/")
    };
    let status = problem.status;
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("Bad Request");
    let body = problem.into_body();
    // Every response carries a request id, this one too.
    let id = new_request_id();
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {PROBLEM_JSON}\r\ncontent-length: {}\r\n\
         connection: close\r\nx-content-type-options: nosniff\r\nx-request-id: {}\r\n\r\n",
        body.len(),
        id.to_str().unwrap_or("-"),
    )
    .into_bytes();
    response.extend_from_slice(&body);
    Some(response)
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TimedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.replaces(buf, buf.len()) {
            return self.poll_replacement(cx);
        }
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(&written, buf, false);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut slices = bufs.iter().skip_while(|buf| buf.is_empty());
        let first = slices.next().map_or(&[][..], |buf| &buf[..]);
        let more = slices.any(|buf| !buf.is_empty());
        if self.replaces(first, bufs.iter().map(|buf| buf.len()).sum()) {
            return self.poll_replacement(cx);
        }
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(&written, first, more);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Closes the sending side; when the server closes while the client may still be sending,
    /// then reads and discards until the client closes too, for at most `LINGER`.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.lingering_until.is_none() {
            std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            if !this.told.linger.load(Ordering::Relaxed) {
                return Poll::Ready(Ok(()));
            }
            let until = later(Instant::now(), LINGER);
            this.lingering_until = Some(until);
            this.timer.as_mut().reset(until);
        }
        if this.timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        let mut scratch = [0u8; 4096];
        for _ in 0..LINGER_READS_PER_POLL {
            let mut discarded = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut discarded) {
                Poll::Ready(Ok(())) if discarded.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                // Woken by the next bytes, the client's close or the timer.
                Poll::Pending => return Poll::Pending,
            }
        }
        // Still sending: let other tasks run before reading on.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// `timeout` after `instant`. A timeout too long for the clock to reach (`--idle-timeout
/// 18446744073709551615`, as good as none) makes a deadline a century away rather than a panic.
pub(super) fn later(instant: Instant, timeout: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);
    instant
        .checked_add(timeout)
        .unwrap_or_else(|| instant + CENTURY)
}

#[cfg(test)]
mod tests {
    //! A connection's phases on paused time, over an in-memory pipe: each deadline is checked to
    //! the millisecond, before and at it, and the suite waits for none of them.

    use std::task::Waker;

    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex},
        net::{TcpListener, TcpStream},
        time::advance,
    };

    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        header_read: Duration::from_secs(10),
        body_read: Duration::from_secs(30),
        idle: Duration::from_secs(60),
    };
    const MS: Duration = Duration::from_millis(1);
    const HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";
    const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

    /// A connection just accepted, as the server sees it, and the client's end of it.
    fn accept() -> (TimedStream<DuplexStream>, DuplexStream) {
        let (client, server) = duplex(64 * 1024);
        (TimedStream::new(server, TIMEOUTS), client)
    }

    /// One read, polled once as hyper polls it, without waiting: `Pending` while nothing has
    /// come and no deadline has passed.
    fn read_now(stream: &mut TimedStream<DuplexStream>) -> Poll<io::Result<Vec<u8>>> {
        let mut buffer = [0u8; 4096];
        let mut read = ReadBuf::new(&mut buffer);
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(stream)
            .poll_read(&mut cx, &mut read)
            .map_ok(|()| read.filled().to_vec())
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_read_in_any_two_pieces_ends_at_its_empty_line_and_not_before() {
        let heads: [&[u8]; 4] = [
            HEAD,
            b"\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
            b"GET / HTTP/1.1\nHost: t\n\n",
            b"GET / HTTP/1.1\r\nX: \r\r\n\r\n",
        ];
        for head in heads {
            for split in 0..=head.len() {
                let (first, second) = head.split_at(split);
                let (mut stream, _client) = accept();
                stream.saw(first);
                let done = split == head.len();
                assert_eq!(stream.phase == Phase::Serving, done, "{head:?} at {split}");
                if !done {
                    // The second piece but its last byte, then that byte.
                    stream.saw(&second[..second.len() - 1]);
                    assert_eq!(stream.phase, Phase::Head, "{head:?} at {split}");
                    stream.saw(&second[second.len() - 1..]);
                }
                assert_eq!(stream.phase, Phase::Serving, "{head:?} at {split}");
            }
        }
    }

    #[track_caller]
    fn assert_waiting(stream: &mut TimedStream<DuplexStream>, when: &str) {
        let read = read_now(stream);
        assert!(read.is_pending(), "{when}: {read:?}");
    }

    #[track_caller]
    fn assert_timed_out(stream: &mut TimedStream<DuplexStream>, when: &str) {
        match read_now(stream) {
            Poll::Ready(Err(error)) => assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{when}"),
            other => panic!("{when}: {other:?}"),
        }
    }

    /// The client sends `bytes`, and the server reads them at once.
    async fn receive(
        stream: &mut TimedStream<DuplexStream>,
        client: &mut DuplexStream,
        bytes: &[u8],
    ) {
        client.write_all(bytes).await.expect("the client writes");
        match read_now(stream) {
            Poll::Ready(Ok(read)) => assert_eq!(read, bytes),
            other => panic!("the server reads what was sent: {other:?}"),
        }
    }

    /// A first request answered: the connection is idle from now.
    async fn answered(stream: &mut TimedStream<DuplexStream>, client: &mut DuplexStream) {
        receive(stream, client, HEAD).await;
        stream.write_all(RESPONSE).await.expect("the response");
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_head_not_complete_within_the_header_read_timeout_of_the_accept_fails_the_read()
    {
        let (mut stream, mut client) = accept();
        advance(TIMEOUTS.header_read / 2).await;
        receive(
            &mut stream,
            &mut client,
            b"GET /healthz HTTP/1.1\r\nHost: te",
        )
        .await;
        assert_waiting(&mut stream, "a head under way");
        advance(TIMEOUTS.header_read / 2 - MS).await;
        receive(&mut stream, &mut client, b"st\r\n").await;
        assert_waiting(&mut stream, "a millisecond before the header-read timeout");
        advance(MS).await;
        assert_timed_out(
            &mut stream,
            "the header-read timeout, counted from the accept",
        );
    }

    #[tokio::test(start_paused = true)]
    async fn timeouts_too_long_for_the_clock_are_waited_out_without_a_panic() {
        let (mut client, server) = duplex(64 * 1024);
        let never = Duration::MAX;
        let mut stream = TimedStream::new(
            server,
            Timeouts {
                header_read: never,
                body_read: never,
                idle: never,
            },
        );
        assert_waiting(&mut stream, "a first head awaited for ever");
        answered(&mut stream, &mut client).await;
        advance(Duration::from_secs(10 * 365 * 86_400)).await;
        assert_waiting(&mut stream, "ten years idle");
        receive(&mut stream, &mut client, b"GET /healthz HTTP/1.1\r\n").await;
        assert_waiting(&mut stream, "a later head awaited for ever");
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_head_is_timed_from_its_first_byte() {
        let (mut stream, mut client) = accept();
        answered(&mut stream, &mut client).await;
        advance(TIMEOUTS.idle - TIMEOUTS.header_read / 2).await;
        receive(&mut stream, &mut client, b"GET /healthz HTTP/1.1\r\n").await;
        advance(TIMEOUTS.header_read - MS).await;
        assert_waiting(&mut stream, "past the idle timeout, within the head's own");
        advance(MS).await;
        assert_timed_out(
            &mut stream,
            "the header-read timeout, from the head's first byte",
        );
    }

    #[tokio::test(start_paused = true)]
    async fn blank_lines_alone_do_not_begin_a_head_so_they_cannot_end_one() {
        let (mut stream, mut client) = accept();
        receive(&mut stream, &mut client, b"\r\n\r\n\n\r\n").await;
        advance(TIMEOUTS.header_read - MS).await;
        assert_waiting(&mut stream, "a millisecond before the header-read timeout");
        advance(MS).await;
        assert_timed_out(
            &mut stream,
            "blank lines are no request: the head is still due",
        );

        // Blank lines before a request line, which RFC 9112 lets a server ignore: the head is the
        // request's, ended by its own empty line, and then no deadline runs while it is served.
        let (mut stream, mut client) = accept();
        receive(&mut stream, &mut client, b"\r\n\n").await;
        receive(&mut stream, &mut client, HEAD).await;
        advance(TIMEOUTS.header_read + TIMEOUTS.idle).await;
        assert_waiting(
            &mut stream,
            "serving the request that followed the blank lines",
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_with_bare_lf_line_ends_is_complete_at_its_empty_line() {
        let (mut stream, mut client) = accept();
        receive(
            &mut stream,
            &mut client,
            b"GET /healthz HTTP/1.1\nHost: test\n\n",
        )
        .await;
        advance(TIMEOUTS.header_read + TIMEOUTS.idle).await;
        assert_waiting(&mut stream, "serving");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_after_the_idle_timeout_not_the_header_read_one() {
        let (mut stream, mut client) = accept();
        answered(&mut stream, &mut client).await;
        advance(TIMEOUTS.header_read + MS).await;
        assert_waiting(&mut stream, "idle past the header-read timeout");
        advance(TIMEOUTS.idle - TIMEOUTS.header_read - 2 * MS).await;
        assert_waiting(&mut stream, "a millisecond before the idle timeout");
        advance(MS).await;
        assert_timed_out(&mut stream, "the idle timeout");
    }

    #[tokio::test(start_paused = true)]
    async fn the_idle_time_counts_from_the_responses_last_write() {
        let (mut stream, mut client) = accept();
        receive(&mut stream, &mut client, HEAD).await;
        let (start, end) = RESPONSE.split_at(10);
        stream.write_all(start).await.expect("the response's start");
        advance(TIMEOUTS.idle / 2).await;
        stream.write_all(end).await.expect("the response's end");
        advance(TIMEOUTS.idle - MS).await;
        assert_waiting(&mut stream, "a millisecond before the idle timeout");
        advance(MS).await;
        assert_timed_out(&mut stream, "the idle timeout, from the last write");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_body_is_never_cut() {
        let (mut stream, mut client) = accept();
        let head =
            b"POST /programming_languages HTTP/1.1\r\nHost: test\r\nContent-Length: 20\r\n\r\n";
        receive(&mut stream, &mut client, head).await;
        for part in [&b"{\"name\""[..], b": \"Slow\"", b", \"x\"}"] {
            advance(10 * (TIMEOUTS.header_read + TIMEOUTS.idle)).await;
            assert_waiting(&mut stream, "a body under way");
            receive(&mut stream, &mut client, part).await;
        }
        advance(10 * (TIMEOUTS.header_read + TIMEOUTS.idle)).await;
        assert_waiting(&mut stream, "the request being served");
    }

    #[tokio::test(start_paused = true)]
    async fn a_100_continue_does_not_end_the_serving_phase() {
        for vectored in [false, true] {
            let (mut stream, mut client) = accept();
            let head = b"POST /programming_languages HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
            receive(&mut stream, &mut client, head).await;
            let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
            if vectored {
                // An empty slice first, as a vectored write may hold: the first bytes are what
                // tell an interim response.
                let slices = [io::IoSlice::new(b""), io::IoSlice::new(interim)];
                let written = stream.write_vectored(&slices).await.expect("100 Continue");
                assert_eq!(written, interim.len());
            } else {
                stream.write_all(interim).await.expect("100 Continue");
            }
            advance(TIMEOUTS.header_read + TIMEOUTS.idle).await;
            assert_waiting(&mut stream, "the body asked for, not yet sent");
            receive(&mut stream, &mut client, b"{}").await;
            advance(TIMEOUTS.header_read + TIMEOUTS.idle).await;
            assert_waiting(&mut stream, "the body is no new head");
            stream.write_all(RESPONSE).await.expect("the response");
            advance(TIMEOUTS.idle - MS).await;
            assert_waiting(&mut stream, "a millisecond before the idle timeout");
            advance(MS).await;
            assert_timed_out(&mut stream, "idle after the final response");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_final_response_written_with_its_100_continue_ends_the_serving_phase() {
        // A client that sends its body at once, with `Expect: 100-continue`: hyper may write the
        // interim and the final response in one write, or in one vectored write.
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
        for vectored in [false, true] {
            let (mut stream, mut client) = accept();
            let head = b"POST /programming_languages HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}";
            receive(&mut stream, &mut client, head).await;
            if vectored {
                let slices = [io::IoSlice::new(interim), io::IoSlice::new(RESPONSE)];
                let written = stream.write_vectored(&slices).await.expect("both");
                assert_eq!(written, interim.len() + RESPONSE.len());
            } else {
                stream
                    .write_all(&[&interim[..], RESPONSE].concat())
                    .await
                    .expect("both");
            }
            advance(TIMEOUTS.idle - MS).await;
            assert_waiting(&mut stream, "a millisecond before the idle timeout");
            advance(MS).await;
            assert_timed_out(&mut stream, "idle after the final response");
        }
    }

    #[test]
    fn only_hypers_own_refusals_are_replaced_by_a_problem() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let replaced = String::from_utf8(hyper_refusal(hyper).expect("replaced")).expect("text");
        assert!(replaced.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(replaced.contains("content-type: application/problem+json\r\n"));
        let body = replaced.split_once("\r\n\r\n").expect("a body").1;
        let length = format!("content-length: {}\r\n", body.len());
        assert!(replaced.contains(&length), "{replaced}");
        // The application's answers carry a request id; a body is not a head.
        for answer in [
            &b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nx-request-id: a\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            RESPONSE,
        ] {
            assert!(hyper_refusal(answer).is_none(), "{answer:?}");
        }
    }

    #[test]
    fn interim_responses_are_told_from_final_ones() {
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
        assert!(only_interim(interim, false));
        assert!(only_interim(b"HTTP/1.1 100 Cont", false), "begun");
        assert!(
            !only_interim(interim, true),
            "a body follows in the next slice"
        );
        assert!(!only_interim(&[&interim[..], RESPONSE].concat(), false));
        assert!(!only_interim(RESPONSE, false));
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_waiting_while_serving_is_woken_to_watch_the_idle_deadline() {
        read_ahead_ends_at_the_idle_deadline(TIMEOUTS).await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_timeout_shorter_than_the_header_read_one_is_watched_too() {
        read_ahead_ends_at_the_idle_deadline(Timeouts {
            header_read: Duration::from_secs(60),
            body_read: Duration::from_secs(30),
            idle: Duration::from_secs(10),
        })
        .await;
    }

    /// hyper reads ahead while it serves: that read must end at the idle deadline once the
    /// response is out, or the idle deadline would never be watched.
    async fn read_ahead_ends_at_the_idle_deadline(timeouts: Timeouts) {
        let (client, server) = duplex(64 * 1024);
        let (stream, mut client) = (TimedStream::new(server, timeouts), client);
        let (mut reader, mut writer) = tokio::io::split(stream);
        client.write_all(HEAD).await.expect("the client writes");
        let mut buffer = [0u8; 1024];
        let read = reader.read(&mut buffer).await.expect("the head");
        assert_eq!(&buffer[..read], HEAD);
        let reading_ahead = tokio::spawn(async move { reader.read(&mut [0u8; 64]).await });
        tokio::task::yield_now().await;
        assert!(
            !reading_ahead.is_finished(),
            "nothing to read while serving"
        );
        writer.write_all(RESPONSE).await.expect("the response");
        let idle_from = Instant::now();
        let read = tokio::time::timeout(2 * timeouts.header_read.max(timeouts.idle), reading_ahead)
            .await
            .expect("the read ahead ends at the idle deadline")
            .expect("the reading task");
        assert_eq!(
            read.map_err(|error| error.kind()),
            Err(io::ErrorKind::TimedOut)
        );
        assert_eq!(idle_from.elapsed(), timeouts.idle);
    }

    /// A stream without vectored writes: tokio's default, which a TCP stream overrides.
    struct Unvectored(DuplexStream);

    impl AsyncRead for Unvectored {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Unvectored {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    #[tokio::test]
    async fn vectored_writes_are_the_inner_streams() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let tcp = TcpStream::connect(listener.local_addr().expect("address"))
            .await
            .expect("connect");
        assert!(TimedStream::new(tcp, TIMEOUTS).is_write_vectored());
        let (pipe, _client) = duplex(64);
        assert!(!TimedStream::new(Unvectored(pipe), TIMEOUTS).is_write_vectored());
    }
}
