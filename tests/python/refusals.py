"""Early refusals as a pooled client meets them: httpx sends a request's head and body in two
writes, and reuses the connection for the next request. Every refusal answered before the body
was read (405, 404, 415, 401, 413) must leave the connection usable: the next request goes out on
the same connection (the same local port) and is answered, never "Server disconnected".

Usage: python refusals.py BASE_URL WRITE_TOKEN   (tests/python/run sets it all up)
"""

import sys

import httpx


def local_port(response):
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


def main(base_url, token):
    json_type = {"content-type": "application/json"}
    # With the token, a write gets past the token guard to the body's own checks.
    authorized = {**json_type, "authorization": f"Bearer {token}"}
    body = b'{"name": "Refused", "publication_year": 1990, "contribution": "x"}'
    cases = [
        ("PUT", "/openapi.json", json_type, body, 405),
        ("POST", "/nowhere", json_type, body, 404),
        ("POST", "/programming_languages", {**authorized, "content-type": "text/plain"}, body, 415),
        ("POST", "/programming_languages", json_type, body, 401),
        ("POST", "/programming_languages", authorized, b"x" * 20_000, 413),
        ("PUT", "/programming_languages/COBOL", authorized, b"x" * 200_000, 413),
    ]
    passed = failed = 0
    # One connection at most, kept alive: a refusal that closed it would show as a new port, or as
    # an error on the request that follows.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx.Client(base_url=base_url, limits=limits, timeout=10) as client:
        first = client.get("/healthz")
        port = local_port(first)
        for method, path, headers, content, status in cases:
            name = f"{method} {path} ({len(content)} bytes)"
            try:
                refused = client.request(method, path, headers=headers, content=content)
                assert refused.status_code == status, refused.status_code
                assert refused.headers["content-type"] == "application/problem+json"
                assert refused.headers.get("connection") != "close"
                after = client.get("/healthz")
                assert after.status_code == 200, after.status_code
                assert local_port(after) == port, "a new connection"
                print(f"ok: {name} -> {status}, then /healthz on the same connection")
                passed += 1
            except (AssertionError, httpx.HTTPError) as error:
                print(f"FAILED: {name}: {error!r}")
                failed += 1
    print(f"httpx early refusals: {passed} passed, {failed} failed")
    return failed == 0


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1], sys.argv[2]) else 1)
