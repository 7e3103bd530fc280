"""The frozen contract: each version's OpenAPI document and golden responses, as committed
snapshots under tests/contract/snapshots/.

Shared by the tests (tests/contract/test_frozen.py) and by ``make snapshots``
(tools/snapshots.py), so both build the documents and run the golden scenario the same way:
through HTTP, on apps made by ``create_app``, with the test suite's environment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
# Versions whose snapshots never take a breaking change, not even with ``make snapshots FORCE=1``.
FROZEN = frozenset({"1"})
UPDATE_HINT = "run `make snapshots` (it refuses breaking changes) and commit the snapshot"

# The response headers a client relies on (API-CONTRACT.md §1, §4, §5, §7, §9): recorded when
# present. X-Request-ID, Content-Length and Date change on every run and are left out.
RECORDED_HEADERS = (
    "Content-Type",
    "API-Version",
    "Location",
    "ETag",
    "Link",
    "X-Total-Count",
    "Deprecation",
    "Sunset",
    "Vary",
    "Allow",
    "WWW-Authenticate",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Access-Control-Allow-Origin",
    "Access-Control-Expose-Headers",
)

MakeApp = Callable[..., Flask]


def snapshot_path(kind: str, version: str) -> Path:
    """``openapi-v1.json``, ``golden-v2.json``, ..."""
    return SNAPSHOTS / f"{kind}-v{version}.json"


def dumps(value) -> str:
    """The snapshot format: sorted keys, two-space indents, so diffs are readable."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def served_versions(client: FlaskClient) -> list[str]:
    """The versions the directory (``GET /api``) lists."""
    return [entry["version"] for entry in client.get("/api").get_json()["versions"]]


def openapi_document(client: FlaskClient, version: str) -> dict:
    """The version's OpenAPI document, as a client fetches it."""
    response = client.get(f"/api/v{version}/openapi.json")
    assert response.status_code == 200, (version, response.status_code)
    return response.get_json()


# -- golden responses --------------------------------------------------------------------------

_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?")
_CANONICAL_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")  # the contract's format
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
_ID_IN_URL = re.compile(r"/(books|users|api-keys)/\d+")
_CURSOR_IN_URL = re.compile(r"([?&]cursor=)[^&>\s\"]+")
_ETAG = re.compile(r'(W/)?"[^"]*"')
_ID_FIELDS = {"id", "created_by"}
_CURSOR_FIELDS = {"next_cursor", "prev_cursor"}


def _timestamp(match: re.Match) -> str:
    """``<timestamp>`` for the contract's format; any other keeps its shape, digits masked,
    so a change of format shows in the golden."""
    text = match.group(0)
    if _CANONICAL_TIMESTAMP.fullmatch(text):
        return "<timestamp>"
    return "<timestamp " + re.sub(r"\d", "9", text) + ">"


def normalise_text(text: str) -> str:
    text = _JWT.sub("<token>", text)
    text = _TIMESTAMP.sub(_timestamp, text)
    text = _ID_IN_URL.sub(lambda m: f"/{m.group(1)}/<id>", text)
    return _CURSOR_IN_URL.sub(r"\1<cursor>", text)


def normalise(value, key: str | None = None):
    """Replace what changes from run to run (ids, timestamps, tokens, cursors) by placeholders,
    keeping types: an id that became a string is not normalised, so the change shows."""
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if key in _ID_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return "<id>"
    if key in _CURSOR_FIELDS and isinstance(value, str):
        return "<cursor>"
    if isinstance(value, str):
        return normalise_text(value)
    return value


def normalise_header(name: str, value: str) -> str:
    if name in ("ETag", "If-Match", "If-None-Match"):
        return _ETAG.sub(lambda m: f"{m.group(1) or ''}<etag>", value)
    if name == "Allow":  # a set of methods, in no particular order
        return ", ".join(sorted(method.strip() for method in value.split(",")))
    if name == "X-RateLimit-Reset":
        return "<unix-time>" if value.isdigit() else value
    if name == "Retry-After":
        return "<seconds>" if value.isdigit() else value
    return normalise_text(value)


