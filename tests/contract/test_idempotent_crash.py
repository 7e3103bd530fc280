"""Idempotent retries after a worker is killed mid-request, against a real gunicorn.

The server is ``tests.crashing_wsgi:app``: the project's app, whose worker SIGKILLs itself for
a request marked with a test header, either after its transaction committed (before any byte
of the answer is sent) or while its write is still uncommitted. gunicorn's master starts a
new worker; the client only sees its connection drop, and retries as contract §13 lets it.
"""

from __future__ import annotations

import http.client
import json
import time
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from tests.conftest import PASSWORD
from tests.live import call, gunicorn, server_env, server_log

pytestmark = pytest.mark.gunicorn

APP_MODULE = "tests.crashing_wsgi:app"
# Its headers (tests/crashing_wsgi.py, not imported here: importing it builds the app).
CRASH_AFTER_COMMIT = "X-Test-Crash-After-Commit"
CRASH_BEFORE_COMMIT = "X-Test-Crash-Before-Commit"
BOOK = {"title": "Dune", "author": "Frank Herbert", "isbn": "9780441013593", "year": 1965}
KEY = "crash-1"
# Bounds, not waits: a new worker boots within seconds, a one-second lease runs out in one.
REQUEST_TIMEOUT_SECONDS = 30
LEASE_DEADLINE_SECONDS = 30


@pytest.fixture
def server(database_url, tmp_path):
    """gunicorn serving the crashing app on the test database, with one worker: a retry after
    a kill waits for (and is served by) the worker started in the killed one's place, which is
    then up and stops cleanly with the server. (A SIGTERM that reaches a worker gunicorn has
    just forked, before it installs its own signal handlers, can be lost, and the master then
    waits out its graceful timeout.)"""

    @contextmanager
    def start(**extra: str):
        env = server_env(database_url, tmp_path, **{"USAGE_COUNTING": "false", **extra})
        with gunicorn(env, workers=1, app_module=APP_MODULE) as base:
            yield base
            assert "unhandled error" not in server_log(base, env)

    return start


@pytest.fixture
def signed_in(make_user):
    """The Authorization header of a user signed in through ``base``."""

    def sign_in(base: str) -> dict[str, str]:
        user = make_user()
        status, body = call(
            f"{base}/api/v1/auth/login", "POST", {"email": user.email, "password": PASSWORD}
        )
        assert status == 200, body
        return {"Authorization": f"Bearer {body['access_token']}"}

    return sign_in


def post_book(base: str, version: str, headers: dict[str, str]):
    """POST the book with the key; (status, headers, body bytes). Raises ConnectionError when
    the server drops the connection without an answer."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.request(
            "POST",
            f"/api/v{version}/books",
            body=json.dumps(BOOK),
            headers={"Content-Type": "application/json", "Idempotency-Key": KEY, **headers},
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def payload(version: str, body: bytes) -> dict:
    """The book of a 201 in either version's shape."""
    parsed = json.loads(body)
    return parsed["data"] if version == "2" else parsed


def reason(version: str, body: bytes) -> str:
    parsed = json.loads(body)
    return parsed["error"]["reason"] if version == "2" else parsed["code"]


def books_with_isbn(database_url: str) -> list[int]:
    return [row[0] for row in _rows(database_url, "SELECT id FROM books WHERE isbn = :isbn")]


def key_states(database_url: str) -> list[int | None]:
    return [row[0] for row in _rows(database_url, "SELECT status FROM idempotency_keys")]


def _rows(database_url: str, sql: str) -> list:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(sql), {"isbn": BOOK["isbn"]}))
    finally:
        engine.dispose()


def test_a_kill_after_the_commit_is_answered_by_the_replay(
    server, signed_in, database_url, version
):
    with server() as base:
        auth = signed_in(base)
        with pytest.raises(ConnectionError):  # the worker died before answering
            post_book(base, version, {**auth, CRASH_AFTER_COMMIT: "1"})
        (committed,) = books_with_isbn(database_url)  # but its write committed
        assert key_states(database_url) == [201]  # and so did its answer

        status, headers, body = post_book(base, version, auth)
        assert status == 201, body
        assert headers["Idempotent-Replayed"] == "true"
        book = payload(version, body)
        assert book["id"] == committed
        assert {name: book[name] for name in BOOK} == BOOK
        assert headers["Location"].endswith(f"/books/{committed}")

        again = post_book(base, version, auth)
        assert again[0] == 201 and again[1]["Idempotent-Replayed"] == "true"
        assert again[2] == body  # the stored answer, byte for byte
    assert books_with_isbn(database_url) == [committed]


def test_a_kill_before_the_commit_leaves_a_claim_that_holds_within_its_lease(
    server, signed_in, database_url, version
):
    with server() as base:  # the default lease, 60 seconds: longer than this test
        auth = signed_in(base)
        with pytest.raises(ConnectionError):
            post_book(base, version, {**auth, CRASH_BEFORE_COMMIT: "1"})
        assert books_with_isbn(database_url) == []  # the write died uncommitted
        assert key_states(database_url) == [None]  # its claim stands, pending

        status, headers, body = post_book(base, version, auth)
        assert status == 409, body
        assert reason(version, body) == "idempotency_in_progress"
        assert "Idempotent-Replayed" not in headers
    assert books_with_isbn(database_url) == []


def test_a_kill_before_the_commit_is_taken_over_after_the_lease(
    server, signed_in, database_url, version
):
    with server(IDEMPOTENCY_LEASE_SECONDS="1") as base:
        auth = signed_in(base)
        with pytest.raises(ConnectionError):
            post_book(base, version, {**auth, CRASH_BEFORE_COMMIT: "1"})
        assert books_with_isbn(database_url) == []

        deadline = time.monotonic() + LEASE_DEADLINE_SECONDS
        while True:  # retrying as a client would, until the abandoned claim may be taken over
            status, headers, body = post_book(base, version, auth)
            if status != 409:
                break
            assert reason(version, body) == "idempotency_in_progress"
            assert time.monotonic() < deadline, "the claim was never taken over"
            time.sleep(0.1)
        assert status == 201, body
        assert "Idempotent-Replayed" not in headers  # the retry ran the request itself
        (created,) = books_with_isbn(database_url)
        assert payload(version, body)["id"] == created

        replay = post_book(base, version, auth)
        assert replay[0] == 201 and replay[1]["Idempotent-Replayed"] == "true"
        assert replay[2] == body
    assert books_with_isbn(database_url) == [created]
    assert key_states(database_url) == [201]
