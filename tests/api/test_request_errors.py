"""Malformed requests to /books: media type, JSON, size, routes and methods, in both versions."""

from __future__ import annotations

import json

import pytest

from core.extensions import db
from core.models import Book
from tests.conftest import Api

BOOK = {"title": "Emma", "author": "Jane Austen"}


def assert_error(api: Api, response, status: int, reason: str) -> dict:
    """A JSON error in the serving version's shape, with the given status and reason."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    assert response.headers["API-Version"] == api.version
    error = api.error(response)
    assert error["reason"] == reason
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.fixture
def snapshot(app):
    """Every book row, to show that a refused request changed nothing."""

    def read() -> list[tuple]:
        with app.app_context():
            books = db.session.scalars(db.select(Book).order_by(Book.id)).all()
            return [(b.id, b.title, b.author, b.isbn, b.year, b.description) for b in books]

    return read


@pytest.fixture
def book(make_book, user):
    return make_book(creator=user, title="Persuasion", author="Jane Austen")


@pytest.fixture
def writes(api, book, user, auth_headers):
    """Send a raw body as the book's creator, by POST /books or PUT /books/<id>."""

    def send(method: str, **kw):
        path = "/books" if method == "post" else f"/books/{book.id}"
        return getattr(api, method)(path, headers=auth_headers(user), **kw)

    return send


WRITES = pytest.mark.parametrize("method", ["post", "put"])


# --- media type -----------------------------------------------------------------------------


@WRITES
@pytest.mark.parametrize(
    "kw",
    [
        pytest.param({"data": json.dumps(BOOK), "content_type": "text/plain"}, id="text-plain"),
        pytest.param({"data": BOOK}, id="form"),
        pytest.param({"data": json.dumps(BOOK)}, id="no-content-type"),
        pytest.param({"data": json.dumps(BOOK), "content_type": "application/xml"}, id="xml"),
    ],
)
def test_body_that_is_not_declared_json_is_415(writes, api, snapshot, method, kw):
    before = snapshot()
    response = writes(method, **kw)

    assert_error(api, response, 415, "unsupported_media_type")
    assert snapshot() == before


def test_json_with_a_charset_parameter_is_accepted(writes, api):
    response = writes("post", data=json.dumps(BOOK), content_type="application/json; charset=utf-8")

    assert response.status_code == 201
    assert api.data(response)["title"] == "Emma"


# --- malformed bodies -----------------------------------------------------------------------


@WRITES
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param('{"title": "Emma", ', id="truncated"),
        pytest.param("{'title': 'Emma'}", id="single-quotes"),
        pytest.param('{"title": "Emma",}', id="trailing-comma"),
        pytest.param("", id="empty"),
        pytest.param(b'{"title": "\xff\xfe", "author": "x"}', id="invalid-utf8"),
    ],
)
def test_malformed_json_is_400(writes, api, snapshot, method, raw):
    before = snapshot()
    response = writes(method, data=raw, content_type="application/json")

    assert_error(api, response, 400, "malformed_json")
    assert snapshot() == before


@WRITES
@pytest.mark.parametrize(
    "raw",
    ['[{"title": "Emma", "author": "Jane Austen"}]', '"Emma"', "null", "42", "true"],
    ids=["array", "string", "null", "number", "boolean"],
)
def test_json_body_that_is_not_an_object_is_400(writes, api, snapshot, method, raw):
    before = snapshot()
    response = writes(method, data=raw, content_type="application/json")

    assert_error(api, response, 400, "invalid_body")
    assert snapshot() == before


@WRITES
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("[" * 100_000, id="unclosed"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="closed"),
        pytest.param('{"title": ' + "[" * 100_000 + "]" * 100_000 + "}", id="inside-field"),
        pytest.param('{"a": ' * 50_000 + "1" + "}" * 50_000, id="nested-objects"),
    ],
)
def test_deeply_nested_json_is_400_not_500(writes, api, snapshot, method, raw):
    before = snapshot()
    response = writes(method, data=raw, content_type="application/json")

    assert_error(api, response, 400, "malformed_json")
    assert snapshot() == before


# --- size -----------------------------------------------------------------------------------


@pytest.fixture
def small_api(make_app, version) -> Api:
    """The parametrized version on an app whose body limit is 1024 bytes."""
    return Api(make_app(MAX_CONTENT_LENGTH="1024").test_client(), version)


@WRITES
def test_body_over_the_configured_limit_is_413(
    small_api, book, user, auth_headers, snapshot, method
):
    body = json.dumps({**BOOK, "description": "x" * 1500})
    path = "/books" if method == "post" else f"/books/{book.id}"
    before = snapshot()
    response = getattr(small_api, method)(
        path, data=body, content_type="application/json", headers=auth_headers(user)
    )

    error = assert_error(small_api, response, 413, "payload_too_large")
    assert "1024" in error["message"]
    assert snapshot() == before


def test_body_under_the_configured_limit_is_accepted(small_api, user, auth_headers):
    body = json.dumps({**BOOK, "description": "x" * 900})
    assert len(body) < 1024
    response = small_api.post(
        "/books", data=body, content_type="application/json", headers=auth_headers(user)
    )

    assert response.status_code == 201
    assert small_api.data(response)["description"] == "x" * 900


def test_body_over_one_mebibyte_is_413_by_default(writes, api, snapshot):
    before = snapshot()
    body = json.dumps({**BOOK, "description": "x" * (1024 * 1024)})
    response = writes("post", data=body, content_type="application/json")

    assert_error(api, response, 413, "payload_too_large")
    assert snapshot() == before


# --- routes and methods ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/books/1/extra", "/book", "/books/"])
def test_unknown_route_is_404_in_the_versions_shape(api, path):
    response = api.get(path)

    assert_error(api, response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path_of", "allowed", "refused"),
    [
        ("patch", lambda b: f"/books/{b.id}", {"GET", "PUT", "DELETE"}, "PATCH"),
        ("post", lambda b: f"/books/{b.id}", {"GET", "PUT", "DELETE"}, "POST"),
        ("delete", lambda b: "/books", {"GET", "POST"}, "DELETE"),
        ("put", lambda b: "/books", {"GET", "POST"}, "PUT"),
    ],
    ids=["patch-book", "post-book", "delete-collection", "put-collection"],
)
def test_wrong_method_is_405_with_an_allow_header(
    api, book, user, auth_headers, snapshot, method, path_of, allowed, refused
):
    before = snapshot()
    response = api.client.open(
        api.url(path_of(book)), method=method.upper(), json=BOOK, headers=auth_headers(user)
    )

    assert_error(api, response, 405, "method_not_allowed")
    allow = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed <= allow
    assert refused not in allow
    assert snapshot() == before


@pytest.mark.parametrize("method", ["get", "put", "delete"])
@pytest.mark.parametrize("book_id", ["abc", "1.5", "-1", "1e3"])
def test_non_integer_book_id_is_404(api, admin, auth_headers, book, snapshot, method, book_id):
    before = snapshot()
    response = getattr(api, method)(
        f"/books/{book_id}", json={"title": "x"}, headers=auth_headers(admin)
    )

    assert_error(api, response, 404, "not_found")
    assert snapshot() == before
