//! The resource: a programming language, the changes a client may make to one, the rules of each
//! field, and the tutorial's eight languages that a new store holds. A leaf: everything else
//! builds on it.
//!
//! poem-openapi derives the schemas (and so the spec) from these declarations; serde reads them
//! (see `json.rs`), and `validate` enforces the rules the schemas state.

use std::borrow::Cow;

use poem_openapi::{
    Object,
    registry::{MetaSchema, MetaSchemaRef},
    types::{Example, ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde::{Deserialize, Deserializer, Serialize};

/// Longest name, in characters (Unicode code points).
pub(crate) const NAME_MAX_CHARS: usize = 64;
/// Longest contribution, in characters (Unicode code points).
pub(crate) const CONTRIBUTION_MAX_CHARS: usize = 1000;
/// Earliest and latest publication years accepted.
pub(crate) const YEAR_MIN: i32 = 1800;
pub(crate) const YEAR_MAX: i32 = 2100;

/// The name's `pattern`: no control character (Unicode Cc) anywhere, and no white space (Unicode
/// White_Space and U+FEFF, which is ECMA-262's `\s`) first or last. The classes are spelled out
/// rather than written `\s`, because regex engines disagree about `\s` (Python's lacks U+FEFF) and
/// clients validate with whichever engine they have. `Name::is_valid` is the same rule in Rust.
pub(crate) const NAME_PATTERN: &str = concat!(
    r"^[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF]",
    r"(?:[^\x00-\x1F\x7F-\x9F]*",
    r"[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF])?$"
);

/// A language's name: only a valid one can be built (`Name::try_from`), so whatever holds a
/// `Name` holds a valid one. Its schema states the same rule (`minLength`, `maxLength`, `pattern`),
/// so that `Language` and `LanguageChanges` declare it once.
#[derive(Serialize, Debug, Clone, PartialEq, Eq, Hash)]
#[serde(transparent)]
pub struct Name(String);

/// A string that is no valid name; it says what a name must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidName;

impl std::fmt::Display for InvalidName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "must be 1 to {NAME_MAX_CHARS} characters, without control characters or leading or \
             trailing white space"
        )
    }
}

