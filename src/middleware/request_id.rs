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
        .unwrap_or_else(new_request_id)
}

fn is_sane_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

/// A new id: this process's 64-bit random prefix and a 64-bit count of the ids it has made, each
/// in URL-safe base64 (11 + 11 characters). Unique (two processes share a prefix with odds of
/// 2^-64) and made without a system call; the prefix is read from the OS, and encoded, once.
/// Predictable from one seen id, which is no harm: an id is for finding a request's log line,
/// never a credential (README, "Deploying on a network").
pub(crate) fn new_request_id() -> HeaderValue {
    static PREFIX: OnceLock<[u8; 11]> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut id = [0u8; 22];
    id[..11].copy_from_slice(PREFIX.get_or_init(|| {
        let mut prefix = [0u8; 8];
        // Without an OS random source, the clock's nanoseconds tell processes apart.
        if getrandom::fill(&mut prefix).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos());
            prefix = (nanos as u64).to_be_bytes();
        }
        encoded(prefix)
    }));
    id[11..].copy_from_slice(&encoded(
        COUNT.fetch_add(1, Ordering::Relaxed).to_be_bytes(),
    ));
    // URL-safe base64 is always a valid header value.
    HeaderValue::from_bytes(&id).unwrap_or(HeaderValue::from_static("-"))
}

/// Eight bytes in URL-safe base64, unpadded: 11 characters.
fn encoded(bytes: [u8; 8]) -> [u8; 11] {
    let mut text = [0u8; 11];
    let _ = base64::Engine::encode_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        bytes,
        &mut text,
    );
    text
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
        let id = id.to_str().unwrap();
        assert!(is_sane_request_id(id));
        assert_eq!(id.len(), 22);
        let next = new_request_id();
        let next = next.to_str().unwrap();
        assert_ne!(id, next);
        assert_eq!(id[..11], next[..11], "one prefix per process");
    }
}
