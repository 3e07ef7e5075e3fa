//! The request checks' verdict, as an operation receives it: the only way to the store. An
//! operation adds its own findings (a page token, a body, a rename) and then passes the checks to
//! reach the store, or gets what was refused, to answer. So no operation can read or write while
//! its request was refused, and the rule that a missing language is a 404 first, whatever else is
//! wrong with the request (README, "Choices where the contract leaves room"), lives in `pass_for`.
//! (The layers refuse some requests before any operation runs, for their head, token or rate
//! limit: those answers never read the store.)

use crate::{
    json::BodyError,
    language::Name,
    problem::Problem,
    store::{Store, StoreError},
};

use super::{Answered, responses::Answer};

/// What was wrong with a request, as its operation answers it (`Refused::answer`).
pub(super) enum Refused {
    /// A 400 that names every mistake found: the query's, and the operation's own. (Boxed: a
    /// refusal is the rare path, and the passing one stays small.)
    Invalid(Box<Problem>),
    /// A body refused with a status of its own (413, 408, 415), nothing else being wrong.
    Body(BodyError),
    /// No language has the name in the path.
    NotFound,
}

impl Refused {
    /// The operation's answer to what was refused on the request for `instance`.
    pub(super) fn answer<R: Answer, Also>(self, instance: &str) -> Answered<R, Also> {
        match self {
            Self::Invalid(problem) => Ok(R::bad_request((*problem).into())),
            Self::Body(error) => Ok(R::rejected(error, instance)),
            Self::NotFound => R::answer(StoreError::NotFound, instance),
        }
    }
}

/// The verdict on a request so far, and what passed with it (`T`: its body, once read), over the
/// store it guards.
#[must_use = "the store is reached by passing the checks"]
pub(super) struct Checks<'a, T = ()> {
    store: &'a Store,
    instance: &'a str,
    verdict: Result<T, Refused>,
}

impl<'a> Checks<'a> {
    /// The checks of the request for `instance`, with what the request checks refused, if
    /// anything (`middleware::checks`: the query).
    pub(super) fn new(store: &'a Store, instance: &'a str, refused: Option<Problem>) -> Self {
        Self {
            store,
            instance,
            verdict: refused.map_or(Ok(()), |problem| Err(Refused::Invalid(Box::new(problem)))),
        }
    }

    /// The request's body, checked with the rest: a body that is not valid adds its mistakes to
    /// the 400; one refused with a status of its own (too large, too slow, not JSON) is answered
    /// with that status, unless something else is wrong (then the 400 says what).
    pub(super) fn with_body<B>(self, body: Result<B, BodyError>) -> Checks<'a, B> {
        let verdict = match (self.verdict, body) {
            (Ok(()), Ok(body)) => Ok(body),
            (Ok(()), Err(error @ (BodyError::Malformed { .. } | BodyError::Fields(_)))) => Err(
                Refused::Invalid(Box::new(error.into_problem(self.instance))),
            ),
            (Ok(()), Err(error)) => Err(Refused::Body(error)),
            (
                Err(Refused::Invalid(query)),
                Err(error @ (BodyError::Malformed { .. } | BodyError::Fields(_))),
            ) => Err(Refused::Invalid(Box::new(
                query.and(error.into_problem(self.instance)),
            ))),
            (Err(refused), _) => Err(refused),
        };
        Checks {
            store: self.store,
            instance: self.instance,
            verdict,
        }
    }
}

