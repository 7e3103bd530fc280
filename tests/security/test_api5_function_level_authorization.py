"""OWASP API5:2023 Broken Function Level Authorization: admin functions refuse everyone else."""

from __future__ import annotations

import pytest

from api.platform import usage
from core.extensions import db
from core.models import ROLE_ADMIN, ROLE_USER, ApiKey, User
from tests.security.conftest import count_rows, send, stored_book

KEY_ROUTES = [
    ("POST", "/api-keys", {"json": {"name": "x", "scopes": ["read", "write"]}}),
    ("GET", "/api-keys", {}),
    ("GET", "/api-keys/{id}", {}),
    ("PATCH", "/api-keys/{id}", {"json": {"pinned_version": "2"}}),
    ("DELETE", "/api-keys/{id}", {}),
]
KEY_ROUTE_IDS = ["create", "list", "read", "pin", "revoke"]


def _set_role(app, user_id: int, role: str) -> None:
    with app.app_context():
        db.session.get(User, user_id).role = role
        db.session.commit()


@pytest.fixture
def callers(user, admin, make_key, auth_headers):
    """Headers of everyone who is not an admin user, with the status and reason they meet."""
    return {
        "user-token": (auth_headers(user), 403, "forbidden"),
        "write-key-of-an-admin": (make_key(scopes=("write",)).headers, 403, "forbidden"),
        "read-write-key-of-an-admin": (make_key().headers, 403, "forbidden"),
        "anonymous": ({}, 401, "token_missing"),
    }


CALLERS = ["user-token", "write-key-of-an-admin", "read-write-key-of-an-admin", "anonymous"]


# --- DELETE /books/<id>: admin users only ---------------------------------------------------------


@pytest.mark.parametrize("caller", CALLERS)
def test_only_an_admin_user_deletes_a_book(any_api, app, user, make_book, callers, caller):
    headers, status, reason = callers[caller]
    book = make_book(creator=user)  # even the creator may not

    response = any_api.delete(f"/books/{book.id}", headers=headers)

    assert response.status_code == status
    assert any_api.error(response)["reason"] == reason
    assert stored_book(app, book.id) is not None


def test_an_admin_user_deletes_a_book(any_api, app, make_book, admin_headers):
    book = make_book()

    response = any_api.delete(f"/books/{book.id}", headers=admin_headers)

    assert response.status_code == (204 if any_api.version == "1" else 200)
    assert stored_book(app, book.id) is None


def test_a_non_admin_is_refused_before_the_book_is_looked_up(api, user, auth_headers):
    response = api.delete("/books/999999", headers=auth_headers(user))

    assert response.status_code == 403
    assert api.error(response)["reason"] == "forbidden"


# --- /api/v2/api-keys: admin users only ---------------------------------------------------------


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path", "kwargs"), KEY_ROUTES, ids=KEY_ROUTE_IDS)
def test_only_an_admin_user_manages_api_keys(
    keys_api, app, make_key, callers, caller, method, path, kwargs
):
    target = make_key(scopes=("read",), name="target")
    headers, status, reason = callers[caller]
    keys_before = count_rows(app, ApiKey)

    response = send(keys_api, method, path.format(id=target.id), headers=headers, **kwargs)

    assert response.status_code == status
    assert keys_api.error(response)["reason"] == reason
    assert "data" not in response.get_json()
    assert count_rows(app, ApiKey) == keys_before
    with app.app_context():
        stored = db.session.get(ApiKey, target.id)
        assert (stored.revoked_at, stored.pinned_version) == (None, None)


@pytest.mark.parametrize(("method", "path", "kwargs"), KEY_ROUTES, ids=KEY_ROUTE_IDS)
def test_an_admin_user_manages_api_keys(keys_api, make_key, admin_headers, method, path, kwargs):
    target = make_key(scopes=("read",))

    response = send(keys_api, method, path.format(id=target.id), headers=admin_headers, **kwargs)

    assert response.status_code == (201 if method == "POST" else 200)


@pytest.mark.parametrize(
    ("prefix", "headers"),
    [("/api/v1", {}), ("/api", {}), ("/api", {"API-Version": "1"})],
    ids=["v1", "unversioned-default", "unversioned-v1"],
)
@pytest.mark.parametrize(("method", "path", "kwargs"), KEY_ROUTES, ids=KEY_ROUTE_IDS)
def test_api_key_management_does_not_exist_in_v1(
    client, app, make_key, admin_headers, prefix, headers, method, path, kwargs
):
    target = make_key(scopes=("read",))

    response = client.open(
        prefix + path.format(id=target.id),
        method=method,
        headers={**admin_headers, **headers},
        **kwargs,
    )

    assert response.status_code == 404
    assert count_rows(app, ApiKey) == 1


def test_head_does_not_bypass_the_admin_check(v2, user, auth_headers, make_key):
    key = make_key()
    for path in ("/api-keys", f"/api-keys/{key.id}"):
        assert v2.client.head(v2.url(path)).status_code == 401
        response = v2.client.head(v2.url(path), headers=auth_headers(user))
        assert response.status_code == 403
        assert response.get_data() == b""


