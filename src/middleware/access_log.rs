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
    // An address is at most 45 characters (IPv6 with an IPv4 tail): written on the stack, an
    // IPv4 one (the usual) without `fmt`.
    let mut address = [0u8; 48];
    let client = client.map_or("-", |client| written(client, &mut address));
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

/// `address` as text, in `buffer`.
fn written(address: IpAddr, buffer: &mut [u8; 48]) -> &str {
    let mut at = 0;
    match address {
        IpAddr::V4(v4) => {
            let mut number = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buffer[at] = b'.';
                    at += 1;
                }
                let digits = number.format(octet).as_bytes();
                buffer[at..at + digits.len()].copy_from_slice(digits);
                at += digits.len();
            }
        }
        IpAddr::V6(v6) => {
            let mut cursor = std::io::Cursor::new(&mut buffer[..]);
            let _ = write!(cursor, "{v6}");
            at = usize::try_from(cursor.position()).unwrap_or(0);
        }
    }
    std::str::from_utf8(&buffer[..at]).unwrap_or("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_std_writes_them() {
        for address in [
            "0.0.0.0",
            "127.0.0.1",
            "198.51.100.255",
            "::1",
            "2001:db8::ff00:42:8329",
        ] {
            let address: IpAddr = address.parse().expect("an address");
            let mut buffer = [0u8; 48];
            assert_eq!(written(address, &mut buffer), address.to_string());
        }
    }
}
