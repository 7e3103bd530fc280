"""POST /api/v2/compare (contract §12): a request run as the caller through v1 and v2 with
nothing written, v2 projected onto v1's fields, and only real differences reported."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from api.platform import usage
from core.extensions import db
from core.models import Book, RevokedToken, VersionUsage

URL = "/api/v2/compare"


def _snapshot(app) -> list[tuple]:
    """Every book as stored, and the other tables' row counts."""
    with app.app_context():
        books = db.session.execute(
            sa.select(
                Book.id, Book.title, Book.author, Book.year, Book.isbn, Book.updated_at
            ).order_by(Book.id)
        ).all()
        revoked = db.session.execute(sa.select(sa.func.count()).select_from(RevokedToken)).scalar()
        return [tuple(row) for row in books] + [("revoked", revoked)]


def _compare(client, headers, **request) -> dict:
    response = client.post(URL, json=request, headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["success"] is True
    return body["data"]


@pytest.fixture
def headers(user, auth_headers):
    return auth_headers(user)


def test_a_read_answers_both_versions_and_no_differences(app, client, headers, make_book):
    book = make_book(title="Dune", author="Frank Herbert", year=1965)

    result = _compare(client, headers, method="GET", path=f"/books/{book.id}")

    assert result["v1"]["status"] == result["v2"]["status"] == 200
    assert result["v1"]["body"]["title"] == "Dune"
    assert result["v2"]["body"]["data"]["title"] == "Dune"
    assert result["v1"]["headers"]["API-Version"] == "1"
    assert result["v2"]["headers"]["API-Version"] == "2"
    assert result["differences"] == []


def test_a_list_with_paging_moves_has_no_differences(client, headers, make_book):
    for n in range(3):
        make_book(title=f"Book {n}")

    result = _compare(
        client, headers, method="GET", path="/books", query={"per_page": "2", "sort": "title"}
    )

    assert result["v1"]["body"]["total"] == 3
    assert result["v2"]["body"]["pagination"]["total_items"] == 3
    assert result["differences"] == []


def test_a_status_that_differs_is_a_difference(client, headers):
    result = _compare(client, headers, method="GET", path="/books", query={"page": "abc"})

    assert (result["v1"]["status"], result["v2"]["status"]) == (200, 400)
    assert result["differences"] == [{"path": "", "v1": 200, "v2": 400, "kind": "status"}]


def test_a_route_only_v2_has_is_a_status_difference(client, admin, auth_headers):
    result = _compare(client, auth_headers(admin), method="GET", path="/api-keys")

    assert result["differences"] == [{"path": "", "v1": 404, "v2": 200, "kind": "status"}]


def test_errors_are_compared_through_the_declared_mapping(client, headers):
    result = _compare(client, headers, method="GET", path="/books/999999")

    assert result["v1"]["status"] == result["v2"]["status"] == 404
    assert result["v2"]["body"]["error"]["reason"] == "not_found"
    assert result["differences"] == []


def test_a_create_writes_nothing_and_ids_and_timestamps_are_noise(app, client, headers):
    before = _snapshot(app)
    book = {"title": "New", "author": "Someone", "year": 2001, "isbn": "9780306406157"}

    result = _compare(client, headers, method="POST", path="/books", body=book)

    assert result["v1"]["status"] == result["v2"]["status"] == 201
    assert result["v1"]["body"]["isbn"] == result["v2"]["body"]["data"]["isbn"] == book["isbn"]
    assert result["differences"] == []  # each run could create it: every run was undone
    assert _snapshot(app) == before


def test_an_update_and_a_delete_change_nothing(app, client, admin, auth_headers, make_book):
    book = make_book(title="Keep me")
    before = _snapshot(app)
    admin_headers = auth_headers(admin)

    updated = _compare(
        client, admin_headers, method="PUT", path=f"/books/{book.id}", body={"title": "Changed"}
    )
    deleted = _compare(client, admin_headers, method="DELETE", path=f"/books/{book.id}")

    assert updated["v1"]["body"]["title"] == "Changed"
    assert updated["differences"] == []
    assert (deleted["v1"]["status"], deleted["v2"]["status"]) == (204, 200)
    assert deleted["differences"] == [{"path": "", "v1": 204, "v2": 200, "kind": "status"}]
    assert _snapshot(app) == before


def test_a_validation_error_is_compared_field_by_field(client, headers):
    result = _compare(client, headers, method="POST", path="/books", body={"title": ""})

    assert result["v1"]["status"] == result["v2"]["status"] == 422
    assert result["differences"] == []


def test_a_real_difference_names_the_v1_field(app, client, headers, make_book, monkeypatch):
    book = make_book(title="Dune", year=1965)
    presenter = app.extensions["api_versions"]["2"].presenter
    original = presenter.book_data

    def renamed(book, links):
        data = original(book, links)
        data["published"] = data.pop("year")
        return data

    monkeypatch.setattr(presenter, "book_data", renamed)

    result = _compare(client, headers, method="GET", path=f"/books/{book.id}")

    assert result["differences"] == [
        {"path": "year", "v1": 1965, "v2": None, "kind": "missing"},
        {"path": "published", "v1": None, "v2": 1965, "kind": "added"},
    ]


def test_the_runs_move_no_counter(app, client, headers, make_book):
    book = make_book()
    usage.flush(app)

    _compare(client, headers, method="GET", path=f"/books/{book.id}")
    usage.flush(app)

    with app.app_context():
        rows = db.session.execute(sa.select(VersionUsage.version, VersionUsage.endpoint)).all()
    assert sorted(rows) == [("2", "POST /compare")]


def test_the_runs_are_made_as_the_caller(client, user, make_user, auth_headers, make_book):
    book = make_book(creator=make_user())

    result = _compare(
        client, auth_headers(user), method="PUT", path=f"/books/{book.id}", body={"title": "X"}
    )

    assert result["v1"]["status"] == result["v2"]["status"] == 403


@pytest.mark.parametrize(
    "path",
    ["/auth/login", "/auth/refresh", "/auth/logout", "/auth/register", "/compare", "/compare/"],
)
def test_routes_that_mint_or_revoke_tokens_and_nested_compares_are_refused(
    app, client, headers, path
):
    before = _snapshot(app)

    response = client.post(URL, json={"method": "POST", "path": path}, headers=headers)

    assert response.status_code == 422
    assert "path" in response.get_json()["error"]["details"]
    assert _snapshot(app) == before


@pytest.mark.parametrize(
    "request_body",
    [
        {"method": "GET", "path": "http://example.com/books"},
        {"method": "GET", "path": "//example.com/books"},
        {"method": "GET", "path": "books"},
        {"method": "GET", "path": "/books?page=2"},
        {"method": "GET", "path": "/../health"},
        {"method": "TRACE", "path": "/books"},
        {"method": "GET"},
        {"path": "/books"},
        {"method": "GET", "path": "/books", "query": {"a": {"b": 1}}},
        {"method": "GET", "path": "/books", "query": "page=2"},
        {"method": "GET", "path": "/books", "extra": 1},
    ],
)
def test_malformed_compare_requests_are_422(client, headers, request_body):
    response = client.post(URL, json=request_body, headers=headers)

    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["reason"] == "validation_failed"


def test_a_body_that_is_not_json_is_refused(client, headers):
    response = client.post(URL, data="method=GET", headers=headers)
    assert response.status_code == 415


def test_compare_needs_a_client_and_v2(client, headers):
    assert client.post(URL, json={"method": "GET", "path": "/books"}).status_code == 401
    v1 = client.post("/api/v1/compare", json={"method": "GET", "path": "/books"}, headers=headers)
    assert v1.status_code == 404


def test_an_api_key_compares_as_itself(app, client, admin):
    from core.services import api_keys

    with app.app_context():
        owner = db.session.get(type(admin), admin.id)
        _key, plaintext = api_keys.create_key("reader", ["read"], owner)
    key = {"X-API-Key": plaintext}

    read = _compare(client, key, method="GET", path="/books")
    write = _compare(client, key, method="POST", path="/books", body={"title": "T", "author": "A"})

    assert read["v1"]["status"] == 200
    assert write["v1"]["status"] == write["v2"]["status"] == 403  # a read-only key


def test_compare_is_in_the_v2_openapi_document(client):
    document = client.get("/api/v2/openapi.json").get_json()
    operation = document["paths"]["/compare"]["post"]
    assert "200" in operation["responses"] and "422" in operation["responses"]
    assert "/compare" not in client.get("/api/v1/openapi.json").get_json()["paths"]


def test_compare_is_rate_limited_once_per_compare_not_per_run(make_app, user, auth_headers):
    app = make_app(RATELIMIT_ENABLED="true", RATELIMIT_DEFAULT="4 per minute")
    client = app.test_client()
    headers = auth_headers(user)
    request = {"method": "GET", "path": "/books"}

    statuses = [client.post(URL, json=request, headers=headers).status_code for _ in range(5)]

    # Each compare makes three runs, yet spends one request of the caller's budget.
    assert statuses == [200, 200, 200, 200, 429]
