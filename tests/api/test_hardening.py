"""Hardening on every response: nosniff, no-store for auth, body and header size limits."""

import pytest

from tests.conftest import PASSWORD


@pytest.mark.parametrize("path", ["/api", "/api/v1/books", "/api/v2/books/999", "/nowhere"])
def test_every_response_has_nosniff(client, path):
    assert client.get(path).headers["X-Content-Type-Options"] == "nosniff"


def test_auth_responses_are_never_cached(api, make_user, auth_headers):
    user = make_user()
    responses = [
        api.post("/auth/register", json={"email": "fresh@example.com", "password": PASSWORD}),
        api.post("/auth/login", json={"email": user.email, "password": PASSWORD}),
        api.post("/auth/login", json={"email": user.email, "password": "wrong-password"}),
        api.get("/auth/me", headers=auth_headers(user)),
        api.post("/auth/refresh", headers=auth_headers(user, refresh=True)),
        api.post("/auth/logout", headers=auth_headers(user)),
    ]
    assert [r.headers.get("Cache-Control") for r in responses] == ["no-store"] * 6


def test_book_responses_may_be_cached(api):
    assert "no-store" not in api.get("/books").headers.get("Cache-Control", "")


def test_oversized_headers_are_refused_with_431(api):
    response = api.get("/books", headers={"X-Padding": "x" * 20000})
    assert response.status_code == 431
    assert api.error(response)["reason"] == "headers_too_large"


def test_header_limit_is_configurable(make_app):
    client = make_app(MAX_HEADER_BYTES="4096").test_client()
    assert client.get("/api/v1/books", headers={"X-Padding": "x" * 3000}).status_code == 200
    assert client.get("/api/v1/books", headers={"X-Padding": "x" * 5000}).status_code == 431


def test_oversized_body_is_refused_with_413(api, user, auth_headers):
    body = {"title": "x" * (1024 * 1024 + 10), "author": "A"}
    response = api.post("/books", json=body, headers=auth_headers(user))
    assert response.status_code == 413
    assert api.error(response)["reason"] == "payload_too_large"
    assert api.total(api.get("/books")) == 0
