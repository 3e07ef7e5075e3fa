//! Request ids: every request gets one, the client's own when it is safe to log, and every
//! response carries it back.

use std::sync::{
    OnceLock,
    atomic::{AtomicU64, Ordering},
};

use poem::{
    Request,
    http::{HeaderName, HeaderValue},
};

/// The header that carries a request's id, both ways.
pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id: the client's own `X-Request-Id` when it is 1 to 128 characters of
/// `A-Z a-z 0-9 . _ ~ -` (so that it is safe in a log line and a header), else a new random one.
pub(super) fn settle(request: &Request) -> HeaderValue {
    request
        .headers()
        .get(&REQUEST_ID)
        .filter(|id| id.to_str().is_ok_and(is_sane_request_id))
        .cloned()
        .unwrap_or_else(|| {
            // URL-safe base64 is always a valid header value.
            HeaderValue::from_str(&new_request_id()).unwrap_or(HeaderValue::from_static("-"))
        })
}

fn is_sane_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

/// A new id: this process's 64-bit random prefix and a 64-bit count of the ids it has made, in
/// URL-safe base64 (22 characters). Unique (two processes share a prefix with odds of 2^-64) and
/// made without a system call; the prefix is read from the OS once. Predictable from one seen
/// id, which is no harm: an id is for finding a request's log line, never a credential (README,
/// "Deploying on a network").
fn new_request_id() -> String {
    static PREFIX: OnceLock<[u8; 8]> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut prefix = [0u8; 8];
        // Without an OS random source, the clock's nanoseconds tell processes apart.
        if getrandom::fill(&mut prefix).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos());
            prefix = (nanos as u64).to_be_bytes();
        }
        prefix
    });
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(prefix);
    bytes[8..].copy_from_slice(&COUNT.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_only_when_sane() {
        assert!(is_sane_request_id("abc-123._~"));
        assert!(is_sane_request_id(&"a".repeat(128)));
        for bad in ["", "a b", "a\nb", "ü", &"a".repeat(129)] {
            assert!(!is_sane_request_id(bad), "{bad:?}");
        }
        let id = new_request_id();
        assert!(is_sane_request_id(&id));
        assert_eq!(id.len(), 22);
        let next = new_request_id();
        assert_ne!(id, next);
        assert_eq!(id[..10], next[..10], "one prefix per process");
    }
}
