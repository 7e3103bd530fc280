"""API keys over HTTP: managing them in v2, and using them on the book routes in every version."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from core.extensions import db
from core.models import ApiKey, Book, User
from core.principal import Principal
from core.services import api_keys
from tests.conftest import Api

OPERATOR = Principal.for_operator()  # the command line: may manage keys

KEY_FORMAT = re.compile(r"^bk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$")
KEY_FIELDS = {
    *("id", "name", "prefix", "scopes", "created_by", "created_at", "last_used_at"),
    *("revoked_at", "pinned_version", "links"),
}
BOOK = {"title": "Dune", "author": "Frank Herbert"}
QUERY_KEY_PARAMS = ["api_key", "apikey", "api-key", "key", "x-api-key", "API_KEY", "X-Api-Key"]


@dataclass(frozen=True)
class IssuedKey:
    id: int
    prefix: str
    plaintext: str
    created_by: int

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.plaintext}


@pytest.fixture
def make_key(app, admin) -> Callable[..., IssuedKey]:
    """Issue a key through the service (by ``admin`` unless ``creator`` is given)."""

    def build(
        scopes=("read", "write"), name: str = "service", creator: User | None = None
    ) -> IssuedKey:
        with app.app_context():
            owner = db.session.get(User, (creator or admin).id)
            key, plaintext = api_keys.create_key(name, scopes, owner)
            return IssuedKey(key.id, key.prefix, plaintext, key.created_by)

    return build


@pytest.fixture
def write_key(make_key) -> IssuedKey:
    return make_key(scopes=("write",), name="writer")


@pytest.fixture
def read_key(make_key) -> IssuedKey:
    return make_key(scopes=("read",), name="reader")


@pytest.fixture
def revoke(app) -> Callable[[IssuedKey], None]:
    def run(key: IssuedKey) -> None:
        with app.app_context():
            api_keys.revoke_key(key.id, OPERATOR)

    return run


@pytest.fixture
def admin_headers(admin, auth_headers) -> dict[str, str]:
    return auth_headers(admin)


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def book_title(app, book_id: int) -> str:
    with app.app_context():
        return db.session.get(Book, book_id).title


def assert_refused(api: Api, response, status: int, reason: str) -> None:
    assert response.status_code == status, response.get_json()
    assert api.error(response)["reason"] == reason


# --- managing keys (v2 only) -----------------------------------------------------------------


def test_create_answers_201_with_location_and_the_key_once(v2, app, admin, admin_headers):
    response = v2.post(
        "/api-keys",
        json={"name": "  catalogue-sync ", "scopes": ["write", "read"]},
        headers=admin_headers,
    )

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["success"] is True
    assert "cannot be shown again" in body["message"]
    data = body["data"]
    assert set(data) == KEY_FIELDS | {"key"}
    assert data["name"] == "catalogue-sync"
    assert data["scopes"] == ["read", "write"]
    assert data["created_by"] == admin.id
    assert data["revoked_at"] is None and data["last_used_at"] is None
    assert KEY_FORMAT.match(data["key"])
    assert data["key"].startswith(f"bk_{data['prefix']}_")
    location = response.headers["Location"]
    assert urlsplit(location).path == f"/api/v2/api-keys/{data['id']}"
    assert data["links"] == {"self": location, "collection": "http://localhost/api/v2/api-keys"}
    assert response.headers["Cache-Control"] == "no-store"
    # Only a hash is stored: nothing in the row is the key.
    with app.app_context():
        row = db.session.get(ApiKey, data["id"])
        assert row.key_hash == hashlib.sha256(data["key"].encode()).hexdigest()
        assert data["key"] not in {row.name, row.prefix, row.key_hash, row.scopes}


def test_a_created_key_signs_book_requests_in(v2, app, admin_headers):
    created = v2.post(
        "/api-keys", json={"name": "sync", "scopes": ["write"]}, headers=admin_headers
    )
    key = v2.data(created)["key"]
    response = v2.post("/books", json=BOOK, headers={"X-API-Key": key})
    assert response.status_code == 201, response.get_json()


def test_get_one_key_never_shows_the_secret(v2, make_key, admin_headers):
    key = make_key(scopes=("read",), name="reporting")
    response = v2.get(f"/api-keys/{key.id}", headers=admin_headers)
    assert response.status_code == 200
    data = v2.data(response)
    assert set(data) == KEY_FIELDS
    assert (data["id"], data["name"], data["prefix"], data["scopes"]) == (
        key.id,
        "reporting",
        key.prefix,
        ["read"],
    )
    assert response.get_json()["links"]["self"] == data["links"]["self"]
    assert key.plaintext.split("_", 2)[2] not in response.get_data(as_text=True)


def test_list_shows_active_keys_without_secrets_or_hashes(v2, app, make_key, admin_headers, revoke):
    first, second, gone = (
        make_key(name="one"),
        make_key(scopes=("read",), name="two"),
        make_key(name="gone"),
    )
    revoke(gone)
    response = v2.get("/api-keys", headers=admin_headers)

    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True
    assert body["links"] == {"self": "http://localhost/api/v2/api-keys"}
    assert [k["id"] for k in body["data"]] == [first.id, second.id]
    assert all(set(k) == KEY_FIELDS for k in body["data"])
    assert [k["revoked_at"] for k in body["data"]] == [None, None]
    text = response.get_data(as_text=True)
    with app.app_context():
        hashes = list(db.session.scalars(select(ApiKey.key_hash)))
    for secret in (first.plaintext, second.plaintext, gone.plaintext, *hashes):
        assert secret not in text


def test_list_is_empty_without_keys(v2, admin_headers):
    response = v2.get("/api-keys", headers=admin_headers)
    assert response.status_code == 200
    assert v2.data(response) == []


def test_revoke_answers_200_and_the_key_stops_working(v2, app, write_key, admin_headers):
    assert v2.post("/books", json=BOOK, headers=write_key.headers).status_code == 201

    response = v2.delete(f"/api-keys/{write_key.id}", headers=admin_headers)
    assert response.status_code == 200
    assert response.get_json() == {
        "success": True,
        "data": None,
        "message": "API key revoked",
        "links": {"collection": "http://localhost/api/v2/api-keys"},
    }

    refused = v2.post("/books", json=BOOK, headers=write_key.headers)
    assert_refused(v2, refused, 401, "api_key_revoked")
    assert count(app, Book) == 1
    # Deleted means gone from the API: no longer readable or listed.
    assert v2.get(f"/api-keys/{write_key.id}", headers=admin_headers).status_code == 404
    assert v2.data(v2.get("/api-keys", headers=admin_headers)) == []


def test_revoking_twice_is_404_and_keeps_the_first_time(v2, app, write_key, admin_headers):
    v2.delete(f"/api-keys/{write_key.id}", headers=admin_headers)
    with app.app_context():
        first = api_keys.get_key(write_key.id, OPERATOR, include_revoked=True).revoked_at
    again = v2.delete(f"/api-keys/{write_key.id}", headers=admin_headers)
    assert again.status_code == 404
    assert v2.error(again)["reason"] == "not_found"
    with app.app_context():
        assert api_keys.get_key(write_key.id, OPERATOR, include_revoked=True).revoked_at == first


@pytest.mark.parametrize("method", ["get", "delete"])
@pytest.mark.parametrize("key_id", [999_999, 2**40])
def test_unknown_key_id_is_404(v2, admin_headers, method, key_id):
    response = getattr(v2, method)(f"/api-keys/{key_id}", headers=admin_headers)
    assert_refused(v2, response, 404, "not_found")


ROUTES = [
    ("post", "/api-keys", {"json": {"name": "x", "scopes": ["read"]}}),
    ("get", "/api-keys", {}),
    ("get", "/api-keys/{id}", {}),
    ("delete", "/api-keys/{id}", {}),
]
ROUTE_IDS = ["create", "list", "get", "revoke"]


@pytest.mark.parametrize(("method", "path", "kwargs"), ROUTES, ids=ROUTE_IDS)
def test_management_is_403_for_a_non_admin(
    v2, app, user, auth_headers, read_key, method, path, kwargs
):
    response = getattr(v2, method)(
        path.format(id=read_key.id), headers=auth_headers(user), **kwargs
    )
    assert_refused(v2, response, 403, "forbidden")
    assert count(app, ApiKey) == 1
    assert v2.post("/books", json=BOOK, headers=read_key.headers).status_code == 403  # not revoked


@pytest.mark.parametrize(("method", "path", "kwargs"), ROUTES, ids=ROUTE_IDS)
def test_management_is_401_without_a_token(v2, read_key, method, path, kwargs):
    response = getattr(v2, method)(path.format(id=read_key.id), **kwargs)
    assert_refused(v2, response, 401, "token_missing")
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "kwargs"), ROUTES, ids=ROUTE_IDS)
def test_management_is_403_for_an_api_key_even_an_admins(v2, app, write_key, method, path, kwargs):
    response = getattr(v2, method)(
        path.format(id=write_key.id), headers=write_key.headers, **kwargs
    )
    assert_refused(v2, response, 403, "forbidden")
    assert count(app, ApiKey) == 1


def test_a_non_admin_gets_403_before_the_body_is_validated(v2, user, auth_headers):
    response = v2.post("/api-keys", json={"nonsense": True}, headers=auth_headers(user))
    assert_refused(v2, response, 403, "forbidden")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"scopes": ["read"]}, {"name"}),
        ({"name": "", "scopes": ["read"]}, {"name"}),
        ({"name": "   ", "scopes": ["read"]}, {"name"}),
        ({"name": "x" * 101, "scopes": ["read"]}, {"name"}),
        ({"name": "x\x00y", "scopes": ["read"]}, {"name"}),
        ({"name": 7, "scopes": ["read"]}, {"name"}),
        ({"name": "x"}, {"scopes"}),
        ({"name": "x", "scopes": []}, {"scopes"}),
        ({"name": "x", "scopes": "read"}, {"scopes"}),
        ({"name": "x", "scopes": ["admin"]}, {"scopes"}),
        ({"name": "x", "scopes": ["READ"]}, {"scopes"}),
        ({"name": "x", "scopes": ["read", 1]}, {"scopes"}),
        ({"name": "x", "scopes": ["read", "read"]}, {"scopes"}),
        ({"name": "x", "scopes": None}, {"scopes"}),
        ({"name": "x", "scopes": ["read"], "key": "bk_mine"}, {"key"}),
        ({"name": "x", "scopes": ["read"], "key_hash": "0" * 64}, {"key_hash"}),
        ({"name": "x", "scopes": ["read"], "prefix": "0" * 16}, {"prefix"}),
        ({}, {"name", "scopes"}),
    ],
    ids=[
        *("no-name", "empty-name", "blank-name", "long-name", "nul-name", "number-name"),
        *("no-scopes", "empty-scopes", "string-scopes", "unknown-scope", "upper-case-scope"),
        *("number-scope", "duplicate-scope", "null-scopes"),
        *("key-field", "hash-field", "prefix-field", "empty-body"),
    ],
)
def test_create_validation_failures_are_422_naming_each_field(v2, app, admin_headers, body, fields):
    response = v2.post("/api-keys", json=body, headers=admin_headers)
    assert_refused(v2, response, 422, "validation_failed")
    assert set(v2.error(response)["details"]) == fields
    assert count(app, ApiKey) == 0


def test_create_ignores_read_only_fields(v2, admin, admin_headers):
    body = {"name": "x", "scopes": ["read"], "id": 77, "created_by": 999, "created_at": "never"}
    response = v2.post("/api-keys", json=body, headers=admin_headers)
    assert response.status_code == 201, response.get_json()
    data = v2.data(response)
    assert data["id"] != 77 and data["created_by"] == admin.id


def test_create_needs_a_json_body(v2, app, admin_headers):
    response = v2.post("/api-keys", data="name=x", headers=admin_headers)
    assert_refused(v2, response, 415, "unsupported_media_type")
    assert count(app, ApiKey) == 0


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/v1/api-keys", {}, 404),
        ("/api/api-keys", {"API-Version": "1"}, 404),
        ("/api/api-keys", {}, 404),  # the default version is 1
        ("/api/api-keys", {"API-Version": "2"}, 200),
        ("/api/v2/api-keys", {"API-Version": "1"}, 200),  # the path wins
    ],
    ids=["v1", "unversioned-v1", "unversioned-default", "unversioned-v2", "v2-path"],
)
def test_only_v2_serves_key_management(client, admin_headers, path, headers, status):
    response = client.get(path, headers={**admin_headers, **headers})
    assert response.status_code == status


# --- using keys on the book routes (every version) ---------------------------------------------


def test_a_write_key_creates_a_book_credited_to_the_keys_creator(api, app, admin, write_key):
    response = api.post("/books", json=BOOK, headers=write_key.headers)
    assert response.status_code == 201, response.get_json()
    book = api.data(response)
    assert book["created_by"] == admin.id == write_key.created_by
    assert urlsplit(response.headers["Location"]).path == f"/api/v{api.version}/books/{book['id']}"


def test_a_write_key_updates_any_book(api, app, make_book, make_user, write_key):
    someone = make_user()
    book = make_book(creator=someone, title="Old")
    response = api.put(f"/books/{book.id}", json={"title": "New"}, headers=write_key.headers)
    assert response.status_code == 200, response.get_json()
    updated = api.data(response)
    assert updated["title"] == "New"
    assert updated["created_by"] == someone.id  # the creator stays the creator


def test_a_write_key_validates_bodies_like_a_user(api, app, write_key):
    response = api.post("/books", json={"title": ""}, headers=write_key.headers)
    assert_refused(api, response, 422, "validation_failed")
    assert count(app, Book) == 0


def test_a_read_only_key_cannot_create(api, app, read_key):
    response = api.post("/books", json=BOOK, headers=read_key.headers)
    assert_refused(api, response, 403, "insufficient_scope")
    assert "write" in api.error(response)["message"]
    assert count(app, Book) == 0


def test_a_read_only_key_is_refused_before_the_body_is_validated(api, read_key):
    response = api.post("/books", json={"nonsense": 1}, headers=read_key.headers)
    assert_refused(api, response, 403, "insufficient_scope")


def test_a_read_only_key_cannot_update(api, app, make_book, read_key):
    book = make_book(title="Kept")
    response = api.put(f"/books/{book.id}", json={"title": "Changed"}, headers=read_key.headers)
    assert_refused(api, response, 403, "insufficient_scope")
    assert book_title(app, book.id) == "Kept"


def test_a_read_only_key_updating_an_unknown_book_is_403(api, read_key):
    response = api.put("/books/999999", json={"title": "X"}, headers=read_key.headers)
    assert_refused(api, response, 403, "insufficient_scope")


@pytest.mark.parametrize("scopes", [("write",), ("read",), ("read", "write")])
def test_no_key_can_delete_a_book(api, app, make_book, make_key, scopes):
    book = make_book()
    key = make_key(scopes=scopes)
    response = api.delete(f"/books/{book.id}", headers=key.headers)
    assert_refused(api, response, 403, "forbidden")
    assert "API keys" in api.error(response)["message"]
    assert count(app, Book) == 1


def test_a_wrong_secret_is_401_invalid(api, app, write_key):
    secret = write_key.plaintext[-43:]
    wrong = write_key.plaintext[:-43] + ("A" if secret[0] != "A" else "B") + secret[1:]
    response = api.post("/books", json=BOOK, headers={"X-API-Key": wrong})
    assert_refused(api, response, 401, "api_key_invalid")
    assert response.headers["WWW-Authenticate"] == 'ApiKey header="X-API-Key"'
    assert count(app, Book) == 0


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "Bearer something",
        "bk_0123456789abcdef_short",
        "bk_0123456789ABCDEF_" + "a" * 43,
        "bk_0123456789abcdef_" + "a" * 44,
        "xx_0123456789abcdef_" + "a" * 43,
        "bk_0123456789abcdef_" + "a" * 42 + "!",
        "bk_0123456789abcdef_" + "a" * 43,  # well-formed, unknown prefix
        "x" * 5000,
    ],
    ids=[
        *("empty", "garbage", "bearer", "short", "upper-prefix", "long-secret", "wrong-tag"),
        *("bad-character", "unknown-prefix", "huge"),
    ],
)
def test_a_malformed_or_unknown_key_is_401_invalid(api, app, write_key, value):
    response = api.post("/books", json=BOOK, headers={"X-API-Key": value})
    assert_refused(api, response, 401, "api_key_invalid")
    assert count(app, Book) == 0


def test_a_revoked_key_is_401_revoked(api, app, write_key, revoke):
    revoke(write_key)
    response = api.post("/books", json=BOOK, headers=write_key.headers)
    assert_refused(api, response, 401, "api_key_revoked")
    assert response.headers["WWW-Authenticate"] == 'ApiKey header="X-API-Key"'
    assert count(app, Book) == 0


def test_a_key_deleted_with_its_admin_stops_working(api, app, admin, write_key):
    with app.app_context():
        db.session.delete(db.session.get(User, admin.id))
        db.session.commit()
    response = api.post("/books", json=BOOK, headers=write_key.headers)
    assert_refused(api, response, 401, "api_key_invalid")


def test_a_key_request_is_never_also_judged_by_its_token(api, app, admin, auth_headers, read_key):
    # An invalid key next to a valid admin token: the key decides.
    both = {**auth_headers(admin), "X-API-Key": "bk_nonsense"}
    assert_refused(api, api.post("/books", json=BOOK, headers=both), 401, "api_key_invalid")
    # A read-only key next to a valid admin token: still only read.
    both = {**auth_headers(admin), **read_key.headers}
    assert_refused(api, api.post("/books", json=BOOK, headers=both), 403, "insufficient_scope")
    assert count(app, Book) == 0


def test_tokens_work_as_before_without_a_key(api, user, auth_headers, make_book):
    assert api.post("/books", json=BOOK, headers=auth_headers(user)).status_code == 201
    response = api.post("/books", json=BOOK)
    assert_refused(api, response, 401, "token_missing")
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["/auth/me", "/auth/logout"])
def test_account_routes_take_only_tokens(api, write_key, path):
    method = api.get if path == "/auth/me" else api.post
    response = method(path, headers=write_key.headers)
    assert_refused(api, response, 401, "token_missing")


@pytest.mark.parametrize(
    ("headers", "version"),
    [({}, "1"), ({"API-Version": "1"}, "1"), ({"API-Version": "2"}, "2")],
    ids=["default", "header-v1", "header-v2"],
)
def test_keys_work_on_unversioned_urls(client, admin, write_key, make_book, headers, version):
    response = client.post("/api/books", json=BOOK, headers={**headers, **write_key.headers})
    assert response.status_code == 201, response.get_json()
    assert response.headers["API-Version"] == version
    book = Api(client, version).data(response)
    assert book["created_by"] == admin.id

    other = make_book(title="Old")
    response = client.put(
        f"/api/books/{other.id}", json={"title": "New"}, headers={**headers, **write_key.headers}
    )
    assert response.status_code == 200
    assert Api(client, version).data(response)["title"] == "New"


def test_using_a_key_records_when_it_was_last_used(v2, write_key, admin_headers):
    assert (
        v2.data(v2.get(f"/api-keys/{write_key.id}", headers=admin_headers))["last_used_at"] is None
    )
    v2.post("/books", json=BOOK, headers=write_key.headers)
    used = v2.data(v2.get(f"/api-keys/{write_key.id}", headers=admin_headers))["last_used_at"]
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", used)


# --- keys in the URL are refused --------------------------------------------------------------


@pytest.mark.parametrize("param", QUERY_KEY_PARAMS)
def test_a_key_in_the_query_string_is_400_and_creates_nothing(api, app, write_key, param):
    url = f"/books?{param}={write_key.plaintext}"
    response = api.post(url, json=BOOK, headers=write_key.headers)
    assert_refused(api, response, 400, "api_key_in_query")
    assert "X-API-Key" in api.error(response)["message"]
    assert write_key.plaintext not in response.get_data(as_text=True)
    assert count(app, Book) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/books"), ("get", "/books/1"), ("get", "/health"), ("get", "/auth/me")],
)
def test_a_key_in_the_query_string_is_refused_on_every_route(api, method, path):
    response = getattr(api, method)(f"{path}?page=1&api_key=anything")
    assert_refused(api, response, 400, "api_key_in_query")


def test_a_key_in_the_query_string_is_refused_on_unversioned_and_management_urls(
    client, app, admin_headers
):
    for path in ("/api", "/api/books", "/api/v2/api-keys", "/api/nowhere"):
        response = client.get(f"{path}?key=x", headers=admin_headers)
        assert response.status_code == 400, path
    response = client.post(
        "/api/v2/api-keys?apikey=x", json={"name": "x", "scopes": ["read"]}, headers=admin_headers
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["reason"] == "api_key_in_query"
    assert count(app, ApiKey) == 0


def test_other_query_parameters_are_not_mistaken_for_keys(api):
    response = api.get("/books?keyword=x&monkey=y&search=key")
    assert response.status_code == 200


# --- secrecy ---------------------------------------------------------------------------------


def test_the_key_is_never_logged(v2, admin_headers, caplog):
    caplog.set_level(logging.DEBUG)
    created = v2.post("/api-keys", json={"name": "s", "scopes": ["write"]}, headers=admin_headers)
    key = v2.data(created)["key"]
    v2.post("/books", json=BOOK, headers={"X-API-Key": key})
    v2.post("/books?api_key=" + key, json=BOOK)
    assert key not in caplog.text
