//! Write tokens: with tokens configured, an operation that takes a `WriteToken` (the writes: POST,
//! PUT, PATCH and DELETE) needs `Authorization: Bearer <token>` with one of them; reads stay open.

use std::sync::Arc;

use poem::{
    IntoResponse, Request, Response,
    http::{HeaderValue, header},
};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::{api::WriteRefused, problem::Problem};

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

    /// Whether `request` carries `Authorization: Bearer <token>` with one of the tokens.
    pub(crate) fn admit(&self, request: &Request) -> bool {
        presented(request).is_some_and(|token| self.accepts(token))
    }

    /// The scope of `request`'s idempotency keys: a digest of the token it carries (every server
    /// of one database makes the same), or none without one.
    pub(crate) fn scope(request: &Request) -> Vec<u8> {
        presented(request).map_or_else(Vec::new, |token| {
            use sha2::Digest;
            sha2::Sha256::digest(token).to_vec()
        })
    }

    /// Which of the tokens `request` carries, by its place among them: the client a rate limit
    /// counts (never the token itself, which stays out of memory beyond this list). Every token
    /// is compared in full, as `accepts` does.
    pub(crate) fn which(&self, request: &Request) -> Option<usize> {
        let presented = presented(request)?;
        let mut found = u64::MAX;
        for (place, token) in self.0.iter().enumerate() {
            let place = u64::try_from(place).unwrap_or(u64::MAX);
            found.conditional_assign(&place, token.as_slice().ct_eq(presented));
        }
        usize::try_from(found).ok().filter(|_| found != u64::MAX)
    }
}

/// The token of `request`'s `Authorization: Bearer <token>`, if it sends one. The scheme name is
/// case-insensitive (RFC 9110 §11.1).
fn presented(request: &Request) -> Option<&[u8]> {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        .filter(|value| value.len() > 7 && value[..7].eq_ignore_ascii_case(b"bearer "))
        .map(|value| value[7..].trim_ascii())
        .filter(|token| !token.is_empty())
}

/// The 401 for a write of `request` without a valid token: nothing was done. A token that was
/// sent and is not valid is named as such (RFC 6750 §3.1), so that a client can tell a wrong
/// token from a missing one.
pub(super) fn refusal(request: &Request, instance: &str) -> Response {
    let challenge = if presented(request).is_some() {
        "Bearer error=\"invalid_token\""
    } else {
        "Bearer"
    };
    WriteRefused::Unauthorized(Problem::unauthorized(instance).into(), challenge.to_owned())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_known_by_its_place() {
        let tokens = WriteTokens::new(&["alpha".to_owned(), "beta".to_owned()]);
        let request = |value: &str| {
            Request::builder()
                .header(header::AUTHORIZATION, value)
                .finish()
        };
        assert_eq!(tokens.which(&request("Bearer alpha")), Some(0));
        assert_eq!(tokens.which(&request("bearer beta")), Some(1));
        assert_eq!(tokens.which(&request("Bearer gamma")), None);
        assert_eq!(tokens.which(&Request::default()), None);
    }

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
