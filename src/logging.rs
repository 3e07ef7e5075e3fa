//! Logging: `tracing`'s lines, formatted on the request's task into a buffer in memory, and
//! written to standard error by a thread of their own, so that no request waits on the write.
//!
//! The thread writes what has gathered in one write every `GATHER` at most: a busy server's
//! hundreds of lines a millisecond cost it one system call and one wake-up of the thread, where a
//! write and a wake-up per line cost a request a tenth of its time (README, "Performance"). An
//! idle server's thread sleeps until a line comes.
//!
//! The buffer is bounded (`BUFFERED_BYTES`): a line that finds it full is dropped and counted, in
//! the metrics and in a last line at exit, never silently. Every buffered line is written before
//! the process exits.

use std::{
    cell::Cell,
    io::{self, IsTerminal, Write},
    sync::{
        Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

use crate::config::LogFormat;

/// The most bytes of lines waiting to be written: about half a second of a busy server's access
/// log (60,000 lines a second). Memory is taken as lines come, not at start.
const BUFFERED_BYTES: usize = 4 << 20;

/// How long lines gather before the thread writes them: short enough that a line shows at once
/// to a person, long enough that a busy server writes hundreds of lines at a time.
const GATHER: Duration = Duration::from_millis(5);

/// What the writer thread keeps between writes, at most: the rest of a burst's buffer is given
/// back.
const KEPT_CAPACITY: usize = 64 << 10;

/// The count of lines dropped because the buffer was full.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Where `write_info` writes, and in which format: set when logging starts without colour.
static DIRECT: OnceLock<(Arc<Lines>, LogFormat)> = OnceLock::new();

/// The lines waiting, shared by every writer and the thread.
#[derive(Default)]
struct Lines {
    waiting: Mutex<Waiting>,
    came: Condvar,
}

#[derive(Default)]
struct Waiting {
    bytes: Vec<u8>,
    closing: bool,
}

impl Lines {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // A panic while holding the lock leaves whole lines behind: go on with them.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds one line, or counts it dropped when the buffer is full.
    fn push(&self, line: &[u8]) {
        let mut waiting = self.lock();
        if waiting.bytes.len() + line.len() > BUFFERED_BYTES {
            drop(waiting);
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let was_empty = waiting.bytes.is_empty();
        waiting.bytes.extend_from_slice(line);
        drop(waiting);
        // Only the first line of a batch wakes the thread: the others find it awake.
        if was_empty {
            self.came.notify_one();
        }
    }

    /// The writer thread: waits for a line, lets others gather, writes them all at once; until
    /// closing, when it writes what is left.
    fn write_until_closed(&self, mut out: impl Write) {
        let mut batch = Vec::new();
        loop {
            let mut waiting = self.lock();
            while waiting.bytes.is_empty() && !waiting.closing {
                waiting = self
                    .came
                    .wait(waiting)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if !waiting.closing {
                drop(waiting);
                thread::sleep(GATHER);
                waiting = self.lock();
            }
            std::mem::swap(&mut waiting.bytes, &mut batch);
            let closing = waiting.closing;
            drop(waiting);
            // Standard error gone is no reason to stop serving: the lines are lost, as they
            // would be unbuffered.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            batch.shrink_to(KEPT_CAPACITY);
            if closing && self.lock().bytes.is_empty() {
                return;
            }
        }
    }
}

/// What `tracing` writes each line through: the subscriber formats a whole line, then writes it
/// with one call.
#[derive(Clone)]
struct LineWriter(Arc<Lines>);

impl Write for LineWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.0.push(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LineWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Keeps the writer thread: dropping it writes every line still buffered.
pub struct LogGuard {
    lines: Arc<Lines>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.lines.lock().closing = true;
        self.lines.came.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let dropped = dropped_lines();
        if dropped > 0 {
            eprintln!(
                "prog-lang-api: {dropped} log lines were dropped: standard error did not keep up"
            );
        }
    }
}

/// Starts logging at the level `RUST_LOG` sets (default: info), in `format`, until the guard is
/// dropped.
pub fn start_logging(format: LogFormat) -> LogGuard {
    let lines = Arc::new(Lines::default());
    let thread = {
        let lines = Arc::clone(&lines);
        thread::Builder::new()
            .name("prog-lang-api-log".into())
            .spawn(move || lines.write_until_closed(io::stderr()))
            .ok()
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(LineWriter(Arc::clone(&lines)));
    let colour = format == LogFormat::Text && io::stderr().is_terminal();
    if !colour {
        let _ = DIRECT.set((Arc::clone(&lines), format));
    }
    match format {
        LogFormat::Text => logs.with_ansi(colour).init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
    LogGuard { lines, thread }
}

/// Lines dropped so far because the writer could not keep up.
pub(crate) fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// A field's value in a line written by `write_info`, and how `tracing` would have recorded it.
pub(crate) enum Value<'a> {
    /// `%value`: unquoted in text.
    Display(&'a str),
    /// A `&str`: quoted in text, as its `Debug` writes it.
    Str(&'a str),
    Unsigned(u64),
}

/// Writes an INFO line from `target` with `message` (a plain literal) and `fields`, byte for byte
/// as `tracing`'s formatter would write the same event in this process's format, at a tenth of
/// its cost: the access log's line, once a request (README, "Performance"). False when logging
/// is not started here or writes in colour: then the caller logs through `tracing`.
pub(crate) fn write_info(target: &str, message: &str, fields: &[(&str, Value<'_>)]) -> bool {
    let Some((lines, format)) = DIRECT.get() else {
        return false;
    };
    thread_local! {
        static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    LINE.with_borrow_mut(|line| {
        line.clear();
        format_info(line, *format, SystemTime::now(), target, message, fields);
        lines.push(line);
    });
    true
}

fn format_info(
    line: &mut Vec<u8>,
    format: LogFormat,
    now: SystemTime,
    target: &str,
    message: &str,
    fields: &[(&str, Value<'_>)],
) {
    let mut number = itoa::Buffer::new();
    // Writing to a Vec cannot fail.
    match format {
        LogFormat::Text => {
            write_timestamp(line, now);
            for part in ["  INFO ", target, ": ", message] {
                line.extend_from_slice(part.as_bytes());
            }
            for (name, value) in fields {
                line.push(b' ');
                line.extend_from_slice(name.as_bytes());
                line.push(b'=');
                match value {
                    Value::Display(text) => line.extend_from_slice(text.as_bytes()),
                    // Printable ASCII but `"` and `\`: `Debug` would only add the quotes.
                    Value::Str(text)
                        if text
                            .bytes()
                            .all(|b| matches!(b, b' '..=b'~') && b != b'"' && b != b'\\') =>
                    {
                        line.push(b'"');
                        line.extend_from_slice(text.as_bytes());
                        line.push(b'"');
                    }
                    Value::Str(text) => {
                        let _ = write!(line, "{text:?}");
                    }
                    Value::Unsigned(n) => line.extend_from_slice(number.format(*n).as_bytes()),
                }
            }
        }
        LogFormat::Json => {
            line.extend_from_slice(br#"{"timestamp":""#);
            write_timestamp(line, now);
            line.extend_from_slice(br#"","level":"INFO","fields":{"#);
            line.extend_from_slice(br#""message":"#);
            let _ = serde_json::to_writer(&mut *line, message);
            for (name, value) in fields {
                line.push(b',');
                let _ = serde_json::to_writer(&mut *line, name);
                line.push(b':');
                match value {
                    Value::Display(text) | Value::Str(text) => {
                        let _ = serde_json::to_writer(&mut *line, text);
                    }
                    Value::Unsigned(n) => line.extend_from_slice(number.format(*n).as_bytes()),
                }
            }
            line.extend_from_slice(br#"},"target":"#);
            let _ = serde_json::to_writer(&mut *line, target);
            line.push(b'}');
        }
    }
    line.push(b'\n');
}

/// `now` as `tracing`'s default timer writes it (`humantime::format_rfc3339_micros`: RFC 3339 in
/// UTC, to the microsecond): the date and time to the second formatted once a second on each
/// thread, the microseconds by hand. Formatting it whole on every line was a fifth of the line.
/// A clock outside the years 1970 to 9999, which RFC 3339 and humantime cannot write (humantime
/// panics), is written as the nearer end of that range.
fn write_timestamp(line: &mut Vec<u8>, now: SystemTime) {
    /// The last microsecond of the year 9999.
    const LAST: Duration = Duration::new(253_402_300_799, 999_999_000);
    thread_local! {
        /// The second last formatted on this thread: since the epoch, and `YYYY-MM-DDTHH:MM:SS`.
        static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
    }
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default().min(LAST);
    let seconds = since.as_secs();
    let (formatted, mut second) = SECOND.get();
    if formatted != seconds {
        let mut text = Vec::with_capacity(20);
        let _ = write!(
            text,
            "{}",
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds))
        );
        // `YYYY-MM-DDTHH:MM:SSZ`: all but the `Z`.
        if let Some(date_and_time) = text.get(..19) {
            second.copy_from_slice(date_and_time);
        }
        SECOND.set((seconds, second));
    }
    let mut micros = since.subsec_micros();
    let mut fraction = *b".000000Z";
    for digit in fraction[1..7].iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    line.extend_from_slice(&second);
    line.extend_from_slice(&fraction);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that collects what the thread writes, and counts its writes.
    #[derive(Clone, Default)]
    struct Collected(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Collected {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let mut collected = self.0.lock().unwrap();
            collected.0.extend_from_slice(bytes);
            collected.1 += 1;
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_gathered_together_are_written_in_one_write_and_none_is_lost_at_close() {
        let lines = Arc::new(Lines::default());
        for i in 0..1000 {
            lines.push(format!("line {i}\n").as_bytes());
        }
        let out = Collected::default();
        let thread = {
            let (lines, out) = (Arc::clone(&lines), out.clone());
            thread::spawn(move || lines.write_until_closed(out))
        };
        lines.lock().closing = true;
        lines.came.notify_one();
        thread.join().unwrap();
        let (written, writes) = out.0.lock().unwrap().clone();
        let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(String::from_utf8(written).unwrap(), expected);
        assert_eq!(writes, 1, "1,000 lines waiting are written at once");
    }

    /// What `tracing`'s own formatter writes for the access log's event, in `format`, at `now`.
    fn formatted_by_tracing(format: LogFormat, now: std::time::SystemTime) -> String {
        struct At(std::time::SystemTime);
        impl tracing_subscriber::fmt::time::FormatTime for At {
            fn format_time(
                &self,
                w: &mut tracing_subscriber::fmt::format::Writer<'_>,
            ) -> std::fmt::Result {
                write!(w, "{}", humantime::format_rfc3339_micros(self.0))
            }
        }
        let out = Collected::default();
        let make = {
            let out = out.clone();
            move || out.clone()
        };
        let builder = tracing_subscriber::fmt()
            .with_writer(make)
            .with_ansi(false)
            .with_timer(At(now));
        let event = || {
            tracing::info!(
                method = %"GET",
                path = %"/programming_languages/C%20\"quoted\"",
                status = 404_u16,
                latency_us = 12_u64,
                request_id = "id-1._~",
                note = "tab\there, \"quoted\" ü",
                "request"
            );
        };
        match format {
            LogFormat::Text => tracing::subscriber::with_default(builder.finish(), event),
            LogFormat::Json => tracing::subscriber::with_default(builder.json().finish(), event),
        }
        String::from_utf8(out.0.lock().unwrap().0.clone()).unwrap()
    }

    #[test]
    fn the_direct_line_is_the_line_tracing_would_write() {
        let now = std::time::SystemTime::now();
        for format in [LogFormat::Text, LogFormat::Json] {
            let mut line = Vec::new();
            format_info(
                &mut line,
                format,
                now,
                module_path!(),
                "request",
                &[
                    ("method", Value::Display("GET")),
                    (
                        "path",
                        Value::Display("/programming_languages/C%20\"quoted\""),
                    ),
                    ("status", Value::Unsigned(404)),
                    ("latency_us", Value::Unsigned(12)),
                    ("request_id", Value::Str("id-1._~")),
                    ("note", Value::Str("tab\there, \"quoted\" ü")),
                ],
            );
            assert_eq!(
                String::from_utf8(line).unwrap(),
                formatted_by_tracing(format, now),
                "{format:?}"
            );
        }
    }

    #[test]
    fn the_direct_timestamp_is_the_one_tracing_writes() {
        // Formatted one after the other: equal but for the microseconds, unless a second ended
        // between the two, so a second try.
        let same_second = || {
            let mut theirs = String::new();
            let _ = tracing_subscriber::fmt::time::FormatTime::format_time(
                &tracing_subscriber::fmt::time::SystemTime,
                &mut tracing_subscriber::fmt::format::Writer::new(&mut theirs),
            );
            let ours = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
            assert_eq!(ours.len(), theirs.len(), "{ours} {theirs}");
            assert_eq!(ours[19..20], theirs[19..20]);
            ours[..19] == theirs[..19]
        };
        assert!(same_second() || same_second());
    }

    #[test]
    fn the_timestamp_is_humantimes_at_every_second_and_microsecond() {
        let written = |now| {
            let mut line = Vec::new();
            write_timestamp(&mut line, now);
            String::from_utf8(line).unwrap()
        };
        let start = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let mut times = vec![UNIX_EPOCH];
        // Within a second, across seconds (the cache's edge), and leading zeros in the fraction.
        for micros in [
            0, 1, 9, 10, 99_999, 100_000, 999_999, 1_000_000, 1_000_001, 61_000_007,
        ] {
            times.push(start + Duration::from_micros(micros));
        }
        // Back in time (a clock set back), forward by days and years, the last second written.
        times.push(start - Duration::from_secs(86_400 * 400));
        times.push(start + Duration::from_nanos(86_400 * 366 * 1_000_000_000 + 999));
        times.push(UNIX_EPOCH + Duration::from_secs(253_402_300_799));
        for now in times {
            assert_eq!(
                written(now),
                humantime::format_rfc3339_micros(now).to_string(),
                "{now:?}"
            );
        }
        // Outside what RFC 3339 can write: the nearer end, not a panic.
        assert_eq!(
            written(UNIX_EPOCH - Duration::from_micros(1)),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            written(UNIX_EPOCH + Duration::from_secs(253_402_300_800 * 2)),
            "9999-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn a_full_buffer_drops_the_line_and_counts_it() {
        let lines = Lines::default();
        let before = dropped_lines();
        lines.push(&vec![b'x'; BUFFERED_BYTES]);
        lines.push(b"one too many\n");
        assert_eq!(dropped_lines(), before + 1);
        assert_eq!(lines.lock().bytes.len(), BUFFERED_BYTES);
    }
}
