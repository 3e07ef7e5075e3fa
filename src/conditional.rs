//! Conditional requests (RFC 9110 §13): the ETag of a language, and the `If-Match` and
//! `If-None-Match` headers that compare against it.
//!
//! An ETag is a strong validator derived from the language's content, so it changes whenever the
//! language changes and only then, survives restarts, and is the same on every server of a shared
//! store. The store applies a precondition in the same step as the write it guards.

use std::borrow::Cow;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseFromParameter, ParseResult, Type},
};
use sha2::{Digest, Sha256};

use crate::store::Stored;

/// The strong ETag of `language`, quoted as it is sent: a digest of its three fields.
pub(crate) fn etag(language: &Stored) -> String {
    let mut digest = Sha256::new();
    for part in [language.name(), language.contribution()] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part);
    }
    digest.update(language.publication_year().to_be_bytes());
    // 18 bytes are 24 characters of base64, written between the quotes in place.
    let mut tag = [b'"'; 26];
    let _ = URL_SAFE_NO_PAD.encode_slice(&digest.finalize()[..18], &mut tag[1..25]);
    tag.iter().map(|&b| char::from(b)).collect()
}

/// The ETag of the same state in `coding` (`"tag"` becomes `"tag.br"`): a compressed
/// representation is other bytes, so it has a strong ETag of its own (README, "Compression").
/// `.` is not in the identity tag's alphabet, so the two never collide.
pub(crate) fn coded(etag: &str, coding: &str) -> String {
    match etag.strip_suffix('"') {
        Some(open) if !etag.starts_with("W/") => format!("{open}.{coding}\""),
        _ => etag.to_owned(),
    }
}

/// The value of an `If-Match` or `If-None-Match` header: `*`, or a list of entity tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntityTags {
    /// `*`: any current representation.
    Any,
    /// The listed tags; none when the value is malformed, so that it matches nothing.
    Tags(Vec<EntityTag>),
    /// An empty value (`If-Match:`): no condition, as if the header were absent.
    Empty,
}

/// One entity tag, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntityTag {
    weak: bool,
    /// The quoted opaque part, quotes included, as an ETag header sends it, of the identity
    /// coding: a tag that names a coding (`coded`) stands for the same state, and matches it.
    quoted: String,
}

impl EntityTags {
    /// `If-Match`: strong comparison, so a weak tag never matches (RFC 9110 §13.1.1).
    pub(crate) fn matches_strongly(&self, current: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Tags(tags) => tags.iter().any(|tag| !tag.weak && tag.quoted == current),
            Self::Empty => true,
        }
    }

    /// `If-None-Match`: weak comparison, so `W/"x"` matches `"x"` (RFC 9110 §13.1.2).
    pub(crate) fn matches_weakly(&self, current: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Tags(tags) => tags.iter().any(|tag| tag.quoted == current),
            Self::Empty => false,
        }
    }

    /// Parses the field value: `*` alone, or a comma-separated list of entity tags (empty list
    /// elements are allowed, as RFC 9110 §5.6.1 asks of recipients).
    pub(crate) fn parse(value: &str) -> Option<Self> {
        if value.trim() == "*" {
            return Some(Self::Any);
        }
        if value.trim_matches([' ', '\t', ',']).is_empty() {
            return Some(Self::Empty);
        }
        let mut tags = Vec::new();
        let mut rest = value.trim_start_matches([' ', '\t', ',']);
        while !rest.is_empty() {
            let (weak, tail) = match rest.strip_prefix("W/") {
                Some(tail) => (true, tail),
                None => (false, rest),
            };
            let inner = tail.strip_prefix('"')?;
            let end = inner.find('"')?;
            let opaque = &inner[..end];
            if !opaque
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x7E).contains(&b) || b >= 0x80)
            {
                return None;
            }
            let identity = opaque
                .split_once('.')
                .map_or(opaque, |(identity, _)| identity);
            tags.push(EntityTag {
                weak,
                quoted: format!("\"{identity}\""),
            });
            let after = inner[end + 1..].trim_start_matches([' ', '\t']);
            if !after.is_empty() && !after.starts_with(',') {
                return None;
            }
            rest = after.trim_start_matches([' ', '\t', ',']);
        }
        (!tags.is_empty()).then_some(Self::Tags(tags))
    }
}

