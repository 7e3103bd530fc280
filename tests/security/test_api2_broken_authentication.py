"""OWASP API2:2023 Broken Authentication: password guessing meets 429, forged tokens meet 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import jwt
import pytest
from flask_jwt_extended import create_access_token, create_refresh_token

from core.extensions import db
from core.models import User
from tests.conftest import PASSWORD, Api, bearer
from tests.security.conftest import count_rows, stored_book

# Long enough for HS384/HS512 without PyJWT's key-length warning.
SECRET = "the-jwt-secret-of-this-deployment-" + "0123456789" * 4
OTHER_SECRET = "a-secret-the-attacker-made-up-instead-" + "9876543210" * 4
LOGIN_URLS = ["/api/v1/auth/login", "/api/v2/auth/login", "/api/auth/login"]


def segment(value: dict) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def hs256_signature(signing_input: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# --- password guessing ------------------------------------------------------------------------


def test_password_guessing_meets_429_on_every_url_even_with_the_right_password(limited, user):
    client = limited()
    wrong = {"email": user.email, "password": "guess-number-one"}

    statuses = [client.post(url, json=wrong).status_code for url in LOGIN_URLS]
    right = client.post(LOGIN_URLS[1], json={"email": user.email, "password": PASSWORD})

    assert statuses == [401, 401, 401]
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) > 0
    assert right.get_json()["error"]["reason"] == "rate_limited"
    assert "access_token" not in right.get_data(as_text=True)


def test_varying_the_emails_case_or_spaces_does_not_escape_the_lockout(limited, make_user):
    user = make_user(email="victim@example.com")
    client = limited()
    variants = ["victim@example.com", " VICTIM@example.com", "Victim@Example.COM "]

    statuses = [
        client.post(LOGIN_URLS[0], json={"email": e, "password": "guess"}).status_code
        for e in variants
    ]
    locked = client.post(LOGIN_URLS[0], json={"email": user.email.upper(), "password": PASSWORD})

    assert statuses == [401, 401, 401]
    assert locked.status_code == 429


def test_credential_stuffing_from_one_address_meets_429(limited, make_user):
    client = limited(RATELIMIT_LOGIN="4 per minute", RATELIMIT_LOGIN_EMAIL="100 per minute")
    attempts = [{"email": f"stuffed{n}@example.com", "password": "leaked-pass"} for n in range(5)]

    statuses = [client.post(LOGIN_URLS[n % 3], json=a).status_code for n, a in enumerate(attempts)]

    assert statuses == [401] * 4 + [429]
    # Another address is not affected.
    user = make_user()
    other = client.post(
        LOGIN_URLS[0],
        json={"email": user.email, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "192.0.2.44"},
    )
    assert other.status_code == 200


def test_login_failures_do_not_reveal_whether_the_account_exists(api, user):
    unknown = api.post("/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    wrong = api.post("/auth/login", json={"email": user.email, "password": "not-the-password"})

    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json()
    assert api.error(wrong)["reason"] == "invalid_credentials"


def test_short_passwords_are_refused_at_registration(api, app):
    response = api.post("/auth/register", json={"email": "weak@example.com", "password": "1234567"})

    assert response.status_code == 422
    assert "password" in api.error(response)["details"]
    assert count_rows(app, User) == 0


# --- forged and unusable tokens -----------------------------------------------------------------


@pytest.fixture
def signing_app(make_app):
    """An app signing with a long secret, so the HS384/HS512 forgeries can use the real one."""
    return make_app(JWT_SECRET_KEY=SECRET)


def _genuine_admin_token(signing_app, admin) -> str:
    with signing_app.app_context():
        return create_access_token(identity=str(admin.id))


def _alg_none(app, admin, user, alg="none") -> str:
    claims = claims_of(_genuine_admin_token(app, admin))
    return f"{segment({'alg': alg, 'typ': 'JWT'})}.{segment(claims)}."


def _other_algorithm(algorithm):
    def forge(app, admin, user):
        return jwt.encode(claims_of(_genuine_admin_token(app, admin)), SECRET, algorithm=algorithm)

    return forge


def _rs256_header_with_hmac_signature(app, admin, user) -> str:
    # Algorithm confusion: claim RS256 but sign with the shared secret.
    claims = claims_of(_genuine_admin_token(app, admin))
    signing_input = f"{segment({'alg': 'RS256', 'typ': 'JWT'})}.{segment(claims)}"
    return f"{signing_input}.{hs256_signature(signing_input, SECRET)}"


def _other_secret(app, admin, user) -> str:
    return jwt.encode(claims_of(_genuine_admin_token(app, admin)), OTHER_SECRET, algorithm="HS256")


def _payload_edited(app, admin, user) -> str:
    with app.app_context():
        genuine = create_access_token(identity=str(user.id))
    header, _payload, signature = genuine.split(".")
    return ".".join([header, segment({**claims_of(genuine), "sub": str(admin.id)}), signature])


def _signature_flipped(app, admin, user) -> str:
    header, payload, signature = _genuine_admin_token(app, admin).split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return ".".join([header, payload, flipped])


def _signature_stripped(app, admin, user) -> str:
    header, payload, _signature = _genuine_admin_token(app, admin).split(".")
    return f"{header}.{payload}."


def _expired(app, admin, user) -> str:
    with app.app_context():
        return create_access_token(identity=str(admin.id), expires_delta=timedelta(seconds=-10))


def _refresh_as_access(app, admin, user) -> str:
    with app.app_context():
        return create_refresh_token(identity=str(admin.id))


def _revoked(app, admin, user) -> str:
    token = _genuine_admin_token(app, admin)
    assert app.test_client().post("/api/v2/auth/logout", headers=bearer(token)).status_code == 200
    return token


FORGERIES = {
    "alg-none": (_alg_none, "token_invalid"),
    "alg-None": (lambda app, admin, user: _alg_none(app, admin, user, "None"), "token_invalid"),
    "hs384-real-secret": (_other_algorithm("HS384"), "token_invalid"),
    "hs512-real-secret": (_other_algorithm("HS512"), "token_invalid"),
    "rs256-header-hmac-signed": (_rs256_header_with_hmac_signature, "token_invalid"),
    "hs256-other-secret": (_other_secret, "token_invalid"),
    "payload-edited": (_payload_edited, "token_invalid"),
    "signature-flipped": (_signature_flipped, "token_invalid"),
    "signature-stripped": (_signature_stripped, "token_invalid"),
    "expired": (_expired, "token_expired"),
    "refresh-as-access": (_refresh_as_access, "token_invalid"),
    "revoked": (_revoked, "token_revoked"),
}


@pytest.mark.parametrize("kind", sorted(FORGERIES))
def test_a_forged_or_unusable_admin_token_cannot_delete_a_book(
    signing_app, version, app, admin, user, make_book, kind
):
    forge, reason = FORGERIES[kind]
    api = Api(signing_app.test_client(), version)
    book = make_book(title="Kept")

    response = api.delete(f"/books/{book.id}", headers=bearer(forge(signing_app, admin, user)))

    assert response.status_code == 401
    assert response.is_json
    assert api.error(response)["reason"] == reason
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert stored_book(app, book.id) is not None


def test_a_genuine_admin_token_from_the_same_app_can_delete(signing_app, version, admin, make_book):
    # The control for the forgeries above: their claims would have been honoured.
    api = Api(signing_app.test_client(), version)
    book = make_book()

    response = api.delete(
        f"/books/{book.id}", headers=bearer(_genuine_admin_token(signing_app, admin))
    )

    assert response.status_code == (204 if version == "1" else 200)
    assert stored_book(signing_app, book.id) is None


def test_an_access_token_cannot_refresh(api, user, auth_headers):
    response = api.post("/auth/refresh", headers=auth_headers(user))

    assert response.status_code == 401
    assert api.error(response)["reason"] == "token_invalid"


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/auth/me"), ("post", "/auth/logout"), ("post", "/auth/refresh"), ("post", "/books")],
)
def test_unversioned_urls_refuse_unsigned_tokens(client, app, user, method, path):
    with app.app_context():
        genuine = create_refresh_token if path == "/auth/refresh" else create_access_token
        claims = claims_of(genuine(identity=str(user.id)))
    unsigned = f"{segment({'alg': 'none'})}.{segment(claims)}."

    response = getattr(client, method)(
        f"/api{path}",
        headers={**bearer(unsigned), "API-Version": "2"},
        json={"title": "T", "author": "A"} if path == "/books" else None,
    )

    assert response.status_code == 401
    assert response.get_json()["error"]["reason"] == "token_invalid"


@pytest.mark.parametrize(
    "placed",
    [
        lambda t: {"query_string": {"jwt": t}},
        lambda t: {"query_string": {"access_token": t}},
        lambda t: {"headers": {"Cookie": f"access_token_cookie={t}"}},
        lambda t: {"headers": {"Authorization": f"Token {t}"}},
    ],
    ids=["query-jwt", "query-access-token", "cookie", "token-scheme"],
)
def test_tokens_are_accepted_only_in_the_bearer_header(api, user, auth_headers, placed):
    token = auth_headers(user)["Authorization"].removeprefix("Bearer ")

    response = api.get("/auth/me", **placed(token))

    assert response.status_code == 401
    assert api.error(response)["reason"] == "token_missing"


def test_a_deleted_users_token_never_signs_in_as_a_newer_account(api, app, make_user):
    departed = make_user()
    old_token = bearer(
        api.data(api.post("/auth/login", json={"email": departed.email, "password": PASSWORD}))[
            "access_token"
        ]
    )
    with app.app_context():
        db.session.delete(db.session.get(User, departed.id))
        db.session.commit()
    # A new account may be given the departed account's id (SQLite reuses the highest rowid).
    registered = api.post(
        "/auth/register", json={"email": "heir@example.com", "password": PASSWORD}
    )
    assert registered.status_code == 201

    response = api.get("/auth/me", headers=old_token)

    assert response.status_code == 401
    assert api.error(response)["reason"] == "token_invalid"
    assert "heir@example.com" not in response.get_data(as_text=True)


def test_api_keys_in_the_url_are_refused_before_anything_runs(api, app, make_key):
    key = make_key(scopes=("write",))

    response = api.post(
        "/books", query_string={"api_key": key.plaintext}, json={"title": "T", "author": "A"}
    )

    assert response.status_code == 400
    assert api.error(response)["reason"] == "api_key_in_query"
    assert key.plaintext not in response.get_data(as_text=True)
    assert api.total(api.get("/books")) == 0
