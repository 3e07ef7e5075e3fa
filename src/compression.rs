//! Compressed responses (README, "Compression"): the coding a request's `Accept-Encoding` prefers
//! among `br` and `gzip`, applied to every response of a compressible type that is at least
//! `MIN_BYTES` long (`coding_for`), with `Vary: Accept-Encoding` on every response that could have been
//! compressed and an ETag of its own for each coding (`conditional::coded`).
//!
//! Bodies are compressed whole, in memory: the API's bodies are at most a page of JSON. The spec
//! and Swagger UI, the same bytes every time, are compressed once per coding (`Precompressed`).

use std::{io::Write, sync::OnceLock};

use bytes::Bytes;
use poem::{
    Body, Response,
    http::{
        HeaderMap, HeaderValue, StatusCode,
        header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, VARY},
    },
};

use crate::conditional;

/// Responses shorter than this are sent as they are: compressing them saves too little.
const MIN_BYTES: usize = 1024;

/// The coding a body of `len` bytes is sent with, for a request whose preferred coding is
/// `preferred`: none for a short body. The one place the size rule is applied, by the responses
/// compressed here and by a 304, which carries the ETag its 200 would have.
pub(crate) fn coding_for(preferred: Option<Coding>, len: usize) -> Option<Coding> {
    preferred.filter(|_| len >= MIN_BYTES)
}

/// Brotli quality and gzip level for responses compressed on each request: the fastest that keep
/// most of the gain. On the page of 1,000 languages (134 KB), gzip 1 takes about 0.3 ms for 13.2 KB
/// (level 5: 1 ms for 12.0 KB) and brotli 2 about 0.6 ms for 9.4 KB (quality 5: 1.5 ms for 8.2
/// KB); README, "Compression", has what they cost a loaded server.
const BROTLI_QUALITY: u32 = 2;
const GZIP_LEVEL: u32 = 1;
/// For bodies compressed once and kept: the best ratio that still takes well under a second on
/// Swagger UI's 1.6 MB page.
const BROTLI_QUALITY_KEPT: u32 = 9;
const GZIP_LEVEL_KEPT: u32 = 9;
/// Brotli's window: 4 MiB, more than any body here. (A window fitted to the body was no faster.)
const BROTLI_WINDOW_BITS: u32 = 22;

/// A content coding the server writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Brotli = 0,
    Gzip = 1,
}

impl Coding {
    const OFFERED: [Self; 2] = [Self::Brotli, Self::Gzip];

    /// The coding's name in `Accept-Encoding` and `Content-Encoding`.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Gzip => "gzip",
        }
    }

    fn matches(self, token: &str) -> bool {
        token.eq_ignore_ascii_case(self.token())
            // RFC 9110 §8.4.1.3: `x-gzip` is `gzip`.
            || (self == Self::Gzip && token.eq_ignore_ascii_case("x-gzip"))
    }

    fn compress(self, body: &[u8], kept: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() / 4 + 64);
        match self {
            Self::Brotli => {
                let quality = if kept {
                    BROTLI_QUALITY_KEPT
                } else {
                    BROTLI_QUALITY
                };
                let mut writer =
                    brotli::CompressorWriter::new(&mut out, 4096, quality, BROTLI_WINDOW_BITS);
                // Writing to a Vec cannot fail.
                let _ = writer.write_all(body);
                drop(writer);
            }
            Self::Gzip => {
                let level = if kept { GZIP_LEVEL_KEPT } else { GZIP_LEVEL };
                let mut writer =
                    flate2::write::GzEncoder::new(&mut out, flate2::Compression::new(level));
                let _ = writer.write_all(body);
                let _ = writer.finish();
            }
        }
        out
    }
}

/// What a request's `Accept-Encoding` makes of each coding offered: its q-value, in thousandths
/// (0: refused). Set on each request by the layers (all 0 when compression is off), and read by
/// whatever compresses its response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Accepted([u16; Coding::OFFERED.len()]);

impl Accepted {
    /// Reads `headers`' `Accept-Encoding`: a coding not named takes `*`'s q-value. Without the
    /// header, nothing but identity: a client that says nothing (curl, say) gets what it can read.
    pub(crate) fn parse(headers: &HeaderMap) -> Self {
        let mut named = [None::<u16>; Coding::OFFERED.len()];
        let mut star = None::<u16>;
        for value in headers.get_all(ACCEPT_ENCODING) {
            let Ok(value) = value.to_str() else { continue };
            for element in value.split(',') {
                let mut parts = element.split(';');
                let token = parts.next().unwrap_or("").trim();
                let Some(q) = quality(parts) else { continue };
                if token == "*" {
                    star = Some(q);
                }
                for (at, coding) in Coding::OFFERED.iter().enumerate() {
                    if coding.matches(token) {
                        named[at] = Some(q);
                    }
                }
            }
        }
        Self(named.map(|q| q.or(star).unwrap_or(0)))
    }

