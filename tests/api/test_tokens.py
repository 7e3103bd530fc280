"""Every way a bearer token is refused with 401, in both versions, and shared revocation."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa
from flask_jwt_extended import create_access_token, create_refresh_token

from core.extensions import db
from core.models import Book, User
from tests.conftest import PASSWORD, Api, bearer

# Long enough for HS512 so PyJWT does not warn about the key length.
LONG_SECRET = "a-long-jwt-secret-for-hs512-tests-" + "0123456789" * 4
OTHER_SECRET = "not-the-secret-this-api-signs-with-" + "9876543210" * 4


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def json_segment(value: dict) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def login(api, email: str) -> dict:
    response = api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return api.data(response)


def assert_unauthorized(api, response, reason: str) -> None:
    assert response.status_code == 401
    assert response.is_json
    assert api.error(response)["reason"] == reason
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.fixture
def token(api, user) -> str:
    """A real access token of ``user``, checked to be accepted."""
    access_token = login(api, user.email)["access_token"]
    assert api.get("/auth/me", headers=bearer(access_token)).status_code == 200
    return access_token


def test_no_authorization_header_is_token_missing(api):
    response = api.get("/auth/me")

    assert_unauthorized(api, response, "token_missing")


def test_a_non_bearer_scheme_is_token_missing(api, user):
    basic = base64.b64encode(f"{user.email}:{PASSWORD}".encode()).decode()

    for value in ("Basic abc", f"Basic {basic}"):
        response = api.get("/auth/me", headers={"Authorization": value})
        assert_unauthorized(api, response, "token_missing")


@pytest.mark.parametrize(
    "value",
    ["Bearer", "Bearer garbage", "Bearer a.b.c", "Bearer e30.e30.", "Bearer x y"],
    ids=["no-token", "garbage", "three-junk-segments", "empty-json", "two-words"],
)
def test_a_malformed_bearer_token_is_token_invalid(api, value):
    response = api.get("/auth/me", headers={"Authorization": value})

    assert_unauthorized(api, response, "token_invalid")


def test_a_token_with_a_changed_character_in_its_payload_is_token_invalid(api, token):
    header, payload, signature = token.split(".")
    middle = len(payload) // 2
    swapped = "B" if payload[middle] == "A" else "A"
    tampered = ".".join([header, payload[:middle] + swapped + payload[middle + 1 :], signature])

    response = api.get("/auth/me", headers=bearer(tampered))

    assert_unauthorized(api, response, "token_invalid")


def test_a_token_with_an_edited_claim_is_token_invalid(api, token, admin):
    header, _payload, signature = token.split(".")
    claims = {**claims_of(token), "sub": str(admin.id)}
    forged = ".".join([header, json_segment(claims), signature])

    response = api.get("/auth/me", headers=bearer(forged))

    assert_unauthorized(api, response, "token_invalid")


def test_a_token_signed_with_another_secret_is_token_invalid(api, token):
    forged = jwt.encode(claims_of(token), OTHER_SECRET, algorithm="HS256")

    response = api.get("/auth/me", headers=bearer(forged))

    assert_unauthorized(api, response, "token_invalid")


def test_an_unsigned_alg_none_token_is_token_invalid(api, token):
    header = json_segment({"alg": "none", "typ": "JWT"})
    forged = f"{header}.{json_segment(claims_of(token))}."

    response = api.get("/auth/me", headers=bearer(forged))

    assert_unauthorized(api, response, "token_invalid")


def test_a_token_signed_with_hs512_and_the_right_secret_is_token_invalid(make_app, user, version):
    app = make_app(JWT_SECRET_KEY=LONG_SECRET)
    api = Api(app.test_client(), version)
    genuine = login(api, user.email)["access_token"]
    assert api.get("/auth/me", headers=bearer(genuine)).status_code == 200
    forged = jwt.encode(claims_of(genuine), LONG_SECRET, algorithm="HS512")

    response = api.get("/auth/me", headers=bearer(forged))

    assert_unauthorized(api, response, "token_invalid")


def test_an_expired_access_token_is_token_expired(api, app, user):
    with app.app_context():
        expired = create_access_token(identity=str(user.id), expires_delta=timedelta(seconds=-10))

    response = api.get("/auth/me", headers=bearer(expired))

    assert_unauthorized(api, response, "token_expired")


def test_an_expired_refresh_token_is_token_expired(api, app, user):
    with app.app_context():
        expired = create_refresh_token(identity=str(user.id), expires_delta=timedelta(seconds=-10))

    response = api.post("/auth/refresh", headers=bearer(expired))

    assert_unauthorized(api, response, "token_expired")


def test_a_token_of_a_deleted_user_is_token_invalid(api, app, user, token):
    with app.app_context():
        db.session.delete(db.session.get(User, user.id))
        db.session.commit()

    response = api.get("/auth/me", headers=bearer(token))

    assert_unauthorized(api, response, "token_invalid")


@pytest.mark.parametrize("identity", ["not-a-number", "987654"])
def test_a_token_whose_subject_is_no_user_is_token_invalid(api, app, identity):
    with app.app_context():
        stray = create_access_token(identity=identity)

    response = api.get("/auth/me", headers=bearer(stray))

    assert_unauthorized(api, response, "token_invalid")


def test_a_revoked_token_is_token_revoked(api, token):
    assert api.post("/auth/logout", headers=bearer(token)).status_code == 200

    response = api.get("/auth/me", headers=bearer(token))

    assert_unauthorized(api, response, "token_revoked")


def test_a_refused_token_changes_nothing(api, app, token, admin):
    header, _payload, signature = token.split(".")
    claims = {**claims_of(token), "sub": str(admin.id)}
    forged = ".".join([header, json_segment(claims), signature])

    response = api.post("/books", headers=bearer(forged), json={"title": "T", "author": "A"})

    assert_unauthorized(api, response, "token_invalid")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Book)) == 0


def test_revocation_is_seen_by_every_process(app, make_app, user, version):
    api_a = Api(app.test_client(), version)
    api_b = Api(make_app().test_client(), version)
    tokens = login(api_a, user.email)
    access, refresh = bearer(tokens["access_token"]), bearer(tokens["refresh_token"])
    assert api_b.get("/auth/me", headers=access).status_code == 200

    logout = api_a.post(
        "/auth/logout", headers=access, json={"refresh_token": tokens["refresh_token"]}
    )

    assert logout.status_code == 200
    assert_unauthorized(api_b, api_b.get("/auth/me", headers=access), "token_revoked")
    assert_unauthorized(api_b, api_b.post("/auth/refresh", headers=refresh), "token_revoked")


def test_tokens_from_one_version_work_in_the_other(v1, v2, user):
    tokens = login(v1, user.email)

    response = v2.get("/auth/me", headers=bearer(tokens["access_token"]))

    assert response.status_code == 200
    assert v2.data(response)["id"] == user.id
