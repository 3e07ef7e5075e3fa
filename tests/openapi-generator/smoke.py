"""The Python client that openapi-generator's `python` generator writes from openapi/openapi.json,
against a live server: the seeded list, a read, a create, update and delete with the write token and
the ETag read from the response headers, a write without the token, and the 404 problem raised as
the client's exception.

Usage: python smoke.py BASE_URL WRITE_TOKEN   (tests/openapi-generator/run sets it all up)
"""

import json
import sys

from prog_lang_api_oag import ApiClient, Configuration, ProgrammingLanguagesApi, ServiceApi
from prog_lang_api_oag.exceptions import ApiException, NotFoundException, UnauthorizedException
from prog_lang_api_oag.models import Language, LanguageChanges, LanguagePage, Problem

CHECKS = []


def check(name):
    def register(function):
        CHECKS.append((name, function))
        return function

    return register


def client(token=True):
    configuration = Configuration(host=sys.argv[1], access_token=sys.argv[2] if token else None)
    return ApiClient(configuration)


def header(headers, name):
    """A response header, by its name in any case: the client's ApiResponse keeps them in a plain
    dict, keyed as they came on the wire (lower case)."""
    values = [value for key, value in headers.items() if key.lower() == name.lower()]
    assert len(values) == 1, (name, headers)
    return values[0]


def raises(call):
    """The ApiException that `call` raises (the client raises one for every status outside 2xx)."""
    try:
        result = call()
    except ApiException as error:
        return error
    raise AssertionError(f"no exception, but {result!r}")


@check("the seeded languages")
def seeded():
    with client() as c:
        assert ServiceApi(c).health().status == "ok"
        page = ProgrammingLanguagesApi(c).list_languages()
        assert isinstance(page, LanguagePage), page
        names = [language.name for language in page.programming_languages]
        assert len(names) == 8 and names[0] == "COBOL", names
        assert page.next_page_token is None, page


@check("get COBOL")
def get_cobol():
    with client() as c:
        cobol = ProgrammingLanguagesApi(c).get_language("COBOL")
        assert isinstance(cobol, Language), cobol
        assert (cobol.name, cobol.publication_year) == ("COBOL", 1960), cobol


@check("create, update and delete with the write token")
def create_update_delete():
    with client() as c:
        api = ProgrammingLanguagesApi(c)
        created = api.create_language_with_http_info(
            Language(name="PL/I", publication_year=1964, contribution="science and business")
        )
        assert created.status_code == 201, created
        assert header(created.headers, "Location") == "/programming_languages/PL%2FI", created.headers
        assert created.data == Language(
            name="PL/I", publication_year=1964, contribution="science and business"
        ), created.data
        etag = header(created.headers, "ETag")
        got = api.get_language_with_http_info("PL/I")
        assert header(got.headers, "ETag") == etag and got.data.publication_year == 1964, got
        not_modified = raises(lambda: api.get_language("PL/I", if_none_match=etag))
        assert not_modified.status == 304, not_modified
        updated = api.update_language_with_http_info(
            "PL/I", LanguageChanges(contribution="records"), if_match=etag
        )
        assert updated.status_code == 200 and updated.data.contribution == "records", updated
        assert header(updated.headers, "ETag") != etag, updated.headers
        stale = raises(
            lambda: api.update_language("PL/I", LanguageChanges(publication_year=1966), if_match=etag)
        )
        assert stale.status == 412 and isinstance(stale.data, Problem), stale
        deleted = api.delete_language("PL/I")
        assert isinstance(deleted, Language) and deleted.contribution == "records", deleted
        gone = raises(lambda: api.get_language("PL/I"))
        assert isinstance(gone, NotFoundException), gone


@check("a write without the token")
def no_token():
    with client(token=False) as c:
        body = Language(name="Forth", publication_year=1970, contribution="stacks")
        refused = raises(lambda: ProgrammingLanguagesApi(c).create_language(body))
        assert isinstance(refused, UnauthorizedException) and refused.status == 401, refused
        assert isinstance(refused.data, Problem) and refused.data.status == 401, refused.data


@check("a missing name is a 404 problem")
def missing():
    with client() as c:
        error = raises(lambda: ProgrammingLanguagesApi(c).get_language("Fortran"))
        assert isinstance(error, NotFoundException) and error.status == 404, error
        assert header(error.headers, "Content-Type").startswith("application/problem+json"), error.headers
        assert isinstance(error.data, Problem), error.data
        assert (error.data.status, error.data.type) == (404, "/problems/not-found"), error.data
        assert error.data.instance == "/programming_languages/Fortran", error.data
        assert json.loads(error.body)["status"] == 404, error.body


def main():
    failed = 0
    for name, function in CHECKS:
        try:
            function()
            print(f"ok: {name}")
        except Exception as error:  # a failed check is reported, and the next one still runs
            failed += 1
            print(f"FAILED: {name}: {error!r}")
    print(f"openapi-generator client: {len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
