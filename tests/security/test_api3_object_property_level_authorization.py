"""OWASP API3:2023 Broken Object Property Level Authorization: no secret out, no privilege in."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.extensions import db
from core.models import ApiKey, Book, User
from tests.conftest import PASSWORD, bearer
from tests.security.conftest import count_rows, stored_book

BOOK_FIELDS = {
    *("id", "title", "author", "isbn", "year", "description"),
    *("created_at", "updated_at", "created_by"),
}
USER_FIELDS = {"id", "email", "role", "created_at"}
SECRET_FIELD_NAMES = {"password", "password_hash", "key_hash", "hash", "secret"}


def field_names(value) -> set[str]:
    """Every key of every object nested anywhere in a JSON value."""
    if isinstance(value, dict):
        return set(value).union(*(field_names(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(field_names(v) for v in value))
    return set()


def stored_password_hash(app, user_id: int) -> str:
    with app.app_context():
        return db.session.get(User, user_id).password_hash


# --- excessive data exposure --------------------------------------------------------------------


def test_no_account_or_book_response_carries_a_password_or_its_hash(
    any_api, app, make_book, auth_headers
):
    credentials = {"email": "reader@example.com", "password": PASSWORD}
    registered = any_api.post("/auth/register", json=credentials)
    tokens = any_api.data(any_api.post("/auth/login", json=credentials))
    access, refresh = bearer(tokens["access_token"]), bearer(tokens["refresh_token"])
    created = any_api.post("/books", json={"title": "T", "author": "A"}, headers=access)
    book_id = any_api.data(created)["id"]
    responses = [
        registered,
        any_api.get("/auth/me", headers=access),
        any_api.post("/auth/refresh", headers=refresh),
        created,
        any_api.get(f"/books/{book_id}"),
        any_api.put(f"/books/{book_id}", json={"year": 2001}, headers=access),
        any_api.get("/books"),
        any_api.post("/auth/login", json={**credentials, "password": "wrong-password"}),
        any_api.post("/auth/logout", headers=access),
    ]
    user_id = (any_api.data(registered).get("user") or any_api.data(registered))["id"]
    password_hash = stored_password_hash(app, user_id)

    for response in responses:
        text = response.get_data(as_text=True)
        assert PASSWORD not in text
        assert password_hash not in text
        assert password_hash.split("$")[-1] not in text
        assert not field_names(response.get_json()) & SECRET_FIELD_NAMES, text


def test_user_and_book_objects_expose_only_their_documented_fields(api, user, auth_headers):
    me = api.data(api.get("/auth/me", headers=auth_headers(user)))
    book = api.data(
        api.post("/books", json={"title": "T", "author": "A"}, headers=auth_headers(user))
    )

    assert set(me) == USER_FIELDS
    assert set(book) - {"links"} == BOOK_FIELDS
    # The creator is named by id only: another reader never learns the creator's email.
    assert user.email not in api.get(f"/books/{book['id']}").get_data(as_text=True)
    assert user.email not in api.get("/books").get_data(as_text=True)


def test_api_keys_are_shown_once_and_their_hashes_never(v2, app, admin_headers):
    created = v2.post("/api-keys", json={"name": "sync", "scopes": ["read"]}, headers=admin_headers)
    assert created.status_code == 201
    key = v2.data(created)["key"]
    key_id = v2.data(created)["id"]
    with app.app_context():
        key_hash = db.session.scalar(select(ApiKey.key_hash).where(ApiKey.id == key_id))
    assert key_hash not in created.get_data(as_text=True)

    for response in (
        v2.get("/api-keys", headers=admin_headers),
        v2.get(f"/api-keys/{key_id}", headers=admin_headers),
        v2.delete(f"/api-keys/{key_id}", headers=admin_headers),
    ):
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        assert key not in text
        assert key.rsplit("_", 1)[-1] not in text
        assert key_hash not in text
        assert not field_names(response.get_json()) & (SECRET_FIELD_NAMES | {"key"})


def test_validation_errors_never_echo_submitted_secrets(api, app):
    secret = "sup3r-secret-value"
    responses = [
        api.post("/auth/register", json={"email": "x@example.com", "password": "short"}),
        api.post("/auth/register", json={"email": "not-an-email", "password": secret}),
        api.post(
            "/auth/register", json={"email": "x@example.com", "password": secret, "pin": secret}
        ),
        api.post("/auth/login", json={"email": "x@example.com", "password": secret * 10}),
    ]

    for response in responses:
        assert response.status_code == 422
        text = response.get_data(as_text=True)
        assert secret not in text and '"short"' not in text
    assert count_rows(app, User) == 0


# --- mass assignment ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("role", "admin"),
        ("role", "user"),
        ("is_admin", True),
        ("admin", True),
        ("password_hash", "pbkdf2:sha256:1$salt$hash"),
        ("scopes", ["write"]),
    ],
)
def test_register_refuses_privilege_fields_and_creates_nothing(any_api, app, field, value):
    body = {"email": "climber@example.com", "password": PASSWORD, field: value}

    response = any_api.post("/auth/register", json=body)

    assert response.status_code == 422
    assert field in any_api.error(response)["details"]
    assert count_rows(app, User) == 0


def test_register_ignores_read_only_fields(api, app, admin):
    body = {
        "email": "new@example.com",
        "password": PASSWORD,
        "id": admin.id,
        "created_at": "2000-01-01T00:00:00Z",
    }

    response = api.post("/auth/register", json=body)

    assert response.status_code == 201
    created = api.data(response).get("user") or api.data(response)
    assert created["id"] != admin.id
    assert created["role"] == "user"
    assert not created["created_at"].startswith("2000")
    with app.app_context():
        assert db.session.get(User, admin.id).email == admin.email


def test_book_create_ignores_read_only_fields(any_api, app, user, admin, make_book, auth_headers):
    existing = make_book(creator=admin, title="Existing")
    body = {
        "title": "Planted",
        "author": "A",
        "id": existing.id,
        "created_by": admin.id,
        "created_at": "2000-01-01T00:00:00Z",
        "updated_at": "2000-01-01T00:00:00Z",
        "links": {"self": "https://evil.example.net/"},
    }

    response = any_api.post("/books", json=body, headers=auth_headers(user))

    assert response.status_code == 201
    book = any_api.data(response)
    assert book["id"] != existing.id
    assert book["created_by"] == user.id
    assert not book["created_at"].startswith("2000")
    assert "evil.example.net" not in response.get_data(as_text=True)
    assert stored_book(app, existing.id).title == "Existing"


def test_book_update_ignores_read_only_fields(api, app, user, make_user, make_book, auth_headers):
    other = make_user()
    mine = make_book(creator=user, title="Mine")
    theirs = make_book(creator=other, title="Theirs")
    body = {"title": "Edited", "id": theirs.id, "created_by": other.id, "created_at": "2000-01-01"}

    response = api.put(f"/books/{mine.id}", json=body, headers=auth_headers(user))

    assert response.status_code == 200
    stored = stored_book(app, mine.id)
    assert (stored.title, stored.created_by) == ("Edited", user.id)
    assert stored.created_at.year != 2000
    assert stored_book(app, theirs.id).title == "Theirs"


@pytest.mark.parametrize("field", ["owner", "user_id", "creator", "deleted", "approved"])
def test_book_writes_refuse_unknown_fields(api, app, user, auth_headers, field):
    response = api.post(
        "/books", json={"title": "T", "author": "A", field: 1}, headers=auth_headers(user)
    )

    assert response.status_code == 422
    assert field in api.error(response)["details"]
    assert count_rows(app, Book) == 0


@pytest.mark.parametrize(
    "field",
    ["key", "key_hash", "prefix", "revoked_at", "last_used_at"],
)
def test_api_key_creation_refuses_secret_and_state_fields(v2, app, admin_headers, field):
    body = {"name": "x", "scopes": ["read"], field: "bk_0000000000000000_" + "a" * 43}

    response = v2.post("/api-keys", json=body, headers=admin_headers)

    assert response.status_code == 422
    assert field in v2.error(response)["details"]
    assert count_rows(app, ApiKey) == 0
