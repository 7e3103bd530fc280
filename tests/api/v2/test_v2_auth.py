"""v2 account and token shapes: the envelope with links, expires_in and refresh rotation."""

from __future__ import annotations

import jwt
import pytest

from tests.conftest import PASSWORD, Api, bearer

BASE = "http://localhost/api/v2"
USER_FIELDS = {"id", "email", "role", "created_at"}
TOKEN_FIELDS = {"access_token", "refresh_token", "token_type", "expires_in"}


def login(v2, email: str) -> dict:
    response = v2.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def assert_envelope(body: dict) -> None:
    assert body["success"] is True
    assert set(body) <= {"success", "data", "links", "message"}
    assert body["links"]
    for url in body["links"].values():
        assert url.startswith(f"{BASE}/"), url


def test_register_answers_the_user_in_the_envelope(v2):
    response = v2.post("/auth/register", json={"email": "Reader@Example.com", "password": PASSWORD})

    assert response.status_code == 201
    body = response.get_json()
    assert_envelope(body)
    assert set(body["data"]) == USER_FIELDS
    assert body["data"]["email"] == "reader@example.com"
    assert body["data"]["role"] == "user"
    assert response.headers["Location"] == f"{BASE}/auth/me"


def test_login_answers_tokens_with_expires_in(v2, user):
    response = v2.post("/auth/login", json={"email": user.email, "password": PASSWORD})

    assert response.status_code == 200
    body = response.get_json()
    assert_envelope(body)
    data = body["data"]
    assert set(data) == TOKEN_FIELDS
    assert data["token_type"] == "Bearer"
    assert data["expires_in"] == 3600
    claims = jwt.decode(data["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == data["expires_in"]


def test_expires_in_follows_the_configured_lifetime(make_app, user):
    v2 = Api(make_app(JWT_ACCESS_TOKEN_EXPIRES="120").test_client(), "2")

    data = login(v2, user.email)

    assert data["expires_in"] == 120
    claims = jwt.decode(data["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120


def test_me_answers_the_user_in_the_envelope(v2, user, auth_headers):
    response = v2.get("/auth/me", headers=auth_headers(user))

    assert response.status_code == 200
    body = response.get_json()
    assert_envelope(body)
    assert body["data"] == {
        "id": user.id,
        "email": user.email,
        "role": "user",
        "created_at": user.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert body["links"]["self"] == f"{BASE}/auth/me"


def test_refresh_rotates_the_refresh_token(v2, user):
    old = login(v2, user.email)["refresh_token"]

    response = v2.post("/auth/refresh", headers=bearer(old))

    assert response.status_code == 200
    body = response.get_json()
    assert_envelope(body)
    data = body["data"]
    assert set(data) == TOKEN_FIELDS
    assert data["token_type"] == "Bearer"
    assert data["refresh_token"] != old
    assert v2.get("/auth/me", headers=bearer(data["access_token"])).status_code == 200

    replay = v2.post("/auth/refresh", headers=bearer(old))
    assert replay.status_code == 401
    assert v2.error(replay)["reason"] == "token_revoked"

    again = v2.post("/auth/refresh", headers=bearer(data["refresh_token"]))
    assert again.status_code == 200
    assert again.get_json()["data"]["refresh_token"] != data["refresh_token"]


def test_a_rotated_refresh_token_is_refused_by_v1_too(v2, v1, user):
    old = login(v2, user.email)["refresh_token"]
    assert v2.post("/auth/refresh", headers=bearer(old)).status_code == 200

    response = v1.post("/auth/refresh", headers=bearer(old))

    assert response.status_code == 401
    assert v1.error(response)["reason"] == "token_revoked"


def test_logout_answers_success_and_a_message(v2, user):
    access = bearer(login(v2, user.email)["access_token"])

    response = v2.post("/auth/logout", headers=access)

    assert response.status_code == 200
    assert response.get_json() == {
        "success": True,
        "data": None,
        "message": "Logged out",
        "links": {"login": "http://localhost/api/v2/auth/login"},
    }


def test_a_failed_login_is_an_error_envelope(v2, user):
    response = v2.post("/auth/login", json={"email": user.email, "password": "wrong-password"})

    assert response.status_code == 401
    body = response.get_json()
    assert set(body) == {"success", "error"}
    assert body["success"] is False
    assert set(body["error"]) == {"message", "code", "reason"}
    assert body["error"]["code"] == 401
    assert body["error"]["reason"] == "invalid_credentials"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [({}, "token_missing"), ({"Authorization": "Bearer garbage"}, "token_invalid")],
)
def test_a_token_error_is_an_error_envelope(v2, headers, reason):
    response = v2.get("/auth/me", headers=headers)

    assert response.status_code == 401
    body = response.get_json()
    assert body["success"] is False
    assert set(body["error"]) == {"message", "code", "reason"}
    assert body["error"]["code"] == 401
    assert body["error"]["reason"] == reason


def test_a_validation_error_is_an_error_envelope_with_details(v2):
    response = v2.post("/auth/register", json={"email": "nope", "password": "short"})

    assert response.status_code == 422
    body = response.get_json()
    assert body["success"] is False
    assert set(body["error"]) == {"message", "code", "details", "reason"}
    assert body["error"]["code"] == 422
    assert body["error"]["reason"] == "validation_failed"
    assert set(body["error"]["details"]) == {"email", "password"}