def test_a_preflight_runs_no_admin_function(v2, make_key):
    key = make_key()

    response = v2.client.options(v2.url(f"/api-keys/{key.id}"))

    assert response.status_code == 200
    assert response.get_data() == b""
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "DELETE"}


# --- admin rights come from the stored role, not from the token ---------------------------------


def test_a_demoted_admins_token_loses_admin_functions_at_once(
    any_api, app, admin, make_book, admin_headers
):
    book = make_book()
    _set_role(app, admin.id, ROLE_USER)

    response = any_api.delete(f"/books/{book.id}", headers=admin_headers)

    assert response.status_code == 403
    assert stored_book(app, book.id) is not None


def test_a_promoted_users_token_gains_admin_functions_at_once(v2, app, user, auth_headers):
    headers = auth_headers(user)
    assert v2.get("/api-keys", headers=headers).status_code == 403

    _set_role(app, user.id, ROLE_ADMIN)

    assert v2.get("/api-keys", headers=headers).status_code == 200


# --- scopes -------------------------------------------------------------------------------------


def test_a_read_key_cannot_create_or_update_books(any_api, app, make_book, make_key):
    key = make_key(scopes=("read",))
    book = make_book(title="Kept")

    created = any_api.post("/books", json={"title": "T", "author": "A"}, headers=key.headers)
    updated = any_api.put(f"/books/{book.id}", json={"title": "Changed"}, headers=key.headers)

    for response in (created, updated):
        assert response.status_code == 403
        assert any_api.error(response)["reason"] == "insufficient_scope"
    assert stored_book(app, book.id).title == "Kept"


# --- other methods ------------------------------------------------------------------------------

BOOK_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
COLLECTION_METHODS = {"GET", "HEAD", "OPTIONS", "POST"}
POST_ONLY = {"OPTIONS", "POST"}
GET_ONLY = {"GET", "HEAD", "OPTIONS"}
WRONG_METHODS = [
    ("PATCH", "/books/{id}", BOOK_METHODS),
    ("POST", "/books/{id}", BOOK_METHODS),
    ("PUT", "/books", COLLECTION_METHODS),
    ("DELETE", "/books", COLLECTION_METHODS),
    ("PATCH", "/books", COLLECTION_METHODS),
    ("GET", "/auth/login", POST_ONLY),
    ("PUT", "/auth/register", POST_ONLY),
    ("GET", "/auth/refresh", POST_ONLY),
    ("DELETE", "/auth/logout", POST_ONLY),
    ("DELETE", "/auth/me", GET_ONLY),
    ("POST", "/health", GET_ONLY),
    ("PUT", "/openapi.json", GET_ONLY),
    ("TRACE", "/books", COLLECTION_METHODS),
]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    WRONG_METHODS,
    ids=[f"{m}-{p}" for m, p, _ in WRONG_METHODS],
)
def test_other_methods_are_405_with_allow(
    api, app, admin, make_book, admin_headers, method, path, allowed
):
    book = make_book(title="Kept")

    response = send(api, method, path.format(id=book.id), headers=admin_headers, json={})

    assert response.status_code == 405
    assert api.error(response)["reason"] == "method_not_allowed"
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed
    assert stored_book(app, book.id).title == "Kept"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api-keys", {"GET", "HEAD", "OPTIONS", "POST"}),
        ("PATCH", "/api-keys", {"GET", "HEAD", "OPTIONS", "POST"}),
        ("PUT", "/api-keys/{id}", {"GET", "HEAD", "OPTIONS", "PATCH", "DELETE"}),
        ("POST", "/api-keys/{id}", {"GET", "HEAD", "OPTIONS", "PATCH", "DELETE"}),
    ],
    ids=["PUT-collection", "PATCH-collection", "PUT-key", "POST-key"],
)
def test_other_methods_on_api_keys_are_405_with_allow(
    v2, app, make_key, admin_headers, method, path, allowed
):
    key = make_key()

    response = send(v2, method, path.format(id=key.id), headers=admin_headers, json={})

    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed
    assert count_rows(app, ApiKey) == 1