impl std::error::Error for InvalidName {}

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` may name a language: the rule `NAME_PATTERN` and `NAME_MAX_CHARS` state.
    pub(crate) fn is_valid(name: &str) -> bool {
        let is_edge_space = |c: char| c.is_whitespace() || c == '\u{FEFF}';
        let chars = name.chars().count();
        (1..=NAME_MAX_CHARS).contains(&chars)
            && !name.chars().any(char::is_control)
            && !name.starts_with(is_edge_space)
            && !name.ends_with(is_edge_space)
    }
}

impl TryFrom<String> for Name {
    type Error = InvalidName;

    fn try_from(name: String) -> Result<Self, InvalidName> {
        if Self::is_valid(&name) {
            Ok(Self(name))
        } else {
            Err(InvalidName)
        }
    }
}

impl TryFrom<&str> for Name {
    type Error = InvalidName;

    fn try_from(name: &str) -> Result<Self, InvalidName> {
        if Self::is_valid(name) {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidName)
        }
    }
}

/// Read as a string, then held to the rule: a body with an invalid name names it (`json.rs`
/// reads each field on its own).
impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::try_from(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl std::ops::Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Type for Name {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string(name)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            min_length: Some(1),
            max_length: Some(NAME_MAX_CHARS),
            pattern: Some(NAME_PATTERN.to_owned()),
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

impl ParseFromJSON for Name {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        let name = String::parse_from_json(value).map_err(ParseError::propagate)?;
        Self::try_from(name).map_err(ParseError::custom)
    }
}

impl ToJSON for Name {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.clone()))
    }
}

/// A programming language.
#[derive(Object, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[oai(example)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
pub struct Language {
    /// The language's name: its identity, unique and compared exactly (case-sensitive, no Unicode
    /// normalization). 1 to 64 characters, no control characters, no leading or trailing white space.
    pub name: Name,
    /// The year the language was first published, 1800 to 2100.
    #[oai(validator(minimum(value = "1800"), maximum(value = "2100")))]
    #[serde(deserialize_with = "year")]
    pub publication_year: i32,
    /// What the language brought to programming, 1 to 1,000 characters.
    #[oai(validator(min_length = 1, max_length = 1000))]
    pub contribution: String,
}

impl Example for Language {
    fn example() -> Self {
        seed().swap_remove(0)
    }
}

/// Changes to a language: any subset of its fields. A field left out keeps its value; `name`, when
/// given, must be the language's own name (a rename is a delete and a create).
#[derive(Object, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[oai(example, skip_serializing_if_is_none)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
pub struct LanguageChanges {
    /// The language's name; when given, it must equal the name in the path.
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Name>,
    /// The year the language was first published, 1800 to 2100.
    #[oai(validator(minimum(value = "1800"), maximum(value = "2100")))]
    #[serde(default, deserialize_with = "present_year")]
    pub publication_year: Option<i32>,
    /// What the language brought to programming, 1 to 1,000 characters.
    #[oai(validator(min_length = 1, max_length = 1000))]
    #[serde(default, deserialize_with = "present")]
    pub contribution: Option<String>,
}

impl Example for LanguageChanges {
    fn example() -> Self {
        Self {
            contribution: Some("The JVM".to_owned()),
            ..Self::default()
        }
    }
}

/// A field of a body that is wrong: which one (a JSON Pointer) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub pointer: String,
    pub detail: String,
}

impl FieldError {
    /// The error of the top-level field `field`.
    pub(crate) fn new(field: &str, detail: impl Into<String>) -> Self {
        // RFC 6901: `~` and `/` in a name are escaped.
        Self {
            pointer: format!("/{}", field.replace('~', "~0").replace('/', "~1")),
            detail: detail.into(),
        }
    }
}

impl LanguageChanges {
    /// Every rule of the resource these changes break; empty when they are valid.
    pub(crate) fn validate(&self) -> Vec<FieldError> {
        // A name is valid once read (`Name`).
        let mut errors = Vec::new();
        if let Some(year) = self.publication_year {
            check_year(year, &mut errors);
        }
        if let Some(contribution) = &self.contribution {
            check_contribution(contribution, &mut errors);
        }
        errors
    }
}

fn check_year(year: i32, errors: &mut Vec<FieldError>) {
    if !(YEAR_MIN..=YEAR_MAX).contains(&year) {
        errors.push(FieldError::new(
            "publication_year",
            format!("must be an integer from {YEAR_MIN} to {YEAR_MAX}"),
        ));
    }
}

fn check_contribution(contribution: &str, errors: &mut Vec<FieldError>) {
    if !(1..=CONTRIBUTION_MAX_CHARS).contains(&contribution.chars().count()) {
        errors.push(FieldError::new(
            "contribution",
            "must be 1 to 1000 characters",
        ));
    }
}

/// Reads a field that may be left out but, when present, must not be `null`: every field of a
/// language is required, so `null` cannot mean "remove" (RFC 7396) and is rejected, not ignored.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Reads a year: any JSON integer, held as an `i32` (one out of that range becomes the nearest end,
/// which the range check then refuses). A float such as `1990.0` or a string is refused here, with
/// a message that speaks JSON, not Rust.
fn year<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    struct YearVisitor;

    impl serde::de::Visitor<'_> for YearVisitor {
        type Value = i32;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(formatter, "an integer from {YEAR_MIN} to {YEAR_MAX}")
        }

        fn visit_i64<E>(self, value: i64) -> Result<i32, E> {
            Ok(i32::try_from(value).unwrap_or(if value < 0 { i32::MIN } else { i32::MAX }))
        }

        fn visit_u64<E>(self, value: u64) -> Result<i32, E> {
            Ok(i32::try_from(value).unwrap_or(i32::MAX))
        }
    }

    deserializer.deserialize_i64(YearVisitor)
}

fn present_year<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i32>, D::Error> {
    year(deserializer).map(Some)
}

/// The tutorial's eight languages, in its order and with its texts: what a new store holds.
const SEED: [(&str, i32, &str); 8] = [
    ("COBOL", 1960, "record data"),
    ("ALGOL", 1958, "scoping and nested functions"),
    ("APL", 1962, "array processing"),
    ("BASIC", 1964, "runtime interpretation, office tooling"),
    ("PL", 1966, "constants, function overloading, pointers"),
    (
        "SIMULA67",
        1967,
        "class/object split, subclassing, protected attributes",
    ),
    (
        "Pascal",
        1970,
        "modern unary, binary, and assignment operator syntax expectations",
    ),
    (
        "CLU",
        1975,
        "iterators, abstract data types, generics, checked exceptions",
    ),
];

/// A language a new store does not hold: the example of a create's body, so that Swagger UI's
/// "Execute" on it creates a language the first time rather than meeting a 409.
pub(crate) fn new_language_example() -> Language {
    Language {
        name: Name::known("Rust"),
        publication_year: 2015,
        contribution: "ownership and borrowing: memory safety without a garbage collector"
            .to_owned(),
    }
}

impl Name {
    /// A name written in this program (the seeds, the examples), which the tests hold valid.
    fn known(name: &'static str) -> Self {
        Self::try_from(name).unwrap_or_else(|_| unreachable!("{name:?} is tested valid"))
    }
}

/// The seed languages, in the tutorial's order.
pub(crate) fn seed() -> Vec<Language> {
    SEED.iter()
        .map(|&(name, publication_year, contribution)| Language {
            name: Name::known(name),
            publication_year,
            contribution: contribution.to_owned(),
        })
        .collect()
}

/// Names at each edge of the rule, the valid ones and the invalid ones: for the tests of the rule
/// and of what states it (the spec).
#[cfg(test)]
pub(crate) fn edge_names() -> (Vec<String>, Vec<String>) {
    let x = |n| "x".repeat(n);
    let good = [
        "C",
        "C++",
        "PL/I",
        "Café ☕",
        "日本語",
        "a b",
        "a\u{200B}b",
        &x(64),
    ];
    let bad = [
        "",
        " C",
        "C ",
        "\u{FEFF}C",
        "C\u{3000}",
        "C\u{A0}",
        "a\u{0}b",
        "a\nb",
        "a\u{85}b",
        &x(65),
    ];
    let owned = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect();
    (owned(&good), owned(&bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract() {
        let (good, bad) = edge_names();
        for good in good {
            assert!(Name::is_valid(&good), "{good:?} should be valid");
        }
        for bad in bad {
            assert!(!Name::is_valid(&bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn the_names_written_in_the_program_are_valid() {
        // `Name::known` relies on it.
        for language in seed().into_iter().chain([new_language_example()]) {
            assert!(Name::is_valid(&language.name), "{language:?}");
        }
    }

    #[test]
    fn an_invalid_name_cannot_be_read_nor_built() {
        let body = |name: &str| {
            serde_json::to_string(&serde_json::json!(
                {"name": name, "publication_year": 1990, "contribution": "y"}
            ))
            .expect("JSON")
        };
        assert!(serde_json::from_str::<Language>(&body("C")).is_ok());
        for bad in ["", " C", "a\u{0}b"] {
            let error = serde_json::from_str::<Language>(&body(bad)).expect_err(bad);
            assert!(
                error.to_string().contains(&InvalidName.to_string()),
                "{error}"
            );
            assert_eq!(Name::try_from(bad), Err(InvalidName));
            let changes = format!("{{\"name\": {}}}", serde_json::json!(bad));
            assert!(serde_json::from_str::<LanguageChanges>(&changes).is_err());
        }
    }

    /// Characters on every edge of the rule: white space of each kind (Unicode's, U+FEFF),
    /// control characters (C0, DEL, C1), and ordinary ones, ASCII and not.
    const EDGES: &str = "[ \t\n\u{0}\u{1F}\u{7F}\u{85}\u{9F}\u{A0}\u{1680}\u{2000}\u{200A}\u{200B}\u{2028}\u{202F}\u{3000}\u{FEFF}aZ0/+é☕日]";

    proptest::proptest! {
        /// The pattern the spec publishes, read by a regex engine as a client's validator reads it,
        /// with the lengths the spec publishes beside it, accepts exactly the names the server
        /// accepts: generated names, valid and invalid, both ways.
        #[test]
        fn the_published_pattern_is_the_rule_the_server_runs(
            name in proptest::string::string_regex(&format!("{EDGES}{{0,3}}a?{EDGES}{{0,3}}"))
                .expect("a strategy"),
            long in 0usize..=2,
        ) {
            let name = if long == 2 { format!("{name}{}", "x".repeat(NAME_MAX_CHARS)) } else { name };
            let pattern = regex::Regex::new(NAME_PATTERN).expect("the pattern compiles");
            let chars = name.chars().count();
            let published = pattern.is_match(&name) && (1..=NAME_MAX_CHARS).contains(&chars);
            proptest::prop_assert_eq!(published, Name::try_from(name.as_str()).is_ok(), "{:?}", name);
        }
    }

    #[test]
    fn null_is_not_absent_in_changes() {
        let err = serde_json::from_str::<LanguageChanges>(r#"{"contribution": null}"#);
        assert!(err.is_err());
        let empty: LanguageChanges = serde_json::from_str("{}").expect("empty changes");
        assert_eq!(empty, LanguageChanges::default());
    }

    #[test]
    fn years_must_be_json_integers() {
        let doc = |year: &str| {
            format!(r#"{{"name": "X", "publication_year": {year}, "contribution": "y"}}"#)
        };
        assert!(serde_json::from_str::<Language>(&doc("1990")).is_ok());
        for bad in ["1990.0", "1.99e3", "\"1990\"", "true", "null"] {
            assert!(
                serde_json::from_str::<Language>(&doc(bad)).is_err(),
                "{bad}"
            );
        }
    }
}
