"""Accounts in both versions: register, login, me, logout and refresh through HTTP."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.models import Book, RevokedToken, User
from tests.conftest import PASSWORD, bearer

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
USER_FIELDS = {"id", "email", "role", "created_at"}


def count_rows(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def registered_user(api, response) -> dict:
    """The user object of a register response: v1 ``user``, v2 ``data``."""
    body = response.get_json()
    return body["user"] if api.version == "1" else body["data"]


def all_keys(value) -> list[str]:
    if isinstance(value, dict):
        return [k for key, inner in value.items() for k in (key, *all_keys(inner))]
    if isinstance(value, list):
        return [k for inner in value for k in all_keys(inner)]
    return []


def assert_no_secrets(response, password: str = PASSWORD) -> None:
    """Neither the password, nor a hash of it, nor a field named for either is in the body."""
    text = response.get_data(as_text=True)
    assert password not in text
    assert "pbkdf2:" not in text and "scrypt:" not in text and "$argon2" not in text
    assert not [k for k in all_keys(response.get_json()) if "password" in k or "hash" in k]


def login(api, email: str, password: str = PASSWORD) -> dict:
    response = api.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return api.data(response)


def assert_unauthorized(api, response, reason: str) -> None:
    assert response.status_code == 401
    assert api.error(response)["reason"] == reason
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def assert_validation_error(api, response, fields: set[str]) -> dict:
    assert response.status_code == 422
    error = api.error(response)
    assert error["reason"] == "validation_failed"
    assert set(error["details"]) == fields
    for messages in error["details"].values():
        assert messages and all(isinstance(m, str) and m for m in messages)
    return error


# Register


def test_register_creates_a_user_with_role_user(api, app):
    response = api.post(
        "/auth/register", json={"email": "reader@example.com", "password": PASSWORD}
    )

    assert response.status_code == 201
    user = registered_user(api, response)
    assert set(user) == USER_FIELDS
    assert isinstance(user["id"], int)
    assert user["email"] == "reader@example.com"
    assert user["role"] == "user"
    assert TIMESTAMP.match(user["created_at"])
    assert_no_secrets(response)
    assert count_rows(app, User) == 1
    assert login(api, "reader@example.com")["access_token"]


def test_register_stores_the_email_lower_cased(api):
    response = api.post("/auth/register", json={"email": "Alice@X.com", "password": PASSWORD})

    assert response.status_code == 201
    assert registered_user(api, response)["email"] == "alice@x.com"
    assert login(api, "ALICE@x.COM")["access_token"]


@pytest.mark.parametrize("role", ["admin", "user"])
def test_register_refuses_a_role_field(api, app, role):
    response = api.post(
        "/auth/register", json={"email": "mallory@example.com", "password": PASSWORD, "role": role}
    )

    assert_validation_error(api, response, {"role"})
    assert count_rows(app, User) == 0


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, {"email"}),
        ({"email": "a@example.com", "password": "x" * 7}, {"password"}),
        ({"email": "a@example.com", "password": "x" * 129}, {"password"}),
        ({"email": "a@example.com", "password": None}, {"password"}),
        ({"email": 42, "password": PASSWORD}, {"email"}),
        ({"password": PASSWORD}, {"email"}),
        ({"email": "a@example.com"}, {"password"}),
        ({}, {"email", "password"}),
        ({"email": "not-an-email", "password": "short"}, {"email", "password"}),
        ({"email": "a@example.com", "password": PASSWORD, "nickname": "al"}, {"nickname"}),
    ],
    ids=[
        "bad-email",
        "password-7",
        "password-129",
        "password-null",
        "email-not-string",
        "missing-email",
        "missing-password",
        "empty",
        "two-problems",
        "unknown-field",
    ],
)
def test_register_rejects_invalid_input(api, app, body, fields):
    response = api.post("/auth/register", json=body)

    assert_validation_error(api, response, fields)
    if isinstance(body.get("password"), str):
        assert body["password"] not in response.get_data(as_text=True)
    assert count_rows(app, User) == 0


@pytest.mark.parametrize("length", [8, 128])
def test_register_accepts_password_length_limits(api, length):
    password = "p" * length
    response = api.post("/auth/register", json={"email": "edge@example.com", "password": password})

    assert response.status_code == 201
    assert_no_secrets(response, password)
    assert login(api, "edge@example.com", password)["access_token"]


@pytest.mark.parametrize(
    ("kwargs", "status", "reason"),
    [
        (
            {"data": "email=a@example.com", "content_type": "text/plain"},
            415,
            "unsupported_media_type",
        ),
        ({"data": '{"email": ', "content_type": "application/json"}, 400, "malformed_json"),
        ({"json": ["a@example.com", PASSWORD]}, 400, "invalid_body"),
    ],
    ids=["not-json", "malformed-json", "not-an-object"],
)
def test_register_rejects_bodies_that_are_not_json_objects(api, app, kwargs, status, reason):
    response = api.post("/auth/register", **kwargs)

    assert response.status_code == status
    assert api.error(response)["reason"] == reason
    assert count_rows(app, User) == 0


@pytest.mark.parametrize("second", ["alice@x.com", "ALICE@X.COM", "Alice@X.com"])
def test_register_duplicate_email_is_409_whatever_the_case(api, app, second):
    first = api.post("/auth/register", json={"email": "Alice@X.com", "password": PASSWORD})
    assert first.status_code == 201

    response = api.post("/auth/register", json={"email": second, "password": "another-password"})

    assert response.status_code == 409
    assert api.error(response)["reason"] == "duplicate_email"
    assert "another-password" not in response.get_data(as_text=True)
    assert count_rows(app, User) == 1
    assert login(api, "alice@x.com")["access_token"]
    refused = api.post("/auth/login", json={"email": "alice@x.com", "password": "another-password"})
    assert refused.status_code == 401


# Login


def test_login_returns_tokens_that_sign_in(api, user):
    response = api.post("/auth/login", json={"email": user.email, "password": PASSWORD})

    assert response.status_code == 200
    tokens = api.data(response)
    assert tokens["token_type"] == "Bearer"
    assert tokens["access_token"] and tokens["refresh_token"]
    assert tokens["access_token"] != tokens["refresh_token"]
    assert_no_secrets(response)
    me = api.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert api.data(me)["id"] == user.id


def test_login_compares_the_email_case_insensitively(api, make_user):
    make_user(email="bob@example.com")

    tokens = login(api, "  BOB@Example.COM ")

    assert tokens["access_token"]


def test_login_failure_says_the_same_for_unknown_email_and_wrong_password(api, user):
    unknown = api.post("/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    wrong = api.post("/auth/login", json={"email": user.email, "password": "wrong-password"})

    for response in (unknown, wrong):
        assert response.status_code == 401
        assert api.error(response)["reason"] == "invalid_credentials"
        assert "access_token" not in response.get_data(as_text=True)
    assert unknown.get_json() == wrong.get_json()
    assert api.error(unknown)["message"] == api.error(wrong)["message"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"email", "password"}),
        ({"email": "a@example.com"}, {"password"}),
        ({"password": PASSWORD}, {"email"}),
        ({"email": "a@example.com", "password": PASSWORD, "remember": True}, {"remember"}),
    ],
    ids=["empty", "missing-password", "missing-email", "unknown-field"],
)
def test_login_rejects_invalid_input(api, body, fields):
    response = api.post("/auth/login", json=body)

    assert_validation_error(api, response, fields)


def test_login_rejects_a_body_that_is_not_json(api, user):
    response = api.post(
        "/auth/login", data=f"email={user.email}&password={PASSWORD}", content_type="text/plain"
    )

    assert response.status_code == 415
    assert api.error(response)["reason"] == "unsupported_media_type"


# Me


@pytest.mark.parametrize("role", ["user", "admin"])
def test_me_returns_the_signed_in_user(api, make_user, auth_headers, role):
    account = make_user(email="me@example.com", role=role)

    response = api.get("/auth/me", headers=auth_headers(account))

    assert response.status_code == 200
    me = api.data(response)
    assert set(me) == USER_FIELDS
    assert me["id"] == account.id
    assert me["email"] == "me@example.com"
    assert me["role"] == role
    assert TIMESTAMP.match(me["created_at"])
    assert_no_secrets(response)


# Logout


def test_logout_revokes_the_presented_access_token(api, user):
    tokens = login(api, user.email)
    headers = bearer(tokens["access_token"])

    response = api.post("/auth/logout", headers=headers)

    assert response.status_code == 200
    assert_unauthorized(api, api.get("/auth/me", headers=headers), "token_revoked")
    assert_unauthorized(api, api.post("/auth/logout", headers=headers), "token_revoked")


def test_logout_ends_only_the_presented_session(api, user):
    first = login(api, user.email)
    second = login(api, user.email)

    assert api.post("/auth/logout", headers=bearer(first["access_token"])).status_code == 200

    assert api.get("/auth/me", headers=bearer(second["access_token"])).status_code == 200


def test_logout_with_refresh_token_revokes_it_too(api, user):
    tokens = login(api, user.email)

    response = api.post(
        "/auth/logout",
        headers=bearer(tokens["access_token"]),
        json={"refresh_token": tokens["refresh_token"]},
    )

    assert response.status_code == 200
    refreshed = api.post("/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert_unauthorized(api, refreshed, "token_revoked")
    me = api.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert_unauthorized(api, me, "token_revoked")


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"json": {}}, {"json": {"refresh_token": None}}],
    ids=["no-body", "empty-object", "null-refresh-token"],
)
def test_logout_works_without_a_refresh_token(api, user, kwargs):
    tokens = login(api, user.email)
    headers = bearer(tokens["access_token"])

    response = api.post("/auth/logout", headers=headers, **kwargs)

    assert response.status_code == 200
    assert_unauthorized(api, api.get("/auth/me", headers=headers), "token_revoked")


@pytest.mark.parametrize("which", ["other-users-refresh", "own-access", "garbage"])
def test_logout_with_a_bad_refresh_token_is_422_and_revokes_nothing(api, app, make_user, which):
    alice, bob = make_user(), make_user()
    alice_tokens = login(api, alice.email)
    bob_tokens = login(api, bob.email)
    refresh_token = {
        "other-users-refresh": bob_tokens["refresh_token"],
        "own-access": alice_tokens["access_token"],
        "garbage": "not.a.token",
    }[which]

    response = api.post(
        "/auth/logout",
        headers=bearer(alice_tokens["access_token"]),
        json={"refresh_token": refresh_token},
    )

    assert_validation_error(api, response, {"refresh_token"})
    assert count_rows(app, RevokedToken) == 0
    assert api.get("/auth/me", headers=bearer(alice_tokens["access_token"])).status_code == 200
    refreshed = api.post("/auth/refresh", headers=bearer(bob_tokens["refresh_token"]))
    assert refreshed.status_code == 200


def test_logout_with_an_unknown_field_is_422_and_revokes_nothing(api, app, user):
    tokens = login(api, user.email)
    headers = bearer(tokens["access_token"])

    response = api.post("/auth/logout", headers=headers, json={"token": tokens["refresh_token"]})

    assert_validation_error(api, response, {"token"})
    assert count_rows(app, RevokedToken) == 0
    assert api.get("/auth/me", headers=headers).status_code == 200


def test_logout_with_a_malformed_body_is_400_and_revokes_nothing(api, app, user):
    tokens = login(api, user.email)
    headers = bearer(tokens["access_token"])

    response = api.post(
        "/auth/logout", headers=headers, data="{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert api.error(response)["reason"] == "malformed_json"
    assert count_rows(app, RevokedToken) == 0
    assert api.get("/auth/me", headers=headers).status_code == 200


# Refresh


def test_refresh_returns_a_working_access_token(api, user):
    tokens = login(api, user.email)

    response = api.post("/auth/refresh", headers=bearer(tokens["refresh_token"]))

    assert response.status_code == 200
    access_token = api.data(response)["access_token"]
    assert access_token != tokens["access_token"]
    me = api.get("/auth/me", headers=bearer(access_token))
    assert me.status_code == 200
    assert api.data(me)["id"] == user.id


def test_refresh_refuses_an_access_token(api, user):
    tokens = login(api, user.email)

    response = api.post("/auth/refresh", headers=bearer(tokens["access_token"]))

    assert_unauthorized(api, response, "token_invalid")


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/auth/me"), ("post", "/auth/logout"), ("post", "/books")],
)
def test_a_refresh_token_is_not_an_access_token(api, app, user, method, path):
    tokens = login(api, user.email)

    response = getattr(api, method)(
        path, headers=bearer(tokens["refresh_token"]), json={"title": "T", "author": "A"}
    )

    assert_unauthorized(api, response, "token_invalid")
    assert count_rows(app, RevokedToken) == 0
    assert count_rows(app, Book) == 0
