"""The Python client that openapi-python-client generates from openapi/openapi.json, against a
live server: every operation, a page walk, a name with a `/`, the 404 and 409 problems read
through the client's typed responses, and a create retried with its Idempotency-Key.

Usage: python smoke.py BASE_URL WRITE_TOKEN   (tests/python/run sets it all up)
"""

import sys

from prog_lang_api_client import AuthenticatedClient
from prog_lang_api_client.api.programming_languages import (
    create_language,
    delete_language,
    get_language,
    list_languages,
    patch_language,
    update_language,
)
from prog_lang_api_client.api.service import health
from prog_lang_api_client.models import Language, LanguageChanges, LanguagePage, Problem

CHECKS = []


def check(name):
    def register(function):
        CHECKS.append((name, function))
        return function

    return register


def client():
    return AuthenticatedClient(base_url=sys.argv[1], token=sys.argv[2])


@check("every operation")
def every_operation():
    with client() as c:
        assert health.sync(client=c).status == "ok"
        created = create_language.sync_detailed(
            client=c,
            body=Language(name="PL/I", publication_year=1964, contribution="science and business"),
        )
        assert created.status_code == 201, created
        assert created.headers["location"] == "/programming_languages/PL%2FI"
        etag = created.headers["etag"]
        got = get_language.sync(name="PL/I", client=c)
        assert isinstance(got, Language) and got.publication_year == 1964, got
        not_modified = get_language.sync_detailed(name="PL/I", client=c, if_none_match=etag)
        assert not_modified.status_code == 304, not_modified
        updated = update_language.sync(
            name="PL/I", client=c, if_match=etag, body=LanguageChanges(contribution="records")
        )
        assert isinstance(updated, Language) and updated.contribution == "records", updated
        stale = patch_language.sync_detailed(
            name="PL/I", client=c, if_match=etag, body=LanguageChanges(publication_year=1966)
        )
        assert stale.status_code == 412 and isinstance(stale.parsed, Problem), stale
        patched = patch_language.sync(name="PL/I", client=c, body=LanguageChanges(publication_year=1966))
        assert isinstance(patched, Language) and patched.publication_year == 1966, patched
        deleted = delete_language.sync(name="PL/I", client=c)
        assert isinstance(deleted, Language) and deleted.name == "PL/I", deleted


@check("a page walk")
def page_walk():
    with client() as c:
        for i in range(13):
            body = Language(name=f"Py{i:02}", publication_year=1991, contribution="x")
            assert create_language.sync_detailed(client=c, body=body).status_code == 201
        names, token = [], None
        while True:
            kwargs = {"limit": 4}
            if token is not None:
                kwargs["page_token"] = token
            page = list_languages.sync(client=c, **kwargs)
            assert isinstance(page, LanguagePage), page
            names += [language.name for language in page.programming_languages]
            token = page.next_page_token if isinstance(page.next_page_token, str) else None
            if token is None:
                break
        assert len(names) == len(set(names)), names
        assert [n for n in names if n.startswith("Py")] == [f"Py{i:02}" for i in range(13)], names
        for i in range(13):
            assert delete_language.sync_detailed(name=f"Py{i:02}", client=c).status_code == 200


@check("problems")
def problems():
    with client() as c:
        missing = get_language.sync(name="Fortran", client=c)
        assert isinstance(missing, Problem), missing
        assert (missing.status, missing.type_) == (404, "/problems/not-found"), missing
        taken = create_language.sync(
            client=c, body=Language(name="COBOL", publication_year=1959, contribution="again")
        )
        assert isinstance(taken, Problem), taken
        assert (taken.status, taken.type_) == (409, "/problems/already-exists"), taken


@check("a create retried with its Idempotency-Key")
def retried_create():
    with client() as c:
        body = Language(name="Retried", publication_year=2001, contribution="sent twice")
        first = create_language.sync_detailed(client=c, body=body, idempotency_key="py-smoke-1")
        assert first.status_code == 201, first
        again = create_language.sync_detailed(client=c, body=body, idempotency_key="py-smoke-1")
        assert again.status_code == 201, again
        assert again.headers["idempotent-replayed"] == "true", again.headers
        assert again.headers["etag"] == first.headers["etag"], again.headers
        assert again.parsed == first.parsed, again
        other = Language(name="Retried", publication_year=2002, contribution="another body")
        reused = create_language.sync(client=c, body=other, idempotency_key="py-smoke-1")
        assert isinstance(reused, Problem), reused
        assert (reused.status, reused.type_) == (422, "/problems/idempotency-key-reused"), reused
        assert delete_language.sync_detailed(name="Retried", client=c).status_code == 200


def main():
    failed = 0
    for name, function in CHECKS:
        try:
            function()
            print(f"ok: {name}")
        except Exception as error:  # a failed check is reported, and the next one still runs
            failed += 1
            print(f"FAILED: {name}: {error!r}")
    print(f"python client: {len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