class Recorder:
    """Sends the scenario's requests and records each exchange, normalised."""

    def __init__(self, client: FlaskClient, prefix: str):
        self.client, self.prefix = client, prefix
        self.steps: list[dict] = []

    def __call__(
        self,
        name: str,
        method: str,
        path: str,
        *,
        json=None,
        data=None,
        headers=None,
        content_type=None,
    ):
        assert name not in {step["name"] for step in self.steps}, f"two steps named {name!r}"
        url = self.prefix + path
        request = {"method": method, "path": normalise_text(url)}
        if json is not None:
            request["json"] = normalise(json)
        if data is not None:
            request["data"] = data
        if content_type is not None:
            request["content_type"] = content_type
        if headers:
            request["headers"] = {k: normalise_header(k, v) for k, v in headers.items()}
        response = self.client.open(
            url, method=method, json=json, data=data, headers=headers, content_type=content_type
        )
        recorded = {
            k: normalise_header(k, response.headers[k])
            for k in RECORDED_HEADERS
            if k in response.headers
        }
        body = normalise(response.get_json(silent=True))
        if body is None and response.data:
            body = {"<text>": normalise_text(response.get_data(as_text=True))}
        self.steps.append(
            {
                "name": name,
                "request": request,
                "response": {"status": response.status_code, "headers": recorded, "body": body},
            }
        )
        return response


