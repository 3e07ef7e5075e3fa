//! Request ids: every request gets one, the client's own when it is safe to log, and every
//! response carries it back.

use std::sync::Arc;

use poem::{Endpoint, IntoResponse, Request, Response, Result, http::HeaderValue};

/// The request's id, as the request-id layer settled it: what the access log line and the
/// `X-Request-Id` response header carry.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

/// The header that carries a request's id, both ways.
const REQUEST_ID: &str = "x-request-id";

/// Gives every request an id: the client's own `X-Request-Id` when it is 1 to 128 characters of
/// `A-Z a-z 0-9 . _ ~ -` (so that it is safe in a log line), else a new random one; and sends it
/// back on the response.
pub(crate) async fn request_id<E: Endpoint>(
    endpoint: Arc<E>,
    mut request: Request,
) -> Result<Response> {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_sane_request_id(id))
        .map_or_else(new_request_id, str::to_owned);
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = match endpoint.call(request).await {
        Ok(response) => response.into_response(),
        Err(error) => error.into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

fn is_sane_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

/// 128 random bits, in URL-safe base64.
fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    // Without an OS random source, ids are still unique enough from the clock.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        bytes = nanos.to_be_bytes();
    }
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
        assert_ne!(id, new_request_id());
    }
}
