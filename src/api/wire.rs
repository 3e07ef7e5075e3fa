//! The wire types that only the API has: a page of languages, the health answer, and how a stored
//! language is described in the spec (as the `Language` it holds). A page holds the store's own
//! records, which serialize as `Language`s: nothing is copied to answer a list.

use std::borrow::Cow;

use poem_openapi::{
    Object,
    registry::{MetaSchemaRef, Registry},
    types::{Example, ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde::Serialize;
use serde_json::Value;

use crate::{
    json::StrictBody,
    language::{FieldError, Language, LanguageChanges, seed},
    store::Stored,
};

/// A language is read field by field as changes, and must have every field (its schema requires
/// them).
impl StrictBody for Language {
    type Fields = LanguageChanges;

    fn rules(fields: &LanguageChanges) -> Vec<FieldError> {
        fields.validate()
    }
}

impl StrictBody for LanguageChanges {
    type Fields = Self;

    fn rules(fields: &Self) -> Vec<FieldError> {
        fields.validate()
    }
}

/// One page of languages, in insertion order.
#[derive(Object, Serialize, Debug, Clone)]
#[oai(example, skip_serializing_if_is_none)]
pub struct LanguagePage {
    /// The languages of this page: `limit` of them on every page but the last.
    pub programming_languages: Vec<Stored>,
    /// Pass this as `page_token`, with the same year filters, to get the next page. Absent on the
    /// last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

impl Example for LanguagePage {
    fn example() -> Self {
        Self {
            programming_languages: seed()
                .iter()
                .zip(0..)
                .map(|(language, position)| Stored::new(position, language))
                .collect(),
            next_page_token: None,
        }
    }
}

/// The service's health.
#[derive(Object, Serialize, Debug, Clone)]
#[oai(example)]
pub struct Health {
    /// `ok` when the service can answer requests.
    pub status: String,
}

impl Example for Health {
    fn example() -> Self {
        Self::ok()
    }
}

impl Health {
    pub(crate) fn ok() -> Self {
        Self {
            status: "ok".to_owned(),
        }
    }
}

/// Described in the spec as the `Language` it holds.
impl Type for Stored {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        Language::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        Language::schema_ref()
    }

    fn register(registry: &mut Registry) {
        Language::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ToJSON for Stored {
    fn to_json(&self) -> Option<Value> {
        serde_json::to_value(self).ok()
    }
}

/// Only so that response types holding stored languages can derive `Object`: the API never reads
/// a stored language from a request.
impl ParseFromJSON for Stored {
    fn parse_from_json(_: Option<Value>) -> ParseResult<Self> {
        Err(ParseError::custom("a stored language is never read"))
    }
}
