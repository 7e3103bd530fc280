"""OWASP API8:2023 Security Misconfiguration: safe start-up, CORS, headers and bare JSON errors."""

from __future__ import annotations

import logging
import re

import pytest
import sqlalchemy as sa

from core.config import DEV_JWT_SECRET_KEY, DEV_SECRET_KEY, ConfigError
from core.services import books
from tests.conftest import PASSWORD

STRONG_SECRET = "k7Qy2vR9mZ4pL8sT1wX6bN3cF5hJ0dGa-secret-one"
STRONG_JWT_SECRET = "Zr8Pq3Lm6Tn1Vx4Bc7Hd0Kf2Sg5Wj9Ya-secret-two"
ALLOWED = "https://app.example.com"
LEAK = "hunter2 SELECT password_hash FROM users"
LEAK_MARKERS = ("hunter2", "SELECT", "password_hash", "Traceback", 'File "', "RuntimeError")


def production(**env: str) -> dict[str, str]:
    return {
        "APP_ENV": "production",
        "SECRET_KEY": STRONG_SECRET,
        "JWT_SECRET_KEY": STRONG_JWT_SECRET,
        "PASSWORD_HASH_METHOD": "argon2id",  # production refuses the suite's fast pbkdf2
        "TRUSTED_HOSTS": "localhost",  # the test client's host
        **env,
    }


def _names(value: str | None) -> set[str]:
    return {part.strip().lower() for part in (value or "").split(",") if part.strip()}


# --- production start-up ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"SECRET_KEY": "", "JWT_SECRET_KEY": ""}, "development value"),
        ({"SECRET_KEY": DEV_SECRET_KEY}, "SECRET_KEY is missing or set to the development"),
        ({"JWT_SECRET_KEY": DEV_JWT_SECRET_KEY}, "JWT_SECRET_KEY is missing or set to the dev"),
        ({"SECRET_KEY": "x" * 31}, "SECRET_KEY must be at least 32"),
        ({"JWT_SECRET_KEY": "short-jwt-secret"}, "JWT_SECRET_KEY must be at least 32"),
        ({"JWT_SECRET_KEY": STRONG_SECRET}, "must differ"),
        ({"FLASK_DEBUG": "true"}, "debug must be off"),
        ({"FLASK_DEBUG": "1"}, "debug must be off"),
    ],
    ids=[
        *("no-secrets", "dev-secret-key", "dev-jwt-secret", "short-secret-key"),
        *("short-jwt-secret", "identical-secrets", "debug-true", "debug-1"),
    ],
)
def test_production_refuses_to_start_with_unsafe_settings(make_app, env, problem):
    with pytest.raises(ConfigError) as refused:
        make_app(**production(**env))

    assert problem in str(refused.value)
    for secret in (STRONG_SECRET, STRONG_JWT_SECRET, "short-jwt-secret"):
        assert secret not in str(refused.value)


def test_production_starts_with_strong_distinct_secrets_and_no_debug(make_app):
    app = make_app(**production())

    assert (app.debug, app.testing) == (False, False)
    response = app.test_client().get("/api/v2/health")
    assert response.status_code == 200


# --- CORS ---------------------------------------------------------------------------------------


def _preflight(client, origin: str):
    return client.options(
        "/api/v2/books",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )


def test_the_default_allows_any_origin_but_never_with_credentials(client):
    origin = "https://anyone.example.net"

    for response in (
        _preflight(client, origin),
        client.get("/api/v2/books", headers={"Origin": origin}),
    ):
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.net",
        "null",
        "https://app.example.com.evil.net",
        "https://evilapp.example.com",
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://APP.example.com.evil.net",
    ],
)
def test_credentials_are_never_granted_to_an_unlisted_origin(make_app, origin):
    client = make_app(CORS_ORIGINS=ALLOWED, CORS_ALLOW_CREDENTIALS="true").test_client()

    for response in (
        _preflight(client, origin),
        client.get("/api/v2/books", headers={"Origin": origin}),
    ):
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Allow-Credentials" not in response.headers
    # The listed origin is granted, so the refusals above are about the origin.
    granted = _preflight(client, ALLOWED)
    assert granted.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert granted.headers["Access-Control-Allow-Credentials"] == "true"


@pytest.mark.parametrize("origins", ["*", f"{ALLOWED}, *"])
def test_credentials_with_any_origin_refuse_to_start(make_app, origins):
    with pytest.raises(ConfigError, match="CORS_ALLOW_CREDENTIALS"):
        make_app(CORS_ORIGINS=origins, CORS_ALLOW_CREDENTIALS="true")


