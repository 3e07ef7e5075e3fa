//! Logging: one formatter for every line, the server's own and the libraries' (through `tracing`)
//! alike, formatted on the request's task into a buffer in memory, and written to standard error by
//! a thread of their own, so that no request waits on the write.
//!
//! The lines are laid out as `tracing-subscriber`'s formatter lays them out (its text and JSON
//! formats, byte for byte for the fields an event records: a test holds it; spans, which the
//! server does not open, are named without their fields, in text only), so that what reads them
//! need not change; they are written by `Line` here, at a fraction of that formatter's cost.
//! Events reach it through `tracing` (`LineLayer`, behind `RUST_LOG`'s filter); the access log's
//! line, once a request, skips `tracing`'s dispatch (`write_info`), and so is written only where
//! logging was started here (`start_logging`), as the binary and `TEST_LOG=1` do.
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

use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{EnvFilter, Layer, layer::Context, prelude::*, registry::LookupSpan};

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

/// Where `write_info` writes, and how: set when logging starts.
static DIRECT: OnceLock<(Arc<Lines>, Layout)> = OnceLock::new();

/// How lines are laid out: the format, and colour for a person at a terminal (text only).
#[derive(Debug, Clone, Copy)]
struct Layout {
    format: LogFormat,
    colour: bool,
}

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
    let layout = Layout {
        format,
        colour: format == LogFormat::Text && io::stderr().is_terminal(),
    };
    let _ = DIRECT.set((Arc::clone(&lines), layout));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(LineLayer {
            lines: Arc::clone(&lines),
            layout,
            now: SystemTime::now,
        })
        .try_init();
    LogGuard { lines, thread }
}