    /// The coding for a body compressed on this request: the highest q-value, gzip when the
    /// client weighs both alike (it is several times cheaper, for a body a third larger).
    pub(crate) fn for_each_request(self) -> Option<Coding> {
        self.best(Coding::Gzip)
    }

    /// The coding for a body compressed once and kept (`Precompressed`): brotli on a tie, since
    /// its cost is paid once.
    fn for_kept(self) -> Option<Coding> {
        self.best(Coding::Brotli)
    }

    fn best(self, on_a_tie: Coding) -> Option<Coding> {
        let q = |coding: Coding| self.0[coding as usize];
        let other = match on_a_tie {
            Coding::Brotli => Coding::Gzip,
            Coding::Gzip => Coding::Brotli,
        };
        let best = if q(other) > q(on_a_tie) {
            other
        } else {
            on_a_tie
        };
        (q(best) > 0).then_some(best)
    }
}

/// The q-value among an element's parameters, in thousandths (1000 when none is given); `None`
/// when it is malformed, so that the element is ignored.
fn quality<'a>(parameters: impl Iterator<Item = &'a str>) -> Option<u16> {
    let mut q = 1000;
    for parameter in parameters {
        let (name, value) = parameter.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("q") {
            continue;
        }
        // RFC 9110 §12.4.2: 0 to 1, at most three decimals.
        let value = value.trim();
        let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
        if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
        q = match whole {
            "0" => thousandths,
            "1" if thousandths == 0 => 1000,
            _ => return None,
        };
    }
    Some(q)
}