impl<'a, T> Checks<'a, T> {
    /// The key page tokens are signed with: reading it reads no language.
    pub(super) fn page_token_key(&self) -> &'a [u8] {
        self.store.page_token_key()
    }

    /// The checks with a mistake the operation found itself, named in the same 400 as the others.
    pub(super) fn found(self, problem: Problem) -> Self {
        let refused = match self.verdict {
            Err(Refused::Invalid(found)) => found.and(problem),
            _ => problem,
        };
        Self {
            verdict: Err(Refused::Invalid(Box::new(refused))),
            ..self
        }
    }

    /// The store and what passed, when nothing was refused.
    pub(super) fn pass(self) -> Result<(&'a Store, T), Refused> {
        self.verdict.map(|passed| (self.store, passed))
    }

    /// `pass`, for an operation on the language named `name`, with the name checked: a name no
    /// language can have, or one that no language has while something was refused, is a 404,
    /// whatever else is wrong.
    pub(super) async fn pass_for(self, name: String) -> Result<(&'a Store, Name, T), Refused> {
        let Ok(name) = Name::try_from(name) else {
            return Err(Refused::NotFound);
        };
        let store = self.store;
        match self.verdict {
            Ok(passed) => Ok((store, name, passed)),
            Err(refused) => match store.get(&name).await {
                Err(StoreError::NotFound) => Err(Refused::NotFound),
                _ => Err(refused),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTANCE: &str = "/programming_languages/COBOL";

    fn query() -> Problem {
        Problem::invalid_parameter(INSTANCE, "sort", "unknown parameter")
    }

    fn malformed() -> BodyError {
        BodyError::Malformed {
            detail: "not JSON".to_owned(),
        }
    }

    /// The problem of a 400 verdict.
    fn invalid<T>(verdict: Result<T, Refused>) -> Problem {
        match verdict {
            Err(Refused::Invalid(problem)) => *problem,
            Err(Refused::Body(error)) => panic!("a body refused on its own: {error:?}"),
            Err(Refused::NotFound) => panic!("a 404"),
            Ok(_) => panic!("passed"),
        }
    }

    #[test]
    fn a_request_nothing_refused_passes_with_its_body() {
        let store = Store::in_memory(10);
        let (_, body) = Checks::new(&store, INSTANCE, None)
            .with_body(Ok::<_, BodyError>(7))
            .pass()
            .ok()
            .expect("passes");
        assert_eq!(body, 7);
    }

    #[test]
    fn a_query_refused_is_a_400_whatever_the_body() {
        let store = Store::in_memory(10);
        for body in [Ok(()), Err(BodyError::TooLarge), Err(BodyError::TimedOut)] {
            let problem = invalid(
                Checks::new(&store, INSTANCE, Some(query()))
                    .with_body(body)
                    .pass(),
            );
            assert_eq!(problem, query());
        }
    }

    #[test]
    fn a_body_refused_with_a_status_of_its_own_keeps_it_when_nothing_else_is_wrong() {
        let store = Store::in_memory(10);
        let verdict = Checks::new(&store, INSTANCE, None)
            .with_body::<()>(Err(BodyError::TooLarge))
            .pass();
        assert!(matches!(verdict, Err(Refused::Body(BodyError::TooLarge))));
        // An operation's own finding makes it a 400 that names the finding.
        let found = Problem::renamed(INSTANCE);
        let problem = invalid(
            Checks::new(&store, INSTANCE, None)
                .with_body::<()>(Err(BodyError::TooLarge))
                .found(found.clone())
                .pass(),
        );
        assert_eq!(problem, found);
    }

    #[test]
    fn every_mistake_is_named_in_one_400() {
        let store = Store::in_memory(10);
        let problem = invalid(
            Checks::new(&store, INSTANCE, Some(query()))
                .with_body::<()>(Err(malformed()))
                .found(Problem::renamed(INSTANCE))
                .pass(),
        );
        let expected = query()
            .and(malformed().into_problem(INSTANCE))
            .and(Problem::renamed(INSTANCE));
        assert_eq!(problem, expected);
        assert_eq!(
            problem.errors.as_ref().map(Vec::len),
            Some(2),
            "{problem:?}"
        );
    }

    #[tokio::test]
    async fn a_missing_language_is_a_404_first_whatever_else_is_wrong() {
        let store = Store::in_memory(10);
        let refused = |name: &'static str| {
            Checks::new(&store, INSTANCE, Some(query()))
                .with_body::<()>(Err(malformed()))
                .pass_for(name.to_owned())
        };
        assert!(matches!(refused("Nowhere").await, Err(Refused::NotFound)));
        // A name no language can have, whether or not anything else was refused.
        assert!(matches!(refused(" COBOL").await, Err(Refused::NotFound)));
        assert!(matches!(
            Checks::new(&store, INSTANCE, None)
                .pass_for(" COBOL".to_owned())
                .await,
            Err(Refused::NotFound)
        ));
        // COBOL is a seed language: the 400 stands.
        let problem = invalid(refused("COBOL").await);
        assert_eq!(problem, query().and(malformed().into_problem(INSTANCE)));
        // A request that passes reaches the store, which answers the missing language itself.
        assert!(
            Checks::new(&store, INSTANCE, None)
                .pass_for("Nowhere".to_owned())
                .await
                .is_ok()
        );
    }
}
