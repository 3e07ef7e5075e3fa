//! The access log: one line per request, at INFO.

use std::{sync::Arc, time::Instant};

use poem::{Endpoint, IntoResponse, Request, Response, Result};

use super::RequestId;

/// Logs one line per request at INFO: method, path as received, status, latency and request id.
/// Never a header's or a body's content: tokens and data stay out of logs.
pub(crate) async fn access_log<E: Endpoint>(
    endpoint: Arc<E>,
    request: Request,
) -> Result<Response> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.original_uri().path().to_owned();
    let id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let response = match endpoint.call(request).await {
        Ok(response) => response.into_response(),
        Err(error) => error.into_response(),
    };
    tracing::info!(
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        request_id = %id,
        "request"
    );
    Ok(response)
}
