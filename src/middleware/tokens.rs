//! Write tokens: with tokens configured, a write needs `Authorization: Bearer <token>`.

use std::sync::Arc;

use poem::{
    Endpoint, IntoResponse, Request, Response, Result,
    http::{HeaderValue, Method, header},
};
use subtle::{Choice, ConstantTimeEq};

use crate::{problem::Problem, routes};

/// The bearer tokens that writes need, compared in constant time.
#[derive(Clone)]
pub(crate) struct WriteTokens(Arc<Vec<Vec<u8>>>);

impl WriteTokens {
    pub(crate) fn new(tokens: &[String]) -> Self {
        Self(Arc::new(
            tokens
                .iter()
                .map(|token| token.as_bytes().to_vec())
                .collect(),
        ))
    }

    /// Whether `presented` is one of the tokens. Every token is compared in full, whatever
    /// matched, so the time taken says nothing of how close a guess came.
    fn accepts(&self, presented: &[u8]) -> bool {
        self.0
            .iter()
            .fold(Choice::from(0), |found, token| {
                found | token.as_slice().ct_eq(presented)
            })
            .into()
    }
}

/// With write tokens configured, a POST, PUT, PATCH or DELETE that the path answers needs
/// `Authorization: Bearer <token>` with one of them: else 401 and nothing is done. Reads stay open.
pub(crate) async fn require_write_token<E: Endpoint>(
    endpoint: Arc<E>,
    request: Request,
    tokens: WriteTokens,
) -> Result<Response> {
    let method = request.method();
    let is_write = [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method);
    let path = request.original_uri().path();
    let answered = routes::allowed_methods(path)
        .is_some_and(|allow| allow.split(", ").any(|allowed| allowed == method.as_str()));
    if is_write && answered {
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|value| value.as_bytes())
            .filter(|value| value.len() > 7 && value[..7].eq_ignore_ascii_case(b"bearer "))
            .map(|value| value[7..].trim_ascii());
        if !presented.is_some_and(|token| tokens.accepts(token)) {
            let mut response = Problem::unauthorized(path).into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return Ok(response);
        }
    }
    endpoint
        .call(request)
        .await
        .map(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_tokens_are_accepted() {
        let tokens = WriteTokens::new(&["alpha".to_owned(), "beta".to_owned()]);
        assert!(tokens.accepts(b"alpha"));
        assert!(tokens.accepts(b"beta"));
        for bad in [&b"alph"[..], b"alphaa", b"", b"ALPHA"] {
            assert!(!tokens.accepts(bad));
        }
    }
}
