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
    io::{self, IsTerminal, Write},
    sync::{
        Arc, Condvar, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    thread::{self, JoinHandle},
    time::Duration,
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
    match format {
        LogFormat::Text => logs.with_ansi(io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
    LogGuard { lines, thread }
}

/// Lines dropped so far because the writer could not keep up.
pub(crate) fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
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