def _payload(response) -> dict:
    """A flat version's body, or an enveloped version's ``data``."""
    body = response.get_json()
    return body["data"] if isinstance(body.get("data"), dict) and "success" in body else body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def run_scenario(make_app: MakeApp, version: str) -> list[dict]:
    """The golden scenario against ``/api/v<version>``: the main requests in order, one of each
    error class, then settings a deployment may turn on (If-Match required, rate limits, the
    version's deprecation, brownouts and sunset). ``make_app(**environ)`` builds an app on an
    empty, migrated database (the same one on every call)."""
    app = make_app()
    call = Recorder(app.test_client(), f"/api/v{version}")
    reader = {"email": "reader@example.com", "password": PASSWORD}
    book = {"title": "Dune", "author": "Frank Herbert", "isbn": "9780441013593", "year": 1965}

    call("version entry point", "GET", "")
    call("health", "GET", "/health")
    call("register", "POST", "/auth/register", json=reader)
    call("register: 409 duplicate email", "POST", "/auth/register", json=reader)
    wrong = {**reader, "password": "not-the-password"}
    call("login: 401 invalid credentials", "POST", "/auth/login", json=wrong)
    tokens = _payload(call("login", "POST", "/auth/login", json=reader))
    token = tokens["access_token"]
    call("me", "GET", "/auth/me", headers=bearer(token))
    call("me: 401 no token", "GET", "/auth/me")
    call("me: 401 malformed token", "GET", "/auth/me", headers=bearer("not-a-jwt"))

    created = call("create a book", "POST", "/books", json=book, headers=bearer(token))
    book_id = _payload(created)["id"]
    etag = created.headers["ETag"]
    second = {"title": "Children of Dune", "author": "Frank Herbert", "year": 1976}
    call("create a second book", "POST", "/books", json=second, headers=bearer(token))
    call("create: 401 no token", "POST", "/books", json=book)
    call("create: 409 duplicate isbn", "POST", "/books", json=book, headers=bearer(token))
    call(
        "create: 415 not JSON",
        "POST",
        "/books",
        data="title=Dune",
        content_type="text/plain",
        headers=bearer(token),
    )
    call(
        "create: 400 malformed JSON",
        "POST",
        "/books",
        data='{"title": ',
        content_type="application/json",
        headers=bearer(token),
    )
    invalid = {"title": "", "author": "A", "year": "1965", "isbn": "123", "colour": "red"}
    call("create: 422 validation", "POST", "/books", json=invalid, headers=bearer(token))

    call("list", "GET", "/books?sort=title&order=asc&per_page=1")
    call("list: search", "GET", "/books?search=dune&author=herbert&year=1965")
    call("list: 400 invalid query (v1 falls back to defaults)", "GET", "/books?page=x&sort=z")
    call("get", "GET", f"/books/{book_id}")
    call("get: 304 not modified", "GET", f"/books/{book_id}", headers={"If-None-Match": etag})
    call("get: 404 unknown id", "GET", "/books/999999")
    call("get: 404 unknown route", "GET", "/no-such-thing")
    call("get: 405 method not allowed", "PATCH", f"/books/{book_id}", json={})

    update = {"description": "Desert planet.", "year": 1966}
    updated = call("update", "PUT", f"/books/{book_id}", json=update, headers=bearer(token))
    stale = {**bearer(token), "If-Match": etag}
    call("update: 412 stale If-Match", "PUT", f"/books/{book_id}", json={}, headers=stale)
    fresh = {**bearer(token), "If-Match": updated.headers["ETag"]}
    call("update: If-Match current", "PUT", f"/books/{book_id}", json={}, headers=fresh)
    call("delete: 403 not an admin", "DELETE", f"/books/{book_id}", headers=bearer(token))

    admin = {"email": "admin@example.com", "password": "an-admin-password"}
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", admin["email"], "--password", admin["password"]]
    )
    assert result.exit_code == 0, result.output
    admin_token = _payload(call("login as admin", "POST", "/auth/login", json=admin))
    admin_token = admin_token["access_token"]
    call("delete", "DELETE", f"/books/{book_id}", headers=bearer(admin_token))
    call("get: 404 after delete", "GET", f"/books/{book_id}")

    refresh = tokens["refresh_token"]
    call("refresh", "POST", "/auth/refresh", headers=bearer(refresh))
    call("refresh: 401 access token", "POST", "/auth/refresh", headers=bearer(token))
    call("logout", "POST", "/auth/logout", headers=bearer(token))
    call("me: 401 revoked token", "GET", "/auth/me", headers=bearer(token))

    # Settings a deployment may turn on: If-Match required, rate limits.
    strict = make_app(
        REQUIRE_IF_MATCH="true",
        RATELIMIT_ENABLED="true",
        RATELIMIT_LOGIN="2 per minute",
        RATELIMIT_DEFAULT="100 per minute",
    )
    call.client = strict.test_client()
    token = _payload(call("login (rate limited app)", "POST", "/auth/login", json=reader))
    token = token["access_token"]
    books = call("list (rate limited app)", "GET", "/books").get_json()
    book_id = (books.get("books") or books.get("data"))[0]["id"]
    call(
        "update: 428 If-Match required",
        "PUT",
        f"/books/{book_id}",
        json={"year": 1977},
        headers=bearer(token),
    )
    call("login: second (limit 2 per minute)", "POST", "/auth/login", json=reader)
    call("login: 429 rate limited", "POST", "/auth/login", json=reader)

    # The version's lifecycle (contract §1, §9): deprecated, in a brownout, retired.
    lifecycle = make_app(
        **{
            f"V{version}_DEPRECATED_AT": "2026-06-30T00:00:00Z",
            f"V{version}_SUNSET_AT": "2027-06-30T00:00:00Z",
            f"V{version}_BROWNOUTS": "2026-12-24T00:00:00Z/2026-12-24T01:00:00Z",
        }
    )
    call.client = lifecycle.test_client()
    for name, now in (
        ("deprecated", datetime(2026, 12, 1, tzinfo=UTC)),
        ("410 in a brownout", datetime(2026, 12, 24, 0, 30, tzinfo=UTC)),
        ("410 retired", datetime(2027, 7, 1, tzinfo=UTC)),
    ):
        lifecycle.config["CLOCK"] = lambda now=now: now
        call(f"get: {name}", "GET", f"/books/{book_id}")
    return call.steps


# -- comparing snapshots -----------------------------------------------------------------------


