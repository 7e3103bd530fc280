"""Credentials that are sent are always judged (contract §3): a bad token or API key is a 401
on public routes too, with the reasons and challenges of the protected ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token
from sqlalchemy import func, select

from core.extensions import db
from core.models import User
from core.principal import Principal
from core.services import api_keys
from tests.conftest import PASSWORD, bearer

BEARER_CHALLENGE = 'Bearer error="invalid_token"'
KEY_CHALLENGE = 'ApiKey header="X-API-Key"'

# (method, path, body) of every public route under a version's root.
PUBLIC_ROUTES = [
    ("get", "/books", None),
    ("get", "/books/{book}", None),
    ("get", "/health", None),
    ("get", "/", None),
    ("post", "/auth/register", {"email": "new@example.com", "password": PASSWORD}),
    ("post", "/auth/login", {"email": "{email}", "password": PASSWORD}),
]
ROUTE_IDS = [f"{m}-{p}" for m, p, _ in PUBLIC_ROUTES]


@pytest.fixture
def credentials(app, user, admin, auth_headers, make_book):
    """Builds each kind of bad credential, named by the reason it must get."""
    book = make_book()
    with app.app_context():
        key, key_plaintext = api_keys.create_key("svc", ("read",), db.session.get(User, admin.id))
        gone, gone_plaintext = api_keys.create_key("old", ("read",), db.session.get(User, admin.id))
        api_keys.revoke_key(gone.id, Principal.for_operator())
        expired = create_access_token(str(user.id), expires_delta=timedelta(seconds=-10))
    access = auth_headers(user)["Authorization"].removeprefix("Bearer ")
    revoked = auth_headers(user)
    assert app.test_client().post("/api/v1/auth/logout", headers=revoked).status_code == 200
    header, payload, signature = access.split(".")
    tampered = f"{header}.{payload}.{signature[:-3]}{'AAA' if signature[-3:] != 'AAA' else 'BBB'}"

    cases = {
        "garbage": ({"Authorization": "Bearer not-a-jwt"}, "token_invalid", BEARER_CHALLENGE),
        "tampered": (bearer(tampered), "token_invalid", BEARER_CHALLENGE),
        "expired": (bearer(expired), "token_expired", BEARER_CHALLENGE),
        "revoked": (revoked, "token_revoked", BEARER_CHALLENGE),
        "refresh": (auth_headers(user, refresh=True), "token_invalid", BEARER_CHALLENGE),
        "not bearer": ({"Authorization": "Basic dXNlcjpwdw=="}, "token_missing", "Bearer"),
        "wrong key": (
            {"X-API-Key": key_plaintext[:-2] + ("xx" if key_plaintext[-2:] != "xx" else "yy")},
            "api_key_invalid",
            KEY_CHALLENGE,
        ),
        "malformed key": ({"X-API-Key": "bk_nope"}, "api_key_invalid", KEY_CHALLENGE),
        "revoked key": ({"X-API-Key": gone_plaintext}, "api_key_revoked", KEY_CHALLENGE),
    }
    good = {"token": auth_headers(user), "key": {"X-API-Key": key_plaintext}}
    return {"cases": cases, "good": good, "book": book.id, "email": user.email}


PROBLEMS = [
    "garbage",
    "tampered",
    "expired",
    "revoked",
    "refresh",
    "not bearer",
    "wrong key",
    "malformed key",
    "revoked key",
]


def route(credentials, path: str, body):
    path = path.replace("{book}", str(credentials["book"]))
    if body is not None:
        body = {k: v.replace("{email}", credentials["email"]) for k, v in body.items()}
    return path, body


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize(("method", "path", "body"), PUBLIC_ROUTES, ids=ROUTE_IDS)
def test_a_bad_credential_on_a_public_route_is_401(
    api, app, credentials, problem, method, path, body
):
    headers, reason, challenge = credentials["cases"][problem]
    path, body = route(credentials, path, body)
    users = user_count(app)

    response = getattr(api, method)(path, headers=headers, json=body)

    assert response.status_code == 401, response.get_json()
    assert api.error(response)["reason"] == reason
    assert response.headers["WWW-Authenticate"] == challenge
    assert response.headers["API-Version"] == api.version
    assert user_count(app) == users  # register created no one; login issued nothing


@pytest.mark.parametrize("kind", ["token", "key"])
@pytest.mark.parametrize(("method", "path", "body"), PUBLIC_ROUTES, ids=ROUTE_IDS)
def test_good_credentials_or_none_change_nothing_on_public_routes(
    api, credentials, kind, method, path, body
):
    path, body = route(credentials, path, body)
    expected = {"post": 201 if path == "/auth/register" else 200}.get(method, 200)

    with_credentials = getattr(api, method)(path, headers=credentials["good"][kind], json=body)
    if path == "/auth/register":
        body = {**body, "email": f"{kind}-other@example.com"}
    without = getattr(api, method)(path, json=body)

    assert with_credentials.status_code == expected, with_credentials.get_json()
    assert without.status_code == expected, without.get_json()


@pytest.mark.parametrize("problem", ["garbage", "expired", "wrong key", "revoked key"])
@pytest.mark.parametrize("path", ["/api", "/api/books", "/api/nope"])
def test_unversioned_urls_and_the_directory_judge_credentials_too(
    client, credentials, problem, path
):
    headers, reason, _ = credentials["cases"][problem]

    response = client.get(path, headers=headers)

    assert response.status_code == 401
    assert response.get_json()["code"] == reason


@pytest.mark.parametrize("problem", PROBLEMS)
def test_protected_routes_answer_as_before(api, credentials, problem):
    headers, reason, challenge = credentials["cases"][problem]

    response = api.post("/books", headers=headers, json={"title": "T", "author": "A"})

    assert response.status_code == 401
    assert api.error(response)["reason"] == reason
    assert response.headers["WWW-Authenticate"] == challenge


def test_refresh_still_takes_a_refresh_token(api, credentials, user, auth_headers):
    response = api.post("/auth/refresh", headers=auth_headers(user, refresh=True))

    assert response.status_code == 200
    assert "access_token" in api.data(response)


def test_a_bad_credential_is_judged_before_the_rate_limit_is_spent(make_app, credentials):
    client = make_app(RATELIMIT_ENABLED="true", RATELIMIT_DEFAULT="2 per minute").test_client()
    headers = credentials["cases"]["garbage"][0]

    statuses = [client.get("/api/v2/books", headers=headers).status_code for _ in range(3)]

    assert statuses == [401, 401, 429]


@pytest.mark.parametrize("path", ["/api/docs/", "/api/v1/openapi.json", "/api/v2/openapi.json"])
def test_the_documentation_is_not_judged(client, path):
    response = client.get(path, headers={"Authorization": "Bearer not-a-jwt"})

    assert response.status_code == 200
