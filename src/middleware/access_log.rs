//! The access log: one line per request, at INFO.

use std::{io::Write, net::IpAddr, time::Instant};

use poem::http::{HeaderValue, Method, StatusCode};

use crate::logging::{self, Value};

/// Logs one line: method, path as received, status, latency, request id and the client's address
/// (`client`, as `--trusted-proxies` makes it out). Never a header's or a body's content: tokens
/// and data stay out of logs.
pub(super) fn log(
    method: &Method,
    path: &str,
    status: StatusCode,
    started: Instant,
    id: &HeaderValue,
    client: Option<IpAddr>,
) {
    if !tracing::enabled!(tracing::Level::INFO) {
        return;
    }
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let request_id = id.to_str().unwrap_or_default();
    // An address is at most 45 characters (IPv6 with an IPv4 tail): written on the stack.
    let mut address = [0u8; 48];
    let client = client.map_or("-", |client| {
        let mut cursor = std::io::Cursor::new(&mut address[..]);
        let _ = write!(cursor, "{client}");
        let written = usize::try_from(cursor.position()).unwrap_or(0);
        std::str::from_utf8(&address[..written]).unwrap_or("-")
    });
    // Written directly: the same line `tracing` would bring to the log's formatter, without its
    // dispatch, once a request.
    logging::write_info(
        module_path!(),
        "request",
        &[
            ("method", Value::Display(method.as_str())),
            ("path", Value::Display(path)),
            ("status", Value::Unsigned(status.as_u16().into())),
            ("latency_us", Value::Unsigned(latency_us)),
            ("request_id", Value::Str(request_id)),
            ("client", Value::Display(client)),
        ],
    );
}
