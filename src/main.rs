//! The prog-lang-api binary: configuration, logging, the listener, and the signals that stop it.

use std::process::ExitCode;

use prog_lang_api::{Config, LogGuard, Store, run, start_logging};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env_and_args() {
        Ok(config) => config,
        Err((message, code)) => {
            if code == 0 {
                print!("{message}");
            } else {
                eprintln!("{message}");
            }
            return ExitCode::from(u8::try_from(code).unwrap_or(2));
        }
    };
    // Dropped last, on every way out of `main`: every line logged is written before exit (and
    // before a failure's own line, `fail`).
    let logs = start_logging(config.log_format);

    let shutdown = match shutdown_signal() {
        Ok(shutdown) => shutdown,
        Err(error) => {
            return fail(
                logs,
                format_args!("cannot handle SIGINT and SIGTERM: {error}"),
            );
        }
    };
    let store = match &config.database_url {
        None => Store::in_memory(config.max_languages),
        Some(url) => {
            let pool_size = usize::try_from(config.database_pool_size).unwrap_or(usize::MAX);
            match Store::postgres(url.expose(), pool_size, config.max_languages).await {
                Ok(store) => store,
                Err(error) => return fail(logs, format_args!("{error}")),
            }
        }
    };
    let listener = match TcpListener::bind(config.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            return fail(
                logs,
                format_args!("cannot listen on {}: {error}", config.addr),
            );
        }
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("serving on http://{addr} (Swagger UI at http://{addr}/docs)");
        if config.write_tokens.is_empty() && !addr.ip().is_loopback() {
            tracing::warn!(
                "no write tokens are configured and {addr} is reachable from other machines: \
                 anyone who can connect can create, change and delete languages \
                 (set PROG_LANG_API_WRITE_TOKENS or --write-tokens-file)"
            );
        }
    }
    match run(listener, store, config, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(logs, format_args!("{error}")),
    }
}

/// Stops with `message` as the last line on standard error: after every line logged before it,
/// which the log's thread may still hold.
fn fail(logs: LogGuard, message: std::fmt::Arguments<'_>) -> ExitCode {
    drop(logs);
    eprintln!("prog-lang-api: {message}");
    ExitCode::FAILURE
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM. Without a SIGTERM handler, the signal that service
/// managers and container runtimes send would kill the process mid-request. The handlers are
/// installed here, before the server announces itself, so that no signal can arrive in between
/// and kill it.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
}