# --- response headers ---------------------------------------------------------------------------

RESPONSES = [
    ("GET", "/api", 200),
    ("GET", "/api/v1/books", 200),
    ("GET", "/api/v2/books/999999", 404),
    ("DELETE", "/api/v2/books", 405),
    ("POST", "/api/v1/books", 401),
    ("GET", "/api/books?api_key=x", 400),
    ("GET", "/api/v2/openapi.json", 200),
    ("GET", "/api/docs/", 200),
    ("GET", "/nowhere", 404),
]


@pytest.mark.parametrize(
    ("method", "path", "status"), RESPONSES, ids=[f"{m}-{p}" for m, p, _ in RESPONSES]
)
def test_every_response_forbids_content_sniffing(client, method, path, status):
    response = client.open(path, method=method)

    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_account_and_key_responses_are_never_stored(v2, user, admin_headers):
    credentials = {"email": user.email, "password": PASSWORD}
    responses = [
        v2.post("/auth/login", json=credentials),
        v2.post("/auth/login", json={**credentials, "password": "wrong-password"}),
        v2.post("/auth/register", json={"email": "x"}),
        v2.get("/auth/me"),
        v2.post("/api-keys", json={"name": "k", "scopes": ["read"]}, headers=admin_headers),
        v2.get("/api-keys", headers=admin_headers),
        v2.get("/api-keys/999999", headers=admin_headers),
    ]

    assert [r.status_code for r in responses] == [200, 401, 422, 401, 201, 200, 404]
    for response in responses:
        assert "no-store" in _names(response.headers.get("Cache-Control"))


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError(LEAK),
        KeyError(LEAK),
        sa.exc.ProgrammingError(LEAK, {"password": "hunter2"}, Exception(LEAK)),
        sa.exc.IntegrityError(LEAK, {"password": "hunter2"}, Exception(LEAK)),
    ],
    ids=["runtime-error", "key-error", "programming-error", "integrity-error"],
)
def test_unexpected_errors_are_a_bare_500_leaking_nothing(any_api, monkeypatch, caplog, error):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(books, "list_books", fail)
    caplog.set_level(logging.DEBUG)

    response = any_api.get("/books")

    assert response.status_code == 500
    assert response.is_json
    assert any_api.error(response) == {
        "message": "An unexpected error occurred",
        "details": None,
        "reason": "internal_error",
    }
    for marker in LEAK_MARKERS:
        assert marker not in response.get_data(as_text=True)
    # The log names the exception type and where it happened, never its text or a traceback.
    assert caplog.records
    for marker in ("hunter2", "SELECT", "password_hash", "Traceback"):
        assert marker not in caplog.text


def test_client_errors_do_not_echo_what_the_parser_saw(api, user, auth_headers):
    raw = '{"title": "hunter2 SELECT", "author": '

    response = api.post(
        "/books", data=raw, content_type="application/json", headers=auth_headers(user)
    )

    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "hunter2" not in text
    assert not re.search(r"line \d+ column \d+|Expecting|JSONDecodeError", text)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 404),
        ("GET", "/static/app.js", 404),
        ("GET", "/admin", 404),
        ("GET", "/api/v3/books", 404),
        ("GET", "/api/docs/../../etc/passwd", 404),
        ("GET", "/api/docs/%2e%2e/%2e%2e/etc/passwd", 404),
        ("POST", "/api/docs/", 405),
        ("TRACE", "/api/v1/books", 405),
        ("DELETE", "/api", 405),
    ],
)
def test_404_and_405_are_json_never_html(client, method, path, status):
    response = client.open(path, method=method)

    assert response.status_code == status
    assert response.is_json, response.headers["Content-Type"]
    assert "<html" not in response.get_data(as_text=True).lower()
    assert "root:" not in response.get_data(as_text=True)


def test_health_reports_its_status_and_nothing_about_the_deployment(any_api):
    response = any_api.get("/health")

    assert response.status_code == 200
    assert any_api.data(response) == {"status": "ok", "database": "ok"}
    text = response.get_data(as_text=True).lower()
    for detail in ("sqlite", "postgres", "version", "python", "flask", "werkzeug"):
        assert detail not in text


def test_the_interactive_docs_load_nothing_from_other_hosts(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, "the page loads its scripts and styles"
    for source in sources:
        assert source.startswith("/api/docs/"), source
    for asset in sources:
        with client.get(asset) as served:
            assert served.status_code == 200, asset
    # The documents it shows are this API's own.
    assert set(re.findall(r'"url": "([^"]+)"', html)) == {
        "/api/v1/openapi.json",
        "/api/v2/openapi.json",
    }