impl Type for EntityTags {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "entity_tags".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromParameter for EntityTags {
    /// Never fails: a malformed value is a list that matches nothing, so a malformed `If-Match`
    /// lets no write through (412) and a malformed `If-None-Match` never saves a body (200).
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Self::parse(value).unwrap_or(Self::Tags(Vec::new())))
    }

    /// Several header lines make one list (RFC 9110 §5.3); `*` must stand alone.
    fn parse_from_parameters<I: IntoIterator<Item = A>, A: AsRef<str>>(
        values: I,
    ) -> ParseResult<Self> {
        let lines: Vec<A> = values.into_iter().collect();
        let joined = lines
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ");
        Self::parse_from_parameter(&joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Option<EntityTags> {
        EntityTags::parse(value)
    }

    #[test]
    fn lists_of_tags_and_star_parse() {
        assert_eq!(parse("*"), Some(EntityTags::Any));
        assert_eq!(parse(" * "), Some(EntityTags::Any));
        let tags = parse(r#""a", W/"b" ,, "c,d""#).expect("a list");
        assert!(tags.matches_strongly("\"a\""));
        assert!(
            !tags.matches_strongly("\"b\""),
            "a weak tag never matches strongly"
        );
        assert!(tags.matches_weakly("\"b\""));
        assert!(tags.matches_strongly("\"c,d\""));
        assert!(!tags.matches_weakly("\"z\""));
        assert!(parse(r#""""#).is_some(), "an empty opaque tag is a tag");
    }

    #[test]
    fn malformed_values_do_not_parse_and_empty_ones_set_no_condition() {
        assert_eq!(parse(""), Some(EntityTags::Empty));
        assert_eq!(parse(" , "), Some(EntityTags::Empty));
        assert!(EntityTags::Empty.matches_strongly("\"x\""), "no condition");
        assert!(!EntityTags::Empty.matches_weakly("\"x\""), "no condition");
        for bad in ["a", "\"a", "W/", "W/a", "\"a\" \"b\"", "*, \"a\"", "\"a\"x"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_etag_of_any_coding_matches_the_state_it_codes() {
        let tag = "\"abc\"";
        assert_eq!(coded(tag, "br"), "\"abc.br\"");
        assert_eq!(
            coded("W/\"abc\"", "br"),
            "W/\"abc\"",
            "weak tags are left alone"
        );
        let tags = parse(&format!(
            "{}, W/{}",
            coded(tag, "gzip"),
            coded("\"xyz\"", "br")
        ))
        .expect("a list");
        assert!(tags.matches_strongly(tag));
        assert!(tags.matches_weakly("\"xyz\""));
        assert!(!tags.matches_strongly("\"xyz\""));
        assert!(!tags.matches_weakly("\"abd\""));
    }

    #[test]
    fn an_etag_follows_the_content_only() {
        let mut language = crate::language::seed().swap_remove(0);
        let cobol = Stored::new(0, &language);
        assert_eq!(
            etag(&cobol),
            etag(&Stored::new(9, &language)),
            "not the position"
        );
        language.publication_year += 1;
        assert_ne!(etag(&cobol), etag(&Stored::new(0, &language)));
        let tag = etag(&cobol);
        assert!(tag.starts_with('"') && tag.ends_with('"'));
        assert_eq!(
            parse(&tag).map(|tags| tags.matches_strongly(&tag)),
            Some(true)
        );
    }

    #[test]
    fn an_etag_is_the_same_from_one_release_to_the_next() {
        // A client's cached tag must still match after an upgrade: the seeded COBOL's, as every
        // release has sent it (the first 18 bytes of the SHA-256 digest, in URL-safe base64).
        let cobol = crate::language::seed()
            .into_iter()
            .find(|language| language.name.as_str() == "COBOL")
            .unwrap();
        assert_eq!(
            etag(&Stored::new(0, &cobol)),
            "\"D4HTXhEPAY2piY9VuiA03kQQ\""
        );
    }
}
