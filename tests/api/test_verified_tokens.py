"""Tokens are verified once and remembered per app (core.extensions.VerifiedTokens); expiry,
revocation, other secrets and other apps still refuse them, in both versions."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt as pyjwt
from flask_jwt_extended import create_access_token

from core import extensions
from tests.conftest import Api, bearer

BOOK = {"title": "Remembered", "author": "A. Author", "year": 2001}


def _parses(monkeypatch) -> list[int]:
    """Counts PyJWT's parses of a token from here on."""
    parses: list[int] = []
    real = pyjwt.api_jws.PyJWS._load

    def counting(self, token):
        parses.append(1)
        return real(self, token)

    monkeypatch.setattr(pyjwt.api_jws.PyJWS, "_load", counting)
    return parses


def test_a_token_is_verified_once_then_remembered(api, user, auth_headers, monkeypatch):
    headers = auth_headers(user)
    parses = _parses(monkeypatch)
    assert api.get("/auth/me", headers=headers).status_code == 200
    first = len(parses)  # claims unverified, header, claims verified, header again
    assert first >= 3
    for _ in range(3):
        before = len(parses)
        response = api.get("/auth/me", headers=headers)
        assert response.status_code == 200
        assert api.data(response)["id"] == user.id
        # Only flask-jwt-extended's own read of the header is left.
        assert len(parses) - before <= 1


def test_a_remembered_token_is_refused_once_it_expires(api, user, auth_headers, monkeypatch):
    headers = auth_headers(user)
    assert api.get("/auth/me", headers=headers).status_code == 200  # now remembered

    later = time.time() + 2 * 3600  # the tokens live an hour
    real_datetime = pyjwt.api_jwt.datetime

    class Later(real_datetime):
        @classmethod
        def now(cls, tz=None):
            return real_datetime.now(tz) + timedelta(hours=2)

    monkeypatch.setattr(extensions.time, "time", lambda: later)
    monkeypatch.setattr(pyjwt.api_jwt, "datetime", Later)
    response = api.get("/auth/me", headers=headers)
    assert response.status_code == 401
    assert api.error(response)["reason"] == "token_expired"


def test_a_token_near_its_expiry_is_checked_by_the_library(api, app, user, monkeypatch):
    with app.app_context():
        token = create_access_token(identity=str(user.id), expires_delta=timedelta(seconds=3))
    parses = _parses(monkeypatch)
    assert api.get("/auth/me", headers=bearer(token)).status_code == 200
    once = len(parses)
    # Within TOKEN_MARGIN_SECONDS of its expiry, every use is verified afresh.
    assert api.get("/auth/me", headers=bearer(token)).status_code == 200
    assert len(parses) == 2 * once >= 6


def test_a_remembered_token_is_refused_once_revoked(api, user, auth_headers):
    headers = auth_headers(user)
    assert api.get("/auth/me", headers=headers).status_code == 200
    assert api.post("/auth/logout", headers=headers).status_code == 200
    response = api.get("/auth/me", headers=headers)
    assert response.status_code == 401
    assert api.error(response)["reason"] == "token_revoked"


def test_a_token_remembered_by_one_app_is_refused_by_an_app_with_another_secret(make_app, version):
    first = make_app()
    other = make_app(JWT_SECRET_KEY="another-secret-of-at-least-thirty-two-bytes-0123")
    with first.app_context():
        token = create_access_token(identity="1")
    Api(first.test_client(), version).get("/books", headers=bearer(token))
    response = Api(other.test_client(), version).post("/books", headers=bearer(token), json=BOOK)
    assert response.status_code == 401
    assert Api(other.test_client(), version).error(response)["reason"] == "token_invalid"


def test_a_forged_token_is_never_remembered(api, user, auth_headers):
    token = auth_headers(user)["Authorization"].split()[1]
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    for _ in range(2):
        response = api.get("/auth/me", headers=bearer(forged))
        assert response.status_code == 401
        assert api.error(response)["reason"] == "token_invalid"


def test_the_remembered_tokens_are_bounded(api, app, user, monkeypatch):
    monkeypatch.setattr(extensions, "TOKENS_KEPT", 3)
    with app.app_context():
        tokens = [
            create_access_token(identity=str(user.id), additional_claims={"n": n}) for n in range(5)
        ]
    for token in tokens:
        assert api.get("/auth/me", headers=bearer(token)).status_code == 200
        assert len(app.extensions["verified_tokens"]) <= 3