/// Whether a body of this `Content-Type` is worth compressing: text, JSON and YAML.
fn is_compressible(content_type: Option<&HeaderValue>) -> bool {
    let Some(Ok(content_type)) = content_type.map(HeaderValue::to_str) else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .as_bytes();
    let is = |name: &str| essence.eq_ignore_ascii_case(name.as_bytes());
    let ends_with = |suffix: &str| {
        essence.len() >= suffix.len()
            && essence[essence.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    essence
        .get(..5)
        .is_some_and(|start| start.eq_ignore_ascii_case(b"text/"))
        || is("application/json")
        || ends_with("+json")
        || is("application/yaml")
        || is("application/javascript")
}

/// Adds `Accept-Encoding` to `headers`' `Vary`, unless it is there already.
fn vary(headers: &mut HeaderMap) {
    let listed = headers.get_all(VARY).iter().any(|value| {
        value.to_str().is_ok_and(|value| {
            value.split(',').any(|name| {
                name.trim() == "*" || name.trim().eq_ignore_ascii_case("accept-encoding")
            })
        })
    });
    if !listed {
        headers.append(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

/// Compresses `response` with `coding` where it is of a compressible type and long enough, and
/// marks every response that could have been compressed with `Vary: Accept-Encoding`. A response
/// that carries a `Content-Encoding` already (`Precompressed`) is left as it is.
pub(crate) async fn compress(response: &mut Response, coding: Option<Coding>) {
    let headers = response.headers();
    let could_be = match response.status() {
        // A 304 stands for the representation a 200 would have sent.
        StatusCode::NOT_MODIFIED => true,
        StatusCode::NO_CONTENT => false,
        status => !status.is_informational() && is_compressible(headers.get(CONTENT_TYPE)),
    };
    if !could_be {
        return;
    }
    vary(response.headers_mut());
    let Some(coding) = coding else { return };
    if response.status() == StatusCode::NOT_MODIFIED
        || response.headers().contains_key(CONTENT_ENCODING)
    {
        return;
    }
    let body = match response.take_body().into_bytes().await {
        Ok(body) => body,
        // Not in memory and failed to read: nothing to send but what was read, which is nothing.
        Err(_) => Bytes::new(),
    };
    let Some(coding) = coding_for(Some(coding), body.len()) else {
        response.set_body(body);
        return;
    };
    let compressed = coding.compress(&body, false);
    set_coded(response, Some(coding), compressed);
}

/// `response` with `body`, compressed with `coding`: its `Content-Encoding` set, and its ETag, if
/// any, the coding's own.
fn set_coded(response: &mut Response, coding: Option<Coding>, body: impl Into<Body>) {
    let headers = response.headers_mut();
    headers.remove(CONTENT_LENGTH);
    if let Some(coding) = coding {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
        let coded = headers
            .get(ETAG)
            .and_then(|etag| etag.to_str().ok())
            .and_then(|etag| HeaderValue::from_str(&conditional::coded(etag, coding.token())).ok());
        if let Some(coded) = coded {
            headers.insert(ETAG, coded);
        }
    }
    response.set_body(body);
}

/// A body that is the same on every request (the spec, Swagger UI), kept compressed with each
/// coding once a client has asked for it.
pub(crate) struct Precompressed {
    identity: Bytes,
    content_type: &'static str,
    coded: [OnceLock<Bytes>; Coding::OFFERED.len()],
}

impl Precompressed {
    pub(crate) fn new(identity: impl Into<Bytes>, content_type: &'static str) -> Self {
        Self {
            identity: identity.into(),
            content_type,
            coded: Default::default(),
        }
    }

    pub(crate) fn identity(&self) -> Bytes {
        self.identity.clone()
    }

    /// The response for a request that accepts `accepted`.
    pub(crate) fn response(&self, accepted: Accepted) -> Response {
        let coding = coding_for(accepted.for_kept(), self.identity.len());
        let body = match coding {
            None => self.identity.clone(),
            Some(coding) => self.coded[coding as usize]
                .get_or_init(|| Bytes::from(coding.compress(&self.identity, true)))
                .clone(),
        };
        let mut response = Response::builder().content_type(self.content_type).finish();
        set_coded(&mut response, coding, body);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(accept_encoding: &str) -> Accepted {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_str(accept_encoding).unwrap(),
        );
        Accepted::parse(&headers)
    }

    fn negotiated(accept_encoding: &str) -> Option<Coding> {
        accepted(accept_encoding).for_each_request()
    }

    #[test]
    fn the_highest_q_value_wins_and_q_0_refuses() {
        assert_eq!(Accepted::parse(&HeaderMap::new()).for_each_request(), None);
        assert_eq!(negotiated(""), None);
        assert_eq!(negotiated("identity"), None);
        assert_eq!(negotiated("gzip"), Some(Coding::Gzip));
        assert_eq!(negotiated("x-gzip"), Some(Coding::Gzip));
        assert_eq!(negotiated("br"), Some(Coding::Brotli));
        assert_eq!(negotiated("br;q=0.5, gzip"), Some(Coding::Gzip));
        assert_eq!(negotiated("br, gzip;q=0.999"), Some(Coding::Brotli));
        assert_eq!(negotiated("br;q=0, gzip;q=0.1"), Some(Coding::Gzip));
        assert_eq!(negotiated("br;q=0, gzip;q=0"), None);
        assert_eq!(negotiated("*;q=0.5, br;q=0"), Some(Coding::Gzip));
        assert_eq!(negotiated("*;q=0.5, br"), Some(Coding::Brotli));
        assert_eq!(negotiated("*;q=0"), None);
        assert_eq!(negotiated("GZIP;Q=1.000"), Some(Coding::Gzip));
        assert_eq!(negotiated("zstd, deflate"), None);
    }

    #[test]
    fn a_tie_goes_to_gzip_on_each_request_and_to_brotli_for_kept_bodies() {
        for tie in ["gzip, deflate, br", "br, gzip", "*"] {
            assert_eq!(
                accepted(tie).for_each_request(),
                Some(Coding::Gzip),
                "{tie}"
            );
            assert_eq!(accepted(tie).for_kept(), Some(Coding::Brotli), "{tie}");
        }
    }

    #[test]
    fn malformed_q_values_drop_their_element() {
        assert_eq!(negotiated("br;q=2, gzip"), Some(Coding::Gzip));
        assert_eq!(negotiated("br;q=0.5555, gzip;q=0.1"), Some(Coding::Gzip));
        assert_eq!(negotiated("br;q=abc"), None);
        assert_eq!(negotiated("br;q"), None);
        assert_eq!(negotiated("br;q=1.5"), None);
    }

    #[test]
    fn compressed_bodies_decompress_to_the_original() {
        use std::io::Read;
        let body = "{\"name\": \"Fortran\"} ".repeat(200);
        for kept in [false, true] {
            let compressed = Coding::Gzip.compress(body.as_bytes(), kept);
            let mut decoded = String::new();
            flate2::read::GzDecoder::new(&compressed[..])
                .read_to_string(&mut decoded)
                .unwrap();
            assert_eq!(decoded, body);
            assert!(compressed.len() < body.len() / 4);

            let compressed = Coding::Brotli.compress(body.as_bytes(), kept);
            let mut decoded = String::new();
            brotli::Decompressor::new(&compressed[..], 4096)
                .read_to_string(&mut decoded)
                .unwrap();
            assert_eq!(decoded, body);
        }
    }
}
