//! The `Idempotency-Key` header's value (draft-ietf-httpapi-idempotency-key-header; README,
//! "Retries"): how a value is read, for the layers that act on a key, and how the operations
//! declare it.

use std::borrow::Cow;

use poem::http::HeaderValue;
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromParameter, ParseResult, Type},
};

/// The longest key, in characters.
const MAX_KEY_CHARS: usize = 255;

/// The key `value` holds: a Structured Fields string (`"8e03978e-40d5"`, with `\"` and `\\` for a
/// quote and a backslash) of 1 to 255 visible ASCII characters, or any 1 to 255 visible ASCII
/// characters taken as they are (the unquoted form); `None` for anything else.
pub(crate) fn parse_key(value: &HeaderValue) -> Option<String> {
    let bytes = value.as_bytes();
    let visible = |byte: u8| (0x21..=0x7e).contains(&byte);
    if let [b'"', inner @ .., b'"'] = bytes
        && let Some(key) = sf_string(inner)
    {
        return Some(key);
    }
    ((1..=MAX_KEY_CHARS).contains(&bytes.len()) && bytes.iter().all(|&byte| visible(byte)))
        .then(|| String::from_utf8(bytes.to_vec()).ok())
        .flatten()
}

/// The pattern the spec gives a key: what a client may send, its quotes counted.
const KEY_PATTERN: &str = "^[!-~]{1,255}$";

/// The header as the write operations declare it, for the spec: the layers have read and checked
/// the value before an operation runs (`parse_key`), so that reading it again here costs a scan,
/// where poem-openapi's `pattern` validator would compile its regex at every request.
pub(crate) struct IdempotencyKey;

impl Type for IdempotencyKey {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string(idempotency-key)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            pattern: Some(KEY_PATTERN.to_owned()),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromParameter for IdempotencyKey {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        HeaderValue::from_str(value)
            .ok()
            .and_then(|value| parse_key(&value))
            .map(|_| Self)
            .ok_or_else(|| {
                ParseError::custom("must be a string of 1 to 255 visible ASCII characters")
            })
    }
}

/// The content of a quoted Structured Fields string, `inner` being what stands between its
/// quotes: 1 to 255 visible ASCII characters once its escapes are read.
fn sf_string(inner: &[u8]) -> Option<String> {
    let mut key = Vec::with_capacity(inner.len());
    let mut escaped = false;
    for &byte in inner {
        match (escaped, byte) {
            (false, b'\\') => escaped = true,
            (false, b'"') => return None,
            (true, b'"' | b'\\') => {
                key.push(byte);
                escaped = false;
            }
            (true, _) => return None,
            (false, 0x21..=0x7e) => key.push(byte),
            (false, _) => return None,
        }
    }
    (!escaped && (1..=MAX_KEY_CHARS).contains(&key.len()))
        .then(|| String::from_utf8(key).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(value: &str) -> Option<String> {
        parse_key(&HeaderValue::from_str(value).expect("a header value"))
    }

    #[test]
    fn a_key_is_a_string_quoted_or_not() {
        assert_eq!(key("\"8e03978e-40d5\"").as_deref(), Some("8e03978e-40d5"));
        assert_eq!(key("8e03978e-40d5").as_deref(), Some("8e03978e-40d5"));
        assert_eq!(key(r#""a\"b\\c""#).as_deref(), Some(r#"a"b\c"#));
        assert_eq!(key(&"k".repeat(255)).map(|key| key.len()), Some(255));
        // Not a well-formed quoted string, but visible characters: the unquoted form.
        assert_eq!(key("\"open").as_deref(), Some("\"open"));
        assert_eq!(key("\"\"").as_deref(), Some("\"\""));
    }

    #[test]
    fn the_published_pattern_holds_every_key_sent_unquoted() {
        let pattern = regex::Regex::new(KEY_PATTERN).expect("the pattern compiles");
        for value in ["8e03978e-40d5", "\"quoted\"", &"k".repeat(255), "!~"] {
            assert!(pattern.is_match(value), "{value:?}");
            assert!(key(value).is_some(), "{value:?}");
        }
        for value in ["", "a b", &"k".repeat(256), "clé"] {
            assert!(!pattern.is_match(value), "{value:?}");
            assert!(
                IdempotencyKey::parse_from_parameter(value).is_err(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in ["", "a b", "\"a b\"", "tab\there", &"k".repeat(256)] {
            assert_eq!(key(bad), None, "{bad:?}");
        }
        let not_ascii = HeaderValue::from_bytes("clé".as_bytes()).expect("a header value");
        assert_eq!(parse_key(&not_ascii), None);
    }
}
