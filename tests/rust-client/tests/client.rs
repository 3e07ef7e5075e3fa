//! The generated Rust client against a live server: every operation, a page walk, a name with a
//! `/`, and problems read through the client's error type.

use futures_util::StreamExt;
use prog_lang_api::{Config, Store, run};
use prog_lang_api_rust_client::{Client, Error, types};
use tokio::{net::TcpListener, sync::oneshot};

/// A server on a free port, stopped when the sender is dropped, and a client of it.
async fn client() -> (Client, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    let config = Config::defaults();
    tokio::spawn(run(
        listener,
        Store::in_memory(config.max_languages),
        config,
        async {
            let _ = stopped.await;
        },
    ));
    (Client::new(&format!("http://{address}")), stop)
}

fn language(name: &str, year: i32, contribution: &str) -> types::Language {
    types::Language {
        name: name.parse().expect("a valid name"),
        publication_year: year,
        contribution: contribution.parse().expect("a valid contribution"),
    }
}

/// The problem in an error response.
async fn problem(error: Error<prog_lang_api_rust_client::ByteStream>) -> types::Problem {
    match error {
        Error::ErrorResponse(response) => {
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            let mut stream = response.into_inner().into_inner();
            let mut bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                bytes.extend_from_slice(&chunk.expect("a chunk"));
            }
            serde_json::from_slice(&bytes).expect("a problem body")
        }
        other => panic!("expected an error response, got {other:?}"),
    }
}

#[tokio::test]
async fn every_operation_works_through_the_generated_client() {
    let (client, _stop) = client().await;

    let health = client.health().await.expect("health").into_inner();
    assert_eq!(health.status, "ok");

    let created = client
        .create_language(
            None,
            &language("PL/I", 1964, "one language for science and business"),
        )
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    assert_eq!(
        created.headers()["location"],
        "/programming_languages/PL%2FI"
    );
    let etag = created.headers()["etag"]
        .to_str()
        .expect("ASCII")
        .to_owned();

    let got = client
        .get_language("PL/I", None)
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got.publication_year, 1964);

    let changes = types::LanguageChanges {
        contribution: Some("records and arithmetic".parse().expect("valid")),
        ..Default::default()
    };
    let updated = client
        .update_language("PL/I", None, Some(&etag), &changes)
        .await
        .expect("update with the current ETag")
        .into_inner();
    assert_eq!(*updated.contribution, "records and arithmetic");

    let stale = client
        .patch_language("PL/I", None, Some(&etag), &changes)
        .await
        .expect_err("a stale ETag");
    assert_eq!(problem(stale).await.status, 412);

    let patch = types::LanguageChanges {
        publication_year: Some(1966),
        ..Default::default()
    };
    let patched = client
        .patch_language("PL/I", None, None, &patch)
        .await
        .expect("patch")
        .into_inner();
    assert_eq!(patched.publication_year, 1966);

    let deleted = client
        .delete_language("PL/I", None, None)
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(*deleted.name, "PL/I");
}

#[tokio::test]
async fn a_page_walk_through_the_client_sees_every_language_once() {
    let (client, _stop) = client().await;
    for i in 0..23 {
        client
            .create_language(None, &language(&format!("Lang{i:02}"), 1990, "x"))
            .await
            .expect("create");
    }
    let limit = std::num::NonZeroU32::new(5);
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_languages(None, None, limit, token.as_deref())
            .await
            .expect("page")
            .into_inner();
        names.extend(
            page.programming_languages
                .iter()
                .map(|l| l.name.to_string()),
        );
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    assert_eq!(names.len(), 8 + 23);
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len());
    assert_eq!(names[0], "COBOL");
    assert_eq!(names.last().map(String::as_str), Some("Lang22"));
}

#[tokio::test]
async fn problems_come_through_the_clients_error_type() {
    let (client, _stop) = client().await;
    let missing = client
        .get_language("Fortran", None)
        .await
        .expect_err("no Fortran");
    let missing = problem(missing).await;
    assert_eq!(
        (missing.status, missing.type_.as_str()),
        (404, "/problems/not-found")
    );
    assert_eq!(missing.instance, "/programming_languages/Fortran");

    let taken = client
        .create_language(None, &language("COBOL", 1959, "again"))
        .await
        .expect_err("COBOL exists");
    let taken = problem(taken).await;
    assert_eq!(
        (taken.status, taken.type_.as_str()),
        (409, "/problems/already-exists")
    );
}

#[tokio::test]
async fn a_create_retried_with_its_idempotency_key_gets_the_first_answer() {
    let (client, _stop) = client().await;
    let body = language("Retried", 2001, "sent twice");
    // The spec's pattern for the key makes it a type of its own, checked as it is made.
    let key: types::CreateLanguageIdempotencyKey = "rust-client-1".parse().expect("a key");
    let first = client
        .create_language(Some(&key), &body)
        .await
        .expect("created");
    let again = client
        .create_language(Some(&key), &body)
        .await
        .expect("the first answer again");
    assert_eq!(again.status().as_u16(), 201);
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .map(|value| value.as_bytes()),
        Some(&b"true"[..])
    );
    let (again, first) = (again.into_inner(), first.into_inner());
    assert_eq!(
        (
            again.name.as_str(),
            again.publication_year,
            again.contribution.as_str()
        ),
        (
            first.name.as_str(),
            first.publication_year,
            first.contribution.as_str()
        )
    );
    let reused = client
        .create_language(Some(&key), &language("Other", 2001, "x"))
        .await
        .expect_err("another request");
    assert_eq!(problem(reused).await.status, 422);
}
