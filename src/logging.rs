//! Logging: `tracing`'s lines, formatted on the request's task and written to standard error by a
//! thread of their own, so that no request waits on the write. The queue between them is bounded
//! (`QUEUED_LINES`): a line that finds it full is dropped and counted, in the metrics and in a
//! last line at exit, never silently. Every queued line is written before the process exits.

use std::{io::IsTerminal, sync::OnceLock};

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The most lines waiting to be written: a quarter of a second of a busy server's access log. The
/// queue's slots are allocated and touched at start, so this is also memory (about 32 bytes a
/// line): tracing-appender's default, 128,000, would be 4 MiB of an idle server's 8.
const QUEUED_LINES: usize = 16_384;

/// The count of lines dropped because the queue was full, once logging has started.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Keeps the writer thread: dropping it writes every line still queued.
pub struct LogGuard {
    worker: Option<WorkerGuard>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        drop(self.worker.take());
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
    let (writer, worker) = NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("prog-lang-api-log")
        .finish(std::io::stderr());
    let _ = DROPPED.set(writer.error_counter());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(writer);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
    LogGuard {
        worker: Some(worker),
    }
}

/// Lines dropped so far because the writer could not keep up.
pub(crate) fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |counter| counter.dropped_lines() as u64)
}