/// Lines dropped so far because the writer could not keep up.
pub(crate) fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// A field's value, and how `tracing` records it.
pub(crate) enum Value<'a> {
    /// `%value`: unquoted in text.
    Display(&'a str),
    /// A `&str`: quoted in text, as its `Debug` writes it.
    Str(&'a str),
    Unsigned(u64),
    Signed(i64),
    Bool(bool),
    Float(f64),
    /// Anything else: as its `Debug` writes it (unquoted in text, a string in JSON).
    Debug(&'a dyn std::fmt::Debug),
}

/// Writes an INFO line from `target` with `message` (a plain literal) and `fields` straight to the
/// log, without `tracing`'s dispatch: the access log's line, once a request (README,
/// "Performance"). Nothing is written while logging is not started here.
pub(crate) fn write_info(target: &str, message: &str, fields: &[(&str, Value<'_>)]) {
    let Some((lines, layout)) = DIRECT.get() else {
        return;
    };
    with_line(|buffer| {
        let mut line = Line::begin(buffer, *layout, SystemTime::now(), Level::INFO, target, &[]);
        line.message(&Value::Display(message));
        for (name, value) in fields {
            line.field(name, value);
        }
        line.end(target);
        lines.push(buffer);
    });
}

/// A line's buffer, this thread's own, cleared.
fn with_line(write: impl FnOnce(&mut Vec<u8>)) {
    thread_local! {
        static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    LINE.with_borrow_mut(|line| {
        line.clear();
        write(line);
    });
}

/// `tracing`'s events, each written as one line.
struct LineLayer {
    lines: Arc<Lines>,
    layout: Layout,
    /// The clock: `SystemTime::now`, but in tests.
    now: fn() -> SystemTime,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for LineLayer {
    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
        let metadata = event.metadata();
        // The server opens no span; a library's are named, as `tracing`'s text format names them.
        let spans: Vec<&str> = context
            .event_scope(event)
            .map(|scope| scope.from_root().map(|span| span.name()).collect())
            .unwrap_or_default();
        with_line(|buffer| {
            let mut line = Line::begin(
                buffer,
                self.layout,
                (self.now)(),
                *metadata.level(),
                metadata.target(),
                &spans,
            );
            event.record(&mut line);
            line.end(metadata.target());
            self.lines.push(buffer);
        });
    }
}

/// One line being written: its head (time, level, spans, target), then each field, then its end.
/// Text: `2026-12-07T18:00:00.000000Z  INFO target: message name=value`; JSON:
/// `{"timestamp":"…","level":"INFO","fields":{"message":"…","name":value},"target":"…"}`.
struct Line<'a> {
    out: &'a mut Vec<u8>,
    format: LogFormat,
    first: bool,
}

impl<'a> Line<'a> {
    fn begin(
        out: &'a mut Vec<u8>,
        layout: Layout,
        now: SystemTime,
        level: Level,
        target: &str,
        spans: &[&str],
    ) -> Self {
        match layout.format {
            LogFormat::Text => {
                let (dim, colour, reset) = if layout.colour {
                    ("\x1b[2m", level_colour(level), "\x1b[0m")
                } else {
                    ("", "", "")
                };
                out.extend_from_slice(dim.as_bytes());
                write_timestamp(out, now);
                out.extend_from_slice(reset.as_bytes());
                out.push(b' ');
                out.extend_from_slice(colour.as_bytes());
                // Right-aligned in five columns, as `tracing` writes levels.
                let level = level.as_str();
                out.extend_from_slice(&b"     "[level.len().min(5)..]);
                out.extend_from_slice(level.as_bytes());
                out.extend_from_slice(reset.as_bytes());
                out.push(b' ');
                for span in spans {
                    out.extend_from_slice(span.as_bytes());
                    out.push(b':');
                }
                if !spans.is_empty() {
                    out.push(b' ');
                }
                for part in [dim, target, ":", reset] {
                    out.extend_from_slice(part.as_bytes());
                }
            }
            LogFormat::Json => {
                out.extend_from_slice(br#"{"timestamp":""#);
                write_timestamp(out, now);
                out.extend_from_slice(br#"","level":""#);
                out.extend_from_slice(level.as_str().as_bytes());
                out.extend_from_slice(br#"","fields":{"#);
            }
        }
        Self {
            out,
            format: layout.format,
            first: true,
        }
    }

    /// The event's message: in text, without its name, as `tracing` writes it.
    fn message(&mut self, value: &Value<'_>) {
        self.write(None, value);
    }

    fn field(&mut self, name: &str, value: &Value<'_>) {
        self.write(Some(name), value);
    }

    /// A field, or the message (`name` `None`).
    fn write(&mut self, name: Option<&str>, value: &Value<'_>) {
        let out = &mut *self.out;
        let mut number = itoa::Buffer::new();
        // Writing to a Vec cannot fail.
        match self.format {
            LogFormat::Text => {
                out.push(b' ');
                if let Some(name) = name {
                    out.extend_from_slice(name.as_bytes());
                    out.push(b'=');
                }
                match value {
                    Value::Display(text) => out.extend_from_slice(text.as_bytes()),
                    // Printable ASCII but `"` and `\`: `Debug` would only add the quotes.
                    Value::Str(text)
                        if text
                            .bytes()
                            .all(|b| matches!(b, b' '..=b'~') && b != b'"' && b != b'\\') =>
                    {
                        out.push(b'"');
                        out.extend_from_slice(text.as_bytes());
                        out.push(b'"');
                    }
                    Value::Str(text) => {
                        let _ = write!(out, "{text:?}");
                    }
                    Value::Unsigned(n) => out.extend_from_slice(number.format(*n).as_bytes()),
                    Value::Signed(n) => out.extend_from_slice(number.format(*n).as_bytes()),
                    Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                    Value::Float(f) => {
                        let _ = write!(out, "{f:?}");
                    }
                    Value::Debug(value) => {
                        let _ = write!(out, "{value:?}");
                    }
                }
            }
            LogFormat::Json => {
                if !self.first {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, name.unwrap_or("message"));
                out.push(b':');
                match value {
                    Value::Display(text) | Value::Str(text) => {
                        let _ = serde_json::to_writer(&mut *out, text);
                    }
                    Value::Unsigned(n) => out.extend_from_slice(number.format(*n).as_bytes()),
                    Value::Signed(n) => out.extend_from_slice(number.format(*n).as_bytes()),
                    Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                    Value::Float(f) => {
                        let _ = serde_json::to_writer(&mut *out, f);
                    }
                    Value::Debug(value) => {
                        let _ = serde_json::to_writer(&mut *out, &format!("{value:?}"));
                    }
                }
            }
        }
        self.first = false;
    }

    fn end(self, target: &str) {
        let out = self.out;
        if self.format == LogFormat::Json {
            out.extend_from_slice(br#"},"target":"#);
            let _ = serde_json::to_writer(&mut *out, target);
            out.push(b'}');
        }
        out.push(b'\n');
    }
}

/// The ANSI colour `tracing` gives a level.
fn level_colour(level: Level) -> &'static str {
    match level {
        Level::ERROR => "\x1b[31m",
        Level::WARN => "\x1b[33m",
        Level::INFO => "\x1b[32m",
        Level::DEBUG => "\x1b[34m",
        Level::TRACE => "\x1b[35m",
    }
}

/// An event's fields, recorded into its line: `message`, the event's text, as the message.
impl tracing::field::Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.recorded(field, &Value::Debug(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.recorded(field, &Value::Str(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.recorded(field, &Value::Unsigned(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.recorded(field, &Value::Signed(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.recorded(field, &Value::Bool(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.recorded(field, &Value::Float(value));
    }
}

impl Line<'_> {
    fn recorded(&mut self, field: &Field, value: &Value<'_>) {
        match (field.name(), value) {
            // A message given as a `&str` is written as text, unquoted, as `tracing` writes it.
            ("message", Value::Str(text)) => self.message(&Value::Display(text)),
            ("message", _) => self.message(value),
            (name, _) => self.field(name, value),
        }
    }
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

    /// The moment every line of the comparisons is written at.
    fn fixed_now() -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(1_796_000_000_123_456)
    }

    /// The access log's event, with fields of every kind a line meets.
    fn event() {
        tracing::info!(
            method = %"GET",
            path = %"/programming_languages/C%20\"quoted\"",
            status = 404_u16,
            latency_us = 12_u64,
            request_id = "id-1._~",
            note = "tab\there, \"quoted\" ü",
            signed = -3_i64,
            flag = true,
            ratio = 2.0_f64,
            debugged = ?Some(1),
            "request"
        );
    }

    /// Another level, a message given as a field, and a library's target.
    fn other_event() {
        tracing::warn!(target: "hyper::proto", message = "a plain message", code = 7_u64);
    }

    /// What `tracing-subscriber`'s own formatter writes for `event`, in `format`.
    fn formatted_by_tracing(format: LogFormat, event: fn()) -> String {
        struct At;
        impl tracing_subscriber::fmt::time::FormatTime for At {
            fn format_time(
                &self,
                w: &mut tracing_subscriber::fmt::format::Writer<'_>,
            ) -> std::fmt::Result {
                write!(w, "{}", humantime::format_rfc3339_micros(fixed_now()))
            }
        }
        let out = Collected::default();
        let make = {
            let out = out.clone();
            move || out.clone()
        };
        let builder = tracing_subscriber::fmt().with_writer(make).with_timer(At);
        match format {
            LogFormat::Text => tracing::subscriber::with_default(builder.finish(), event),
            LogFormat::Json => tracing::subscriber::with_default(builder.json().finish(), event),
        }
        String::from_utf8(out.0.lock().unwrap().0.clone()).unwrap()
    }

    /// What this server's layer writes for `event`, in `format`.
    fn formatted_here(format: LogFormat, event: fn()) -> String {
        let lines = Arc::new(Lines::default());
        let layer = LineLayer {
            lines: Arc::clone(&lines),
            layout: Layout {
                format,
                colour: false,
            },
            now: fixed_now,
        };
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), event);
        let written = std::mem::take(&mut lines.lock().bytes);
        String::from_utf8(written).unwrap()
    }

    #[test]
    fn every_line_is_the_line_tracing_would_write() {
        for format in [LogFormat::Text, LogFormat::Json] {
            let here = formatted_here(format, event);
            assert!(
                here.contains("request_id") && here.ends_with('\n'),
                "{here}"
            );
            assert_eq!(here, formatted_by_tracing(format, event), "{format:?}");
            let here = formatted_here(format, other_event);
            assert!(here.contains("WARN"), "{here}");
            assert_eq!(
                here,
                formatted_by_tracing(format, other_event),
                "{format:?}"
            );
        }
    }

    #[test]
    fn the_access_logs_direct_line_is_the_line_of_its_event() {
        for format in [LogFormat::Text, LogFormat::Json] {
            let mut written = Vec::new();
            let layout = Layout {
                format,
                colour: false,
            };
            let mut line = Line::begin(
                &mut written,
                layout,
                fixed_now(),
                Level::INFO,
                module_path!(),
                &[],
            );
            line.message(&Value::Display("request"));
            for (name, value) in [
                ("method", Value::Display("GET")),
                (
                    "path",
                    Value::Display("/programming_languages/C%20\"quoted\""),
                ),
                ("status", Value::Unsigned(404)),
                ("latency_us", Value::Unsigned(12)),
                ("request_id", Value::Str("id-1._~")),
                ("note", Value::Str("tab\there, \"quoted\" ü")),
                ("signed", Value::Signed(-3)),
                ("flag", Value::Bool(true)),
                ("ratio", Value::Float(2.0)),
                ("debugged", Value::Debug(&Some(1))),
            ] {
                line.field(name, &value);
            }
            line.end(module_path!());
            assert_eq!(
                String::from_utf8(written).unwrap(),
                formatted_here(format, event),
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
