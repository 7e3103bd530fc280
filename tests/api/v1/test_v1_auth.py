"""v1 account and token shapes: flat bodies, no refresh-token rotation, flat errors."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, bearer

USER_FIELDS = {"id", "email", "role", "created_at"}


def login(v1, email: str) -> dict:
    response = v1.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_register_answers_message_and_user(v1):
    response = v1.post("/auth/register", json={"email": "Reader@Example.com", "password": PASSWORD})

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"message", "user"}
    assert isinstance(body["message"], str) and body["message"]
    assert set(body["user"]) == USER_FIELDS
    assert body["user"]["email"] == "reader@example.com"
    assert body["user"]["role"] == "user"


def test_login_answers_exactly_the_two_tokens_and_their_type(v1, user):
    response = v1.post("/auth/login", json={"email": user.email, "password": PASSWORD})

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type"}
    assert body["token_type"] == "Bearer"
    assert all(isinstance(body[k], str) and body[k] for k in ("access_token", "refresh_token"))


def test_refresh_answers_exactly_an_access_token(v1, user):
    tokens = login(v1, user.email)

    response = v1.post("/auth/refresh", headers=bearer(tokens["refresh_token"]))

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token"}
    assert v1.get("/auth/me", headers=bearer(body["access_token"])).status_code == 200


def test_refresh_does_not_rotate_the_refresh_token(v1, user):
    refresh = bearer(login(v1, user.email)["refresh_token"])

    first = v1.post("/auth/refresh", headers=refresh)
    second = v1.post("/auth/refresh", headers=refresh)
    third = v1.post("/auth/refresh", headers=refresh)

    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert v1.get("/auth/me", headers=bearer(third.get_json()["access_token"])).status_code == 200


def test_me_answers_the_user_object_itself(v1, user, auth_headers):
    response = v1.get("/auth/me", headers=auth_headers(user))

    assert response.status_code == 200
    assert response.get_json() == {
        "id": user.id,
        "email": user.email,
        "role": "user",
        "created_at": user.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def test_a_failed_login_is_a_flat_error_with_a_code(v1, user):
    response = v1.post("/auth/login", json={"email": user.email, "password": "wrong-password"})

    assert response.status_code == 401
    body = response.get_json()
    assert set(body) == {"error", "code"}
    assert body["code"] == "invalid_credentials"
    assert isinstance(body["error"], str) and body["error"]


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, "token_missing"), ({"Authorization": "Bearer garbage"}, "token_invalid")],
)
def test_a_token_error_is_a_flat_error_with_a_code(v1, headers, code):
    response = v1.get("/auth/me", headers=headers)

    assert response.status_code == 401
    body = response.get_json()
    assert set(body) == {"error", "code"}
    assert body["code"] == code


def test_a_revoked_token_is_a_flat_error_with_a_code(v1, user):
    access = bearer(login(v1, user.email)["access_token"])
    assert v1.post("/auth/logout", headers=access).status_code == 200

    response = v1.get("/auth/me", headers=access)

    assert response.status_code == 401
    body = response.get_json()
    assert set(body) == {"error", "code"}
    assert body["code"] == "token_revoked"


def test_a_validation_error_is_flat_with_details(v1):
    response = v1.post("/auth/register", json={"email": "nope", "password": "short"})

    assert response.status_code == 422
    body = response.get_json()
    assert set(body) == {"error", "details", "code"}
    assert body["code"] == "validation_failed"
    assert set(body["details"]) == {"email", "password"}


def test_a_duplicate_email_is_a_flat_409(v1, make_user):
    make_user(email="taken@example.com")

    response = v1.post("/auth/register", json={"email": "TAKEN@example.com", "password": PASSWORD})

    assert response.status_code == 409
    body = response.get_json()
    assert set(body) <= {"error", "details", "code"}
    assert body["code"] == "duplicate_email"
