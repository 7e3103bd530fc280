"""The request log: one JSON line per request, request ids, and nothing secret in it."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import PASSWORD


@pytest.fixture
def logged(make_app):
    return make_app(REQUEST_LOG="true").test_client()


def _lines(capsys) -> list[dict]:
    return [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]


def test_one_json_line_per_request(logged, capsys, version):
    capsys.readouterr()
    logged.get(f"/api/v{version}/books?search=x", headers={"X-Request-ID": "req-123"})
    logged.get(f"/api/v{version}/books/999")
    first, second = _lines(capsys)
    assert first["request_id"] == "req-123"
    assert first["method"] == "GET"
    assert first["path"] == f"/api/v{version}/books"  # never the query string
    assert first["status"] == 200
    assert first["api_version"] == version
    assert first["version_source"] == "path"
    assert first["duration_ms"] >= 0
    assert first["time"].endswith("Z")
    assert first["user_id"] is None and first["api_key_id"] is None
    assert second["status"] == 404


def test_the_line_is_timed_in_utc_to_the_millisecond(logged, capsys):
    capsys.readouterr()
    before = datetime.now(UTC)
    logged.get("/api/v1/health")
    logged.get("/api/v2/health")
    after = datetime.now(UTC)
    times = [line["time"] for line in _lines(capsys)]
    assert len(times) == 2
    for text in times:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), text
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        assert before - timedelta(milliseconds=1) <= when <= after
    assert times[0] <= times[1]


def test_a_line_is_ascii_whatever_the_path_holds(logged, capsys):
    capsys.readouterr()
    logged.get("/api/v1/b\u00fccher/\u2028\U0001f4da")
    (raw,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert raw.isascii()
    assert json.loads(raw)["path"] == "/api/v1/b\u00fccher/\u2028\U0001f4da"


def test_the_line_names_how_the_version_was_chosen(logged, capsys, make_user, auth_headers):
    user = make_user()
    headers = auth_headers(user)
    logged.put("/api/v2/auth/me/api-version", headers=headers, json={"version": "2"})
    capsys.readouterr()

    logged.get("/api/v1/books")
    logged.get("/api/books", headers={"API-Version": "2"})
    logged.get("/api/books", headers=headers)
    logged.get("/api/books")
    logged.get("/api/books", headers={"API-Version": "9"})
    logged.get("/health")

    chosen = [(line["api_version"], line["version_source"]) for line in _lines(capsys)]
    assert chosen == [
        ("1", "path"),
        ("2", "header"),
        ("2", "pin"),
        ("1", "default"),
        ("1", "default"),  # an unusable header is refused in the default version's shape
        (None, None),
    ]


def test_user_id_is_logged_but_never_the_token_or_password(logged, capsys, make_user, auth_headers):
    user = make_user()
    capsys.readouterr()
    login = logged.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    token = login.get_json()["access_token"]
    logged.get("/api/v2/auth/me", headers={"Authorization": f"Bearer {token}"})
    text = capsys.readouterr().err
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines[-1]["user_id"] == user.id
    assert token not in text
    assert PASSWORD not in text
    assert user.email not in text


def test_request_id_is_echoed_when_well_formed(client):
    response = client.get("/api/v2/books", headers={"X-Request-ID": "abc-DEF_1.2:3"})
    assert response.headers["X-Request-ID"] == "abc-DEF_1.2:3"


@pytest.mark.parametrize("offered", ["", "has space", "x" * 200, "<script>", "a\\b"])
def test_malformed_request_id_is_replaced(client, offered):
    response = client.get("/api/v2/books", headers={"X-Request-ID": offered})
    issued = response.headers["X-Request-ID"]
    assert issued != offered
    assert len(issued) == 32 and issued.isalnum()


def test_error_log_line_names_the_request_id(client, caplog, monkeypatch):
    from core.services import books

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(books, "list_books", explode)
    response = client.get("/api/v1/books", headers={"X-Request-ID": "trace-me-42"})
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "trace-me-42"
    assert "trace-me-42" in caplog.text


class _BrokenPipe:
    def write(self, _text):
        raise BrokenPipeError()

    def flush(self):
        raise BrokenPipeError()


def test_a_log_line_that_cannot_be_written_never_fails_the_request(logged, monkeypatch, version):
    monkeypatch.setattr("sys.stderr", _BrokenPipe())
    response = logged.get(f"/api/v{version}/books")
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Request-ID"]
