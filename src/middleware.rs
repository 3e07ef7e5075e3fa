//! The cross-cutting layers: each wraps the whole service and leaves the operations alone.

use std::{sync::Arc, time::Instant};

use poem::{Endpoint, IntoResponse, Request, Response, Result};

/// Logs one line per request at INFO: method, path as received, status and latency.
pub(crate) async fn access_log<E: Endpoint>(
    endpoint: Arc<E>,
    request: Request,
) -> Result<Response> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.original_uri().path().to_owned();
    let response = match endpoint.call(request).await {
        Ok(response) => response.into_response(),
        Err(error) => error.into_response(),
    };
    tracing::info!(
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    Ok(response)
}