@pytest.mark.parametrize("header", ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"])
def test_method_override_headers_are_ignored(api, app, make_book, admin_headers, header):
    book = make_book()

    response = api.post(f"/books/{book.id}", headers={**admin_headers, header: "DELETE"})

    assert response.status_code == 405
    assert stored_book(app, book.id) is not None


def test_method_override_query_parameters_are_ignored(api, app, make_book, admin_headers):
    book = make_book()

    response = api.post(f"/books/{book.id}?_method=DELETE", headers=admin_headers)

    assert response.status_code == 405
    assert stored_book(app, book.id) is not None


# --- /auth/me/api-version: a user's own pin, from v2 on ------------------------------------------


PIN_PATH = "/auth/me/api-version"


def _pin_of(app, user_id: int) -> str | None:
    with app.app_context():
        return db.session.get(User, user_id).pinned_version


@pytest.mark.parametrize("caller", ["anonymous", "read-write-key-of-an-admin"])
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_the_pin_routes_need_a_signed_in_user(keys_api, app, user, callers, caller, method):
    headers, _status, _reason = callers[caller]

    response = send(keys_api, method, PIN_PATH, headers=headers, json={"version": "2"})

    assert response.status_code == 401
    assert keys_api.error(response)["reason"] == "token_missing"
    assert _pin_of(app, user.id) is None


def test_a_user_pins_only_their_own_version(keys_api, app, user, make_user, auth_headers):
    other = make_user()

    response = send(keys_api, "PUT", PIN_PATH, headers=auth_headers(user), json={"version": "2"})

    assert response.status_code == 200
    assert (_pin_of(app, user.id), _pin_of(app, other.id)) == ("2", None)
    read = send(keys_api, "GET", PIN_PATH, headers=auth_headers(other))
    assert keys_api.data(read)["pinned_version"] is None


@pytest.mark.parametrize(
    ("prefix", "headers"),
    [("/api/v1", {}), ("/api", {}), ("/api", {"API-Version": "1"})],
    ids=["v1", "unversioned-default", "unversioned-v1"],
)
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_the_pin_routes_do_not_exist_in_v1(
    client, app, user, auth_headers, prefix, headers, method
):
    response = client.open(
        prefix + PIN_PATH,
        method=method,
        headers={**auth_headers(user), **headers},
        json={"version": "2"},
    )

    assert response.status_code == 404
    assert response.headers["API-Version"] == "1"
    assert _pin_of(app, user.id) is None


# --- Version usage (contract §11): a client's own counts; every client's for admins -----------


USAGE_PATH = "/auth/me/usage"
ADMIN_USAGE_PATH = "/admin/version-usage"


@pytest.mark.parametrize("caller", CALLERS)
def test_only_an_admin_user_reads_every_clients_usage(keys_api, app, client, callers, caller):
    client.get("/api/v1/books")
    usage.flush(app)
    headers, status, reason = callers[caller]

    response = send(keys_api, "GET", ADMIN_USAGE_PATH, headers=headers)

    assert response.status_code == status
    assert keys_api.error(response)["reason"] == reason


def test_an_admin_user_reads_every_clients_usage(keys_api, app, client, admin_headers):
    client.get("/api/v1/books")
    usage.flush(app)

    response = send(keys_api, "GET", ADMIN_USAGE_PATH, headers=admin_headers)

    assert response.status_code == 200
    assert [row["client"] for row in keys_api.data(response)] == [{"type": "anonymous"}]


def test_a_client_reads_only_its_own_usage(keys_api, app, client, user, make_user, auth_headers):
    other = make_user()
    for _ in range(3):
        client.get("/api/v1/books", headers=auth_headers(user))
    usage.flush(app)

    mine = send(keys_api, "GET", USAGE_PATH, headers=auth_headers(user))
    theirs = send(keys_api, "GET", USAGE_PATH, headers=auth_headers(other))
    anonymous = send(keys_api, "GET", USAGE_PATH)

    assert keys_api.data(mine)["versions"][0]["requests"] == 3
    assert keys_api.data(theirs)["versions"] == []
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("prefix", "headers"),
    [("/api/v1", {}), ("/api", {}), ("/api", {"API-Version": "1"})],
    ids=["v1", "unversioned-default", "unversioned-v1"],
)
@pytest.mark.parametrize("path", [USAGE_PATH, ADMIN_USAGE_PATH])
def test_the_usage_routes_do_not_exist_in_v1(client, admin_headers, prefix, headers, path):
    response = client.get(prefix + path, headers={**admin_headers, **headers})

    assert response.status_code == 404
    assert response.headers["API-Version"] == "1"


# --- POST /compare: runs as the caller, writes nothing, never touches tokens ---------------------


def test_compare_runs_as_the_caller_and_refuses_token_routes(
    keys_api, app, user, make_user, make_book, auth_headers
):
    book = make_book(creator=make_user())
    headers = auth_headers(user)

    anonymous = send(keys_api, "POST", "/compare", json={"method": "GET", "path": "/books"})
    update = send(
        keys_api,
        "POST",
        "/compare",
        headers=headers,
        json={"method": "PUT", "path": f"/books/{book.id}", "body": {"title": "Mine now"}},
    )
    logout = send(
        keys_api,
        "POST",
        "/compare",
        headers=headers,
        json={"method": "POST", "path": "/auth/logout"},
    )

    assert anonymous.status_code == 401
    result = keys_api.data(update)
    assert (result["v1"]["status"], result["v2"]["status"]) == (403, 403)
    assert stored_book(app, book.id).title != "Mine now"
    assert logout.status_code == 422


@pytest.mark.parametrize(
    ("prefix", "headers"),
    [("/api/v1", {}), ("/api", {}), ("/api", {"API-Version": "1"})],
    ids=["v1", "unversioned-default", "unversioned-v1"],
)
def test_the_compare_route_does_not_exist_in_v1(client, user, auth_headers, prefix, headers):
    response = client.post(
        prefix + "/compare",
        headers={**auth_headers(user), **headers},
        json={"method": "GET", "path": "/books"},
    )

    assert response.status_code == 404
