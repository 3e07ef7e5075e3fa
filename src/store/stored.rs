//! A language as a store holds and hands it out: its three fields and its place in the insertion
//! order, shared, so that handing it out copies nothing.
//!
//! A store may hold a million of these, so a language is one small record and one string holding
//! its name and contribution end to end: two allocations and 48 bytes beyond its text, where a
//! shared `Language` with its two `String`s would take three allocations and 72 bytes.

use std::sync::Arc;

use serde::{Serialize, Serializer, ser::SerializeStruct};

use crate::language::{Language, LanguageChanges, Name};

/// A stored language. Cheap to clone: clones share one record. It is written exactly as a
/// `Language` (and `api` describes it in the spec as one).
#[derive(Clone)]
pub struct Stored(Arc<Record>);

struct Record {
    /// The name followed by the contribution.
    text: Box<str>,
    /// Where the name ends in `text`, in bytes: a character boundary.
    name_len: u32,
    publication_year: i32,
    position: u64,
}

impl Stored {
    /// `language`, stored at insertion position `position`.
    pub(crate) fn new(position: u64, language: &Language) -> Self {
        Self::from_parts(
            position,
            language.name.as_str(),
            language.publication_year,
            &language.contribution,
        )
    }

    /// A language from its parts, `name` a valid name (`Name::is_valid`): for a store that
    /// reads them from elsewhere, without making a `Language` of them first.
    pub(crate) fn from_parts(
        position: u64,
        name: &str,
        publication_year: i32,
        contribution: &str,
    ) -> Self {
        let text = [name, contribution].concat();
        Self(Arc::new(Record {
            text: text.into_boxed_str(),
            // Names are at most 64 characters, so 256 bytes.
            name_len: u32::try_from(name.len()).unwrap_or(u32::MAX),
            publication_year,
            position,
        }))
    }

    pub fn name(&self) -> &str {
        self.split().0
    }

    pub fn publication_year(&self) -> i32 {
        self.0.publication_year
    }

    pub fn contribution(&self) -> &str {
        self.split().1
    }

    /// The language's place in the insertion order: later languages have greater positions.
    pub(crate) fn position(&self) -> u64 {
        self.0.position
    }

    /// The position, borrowed: for sets ordered by it.
    pub(crate) fn position_ref(&self) -> &u64 {
        &self.0.position
    }

    /// The language's fields, as owned values.
    #[cfg(test)]
    pub(crate) fn to_language(&self) -> Language {
        Language {
            name: crate::language::Name::try_from(self.name()).expect("a stored name is valid"),
            publication_year: self.publication_year(),
            contribution: self.contribution().to_owned(),
        }
    }

    /// The language with `changes` applied (a `name` in them is ignored), or `None` when they
    /// change nothing: then the stored language stays as it is. `name` is its name.
    pub(crate) fn changed_by(&self, name: &Name, changes: LanguageChanges) -> Option<Language> {
        let publication_year = changes.publication_year.unwrap_or(self.publication_year());
        let contribution = changes
            .contribution
            .unwrap_or_else(|| self.contribution().to_owned());
        let unchanged =
            publication_year == self.publication_year() && contribution == self.contribution();
        (!unchanged).then(|| Language {
            name: name.clone(),
            publication_year,
            contribution,
        })
    }

    fn split(&self) -> (&str, &str) {
        let text = &self.0.text;
        let at = usize::try_from(self.0.name_len).unwrap_or(text.len());
        text.split_at_checked(at).unwrap_or((text, ""))
    }
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stored")
            .field("name", &self.name())
            .field("publication_year", &self.publication_year())
            .field("contribution", &self.contribution())
            .field("position", &self.position())
            .finish()
    }
}

/// Written as the `Language` it holds, field for field.
impl Serialize for Stored {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut language = serializer.serialize_struct("Language", 3)?;
        language.serialize_field("name", self.name())?;
        language.serialize_field("publication_year", &self.publication_year())?;
        language.serialize_field("contribution", self.contribution())?;
        language.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_and_writes_the_language_it_was_given() {
        for language in crate::language::seed() {
            let stored = Stored::new(7, &language);
            assert_eq!(stored.to_language(), language);
            assert_eq!(stored.position(), 7);
            assert_eq!(
                serde_json::to_string(&stored).ok(),
                serde_json::to_string(&language).ok()
            );
        }
        let multibyte = Language {
            name: Name::try_from("Café ☕").expect("valid"),
            publication_year: 2001,
            contribution: "é".to_owned(),
        };
        assert_eq!(Stored::new(0, &multibyte).to_language(), multibyte);
    }
}
