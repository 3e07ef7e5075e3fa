"""Schemathesis hooks for the contract rules that OpenAPI 3.0 cannot state.

Each hook keeps generated requests within one such rule and touches nothing else, so every other
check still sees whatever the generator drew. The server's own enforcement of these rules is
covered by the black-box suite in tests/api.
"""

import os
import uuid
from collections.abc import MutableMapping
from urllib.parse import unquote

import requests
import schemathesis

LANGUAGE_PATH = "/programming_languages/{name}"
COLLECTION = "/programming_languages"

# Page tokens this server issued, with the year filters of the request that got each one.
ISSUED_TOKENS: dict[str, dict[str, object]] = {}


@schemathesis.hook
def before_call(context, case, kwargs):
    # Applied to the request as it is about to be sent, after the stateful phase has filled in
    # values from earlier responses.
    method = case.operation.method.upper()
    if case.operation.path == LANGUAGE_PATH and method in ("PUT", "PATCH"):
        _name_as_in_path(case)
    if case.operation.path == LANGUAGE_PATH and method in ("PUT", "PATCH", "DELETE"):
        _if_match_as_current(case)
    if case.operation.path == COLLECTION and case.operation.method.upper() == "GET":
        _only_issued_page_tokens(case)
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        _one_key_per_request(case)


def _is_positive(case, location):
    """Whether the generator meant `location` ("body", "query") of `case` to be valid."""
    meta = getattr(case, "meta", None)
    if meta is None:
        return True  # an example from the spec
    for component, info in meta.components.items():
        if getattr(component, "value", component) == location:
            return getattr(info.mode, "value", info.mode) == "positive"
    return getattr(meta.generation.mode, "value", meta.generation.mode) == "positive"


def _name_as_in_path(case):
    # Rule: a `name` in an update body must equal the name in the path (a rename is a delete and a
    # create). A schema cannot tie a body field to a path parameter, so in a body meant to be valid
    # a drawn name becomes the path's (decoded: path parameters are percent-encoded by now).
    body = case.body
    name = (case.path_parameters or {}).get("name")
    if (
        _is_positive(case, "body")
        and isinstance(body, MutableMapping)
        and isinstance(body.get("name"), str)
        and isinstance(name, str)
    ):
        body["name"] = unquote(name)


def _one_key_per_request(case):
    # Rule: an `Idempotency-Key` names one request: sent with another, it is a 422; sent again while
    # its first request runs, a 409. A schema can say "a string", not "a key no other request has
    # used": a drawn key meant to be valid gets a suffix of its own (still within the pattern).
    headers = case.headers
    drawn = headers.get("Idempotency-Key") if headers is not None else None
    if isinstance(drawn, str) and _is_positive(case, "header"):
        headers["Idempotency-Key"] = f"{drawn[:200]}-{uuid.uuid4().hex}"


def _if_match_as_current(case):
    # Rule: an `If-Match` must match the language's current ETag, or the answer is 412. A schema can
    # say "a string", not "this language's tag right now": a drawn value other than `*` becomes the
    # current ETag (read with a GET just before), so that the write goes through.
    headers = case.headers
    drawn = headers.get("If-Match") if headers is not None else None
    if not isinstance(drawn, str) or drawn.strip() == "*":
        return
    response = requests.get(os.environ["PROG_LANG_API_URL"] + case.formatted_path, timeout=10)
    etag = response.headers.get("ETag")
    if response.status_code == 200 and etag:
        headers["If-Match"] = etag


def _only_issued_page_tokens(case):
    # Rule: `page_token` must be one the server issued, used with the year filters it was issued
    # for. A schema can say "a string", not "a string this server signed": a drawn token is
    # dropped, and an issued one gets its own filters back.
    query = case.query
    if (
        not _is_positive(case, "query")
        or not isinstance(query, MutableMapping)
        or "page_token" not in query
    ):
        return
    filters = ISSUED_TOKENS.get(query["page_token"])
    if filters is None:
        del query["page_token"]
        return
    for name in ("after_year", "before_year"):
        query.pop(name, None)
        if name in filters:
            query[name] = filters[name]


@schemathesis.hook
def after_call(context, case, response):
    if case.operation.path != COLLECTION or case.operation.method.upper() != "GET":
        return
    if response.status_code != 200:
        return
    try:
        token = response.json().get("next_page_token")
    except ValueError:
        return
    if isinstance(token, str):
        query = case.query if isinstance(case.query, MutableMapping) else {}
        ISSUED_TOKENS[token] = {
            name: query[name] for name in ("after_year", "before_year") if name in query
        }