def _show(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _scalars(values: list) -> bool:
    return all(not isinstance(v, (dict, list)) for v in values)


def json_differences(expected, actual, path: str = "") -> list[tuple[str, str]]:
    """``(kind, message)`` for each place two JSON values differ; kind is ``added`` (a key
    only ``actual`` has), ``removed`` or ``changed``."""
    where = path or "(root)"
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for key in expected:
            child = f"{path}.{key}" if path else str(key)
            if key not in actual:
                found.append(("removed", f"{child} removed (was {_show(expected[key])})"))
            else:
                found += json_differences(expected[key], actual[key], child)
        for key in actual:
            if key not in expected:
                child = f"{path}.{key}" if path else str(key)
                found.append(("added", f"{child} added ({_show(actual[key])})"))
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if expected != actual and _scalars(expected) and _scalars(actual):
            gone = [v for v in expected if v not in actual]
            new = [v for v in actual if v not in expected]
            if not gone and not new:
                return [("changed", f"{where} reordered: {_show(actual)}")]
            parts = [f"lost {_show(gone)}"] if gone else []
            parts += [f"gained {_show(new)}"] if new else []
            return [("changed", f"{where} {', '.join(parts)}")]
        found = []
        for index, (a, b) in enumerate(zip(expected, actual, strict=False)):
            found += json_differences(a, b, f"{path}[{index}]")
        if len(expected) != len(actual):
            found.append(("changed", f"{where} has {len(actual)} items, was {len(expected)}"))
        return found
    if expected != actual or type(expected) is not type(actual):
        return [("changed", f"{where} changed from {_show(expected)} to {_show(actual)}")]
    return []


def golden_differences(expected: list[dict], actual: list[dict]) -> list[tuple[str, str]]:
    """``(kind, message)`` for each difference, steps matched by name. What a client notices in
    the response to the same request (a status, a value, a removed key or header) is
    ``changed`` or ``removed``; a new key or header is ``added``; a step that is new, gone, or
    sends another request is ``scenario`` (the scenario was edited, not the API)."""
    found = []
    current = {step["name"]: step for step in actual}
    for old in expected:
        new = current.get(old["name"])
        label = f"step {old['name']!r} ({old['request']['method']} {old['request']['path']})"
        if new is None:
            found.append(("scenario", f"{label}: no longer in the scenario"))
        elif old["request"] != new["request"]:
            found.append(("scenario", f"{label}: sends another request now"))
        else:
            expected_response, actual_response = old["response"], new["response"]
            for name in SET_HEADERS:
                before = expected_response.get("headers", {}).get(name)
                after = actual_response.get("headers", {}).get(name)
                if before is None or after is None:
                    continue  # a header that appears or goes is judged as any other
                for kind, message in _set_differences(name, before, after):
                    found.append((kind, f"{label}: {message}"))
                expected_response = _without_header(expected_response, name)
                actual_response = _without_header(actual_response, name)
            for kind, message in json_differences(expected_response, actual_response):
                found.append((kind, f"{label}: {message}"))
    known = {step["name"] for step in expected}
    for new in actual:
        if new["name"] not in known:
            found.append(("scenario", f"step {new['name']!r}: new in the scenario"))
    return found


# Headers whose value is a set of names: one that only gains names lets a client do all it did
# (a browser may read one more response header), so it is additive; losing one is breaking.
SET_HEADERS = ("Access-Control-Expose-Headers",)


def _names(value: str) -> set[str]:
    return {name.strip() for name in value.split(",") if name.strip()}


def _set_differences(name: str, before: str, after: str) -> list[tuple[str, str]]:
    gone, new = sorted(_names(before) - _names(after)), sorted(_names(after) - _names(before))
    found = [("removed", f"headers.{name} lost {_show(gone)}")] if gone else []
    if new:
        found.append(("added", f"headers.{name} gained {_show(new)}"))
    return found  # the same names in another order or spacing: nothing


def _without_header(response: dict, name: str) -> dict:
    headers = {k: v for k, v in response.get("headers", {}).items() if k != name}
    return {**response, "headers": headers}


def is_breaking(kind: str) -> bool:
    return kind in ("changed", "removed")
