//! The tutorial's eight languages, in its order and with its texts: what a new store holds.

use crate::schema::Language;

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

/// The seed languages, in the tutorial's order.
pub(crate) fn languages() -> Vec<Language> {
    SEED.iter()
        .map(|&(name, publication_year, contribution)| Language {
            name: name.to_owned(),
            publication_year,
            contribution: contribution.to_owned(),
        })
        .collect()
}
