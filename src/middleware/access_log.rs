//! The access log: one line per request, at INFO.

use std::time::Instant;

use poem::http::{HeaderValue, Method, StatusCode};

/// Logs one line: method, path as received, status, latency and request id. Never a header's or a
/// body's content: tokens and data stay out of logs.
pub(super) fn log(
    method: &Method,
    path: &str,
    status: StatusCode,
    started: Instant,
    id: &HeaderValue,
) {
    tracing::info!(
        method = %method,
        path = %path,
        status = status.as_u16(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        request_id = id.to_str().unwrap_or_default(),
        "request"
    );
}
