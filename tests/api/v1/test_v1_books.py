"""v1 /books wire shapes: flat book objects, the flat list, 204 deletes and flat errors."""

from __future__ import annotations

import json

import pytest

BOOK_KEYS = {
    "id",
    "title",
    "author",
    "isbn",
    "year",
    "description",
    "created_at",
    "updated_at",
    "created_by",
}
FULL = {
    "title": "Dune",
    "author": "Frank Herbert",
    "isbn": "9780441172719",
    "year": 1965,
    "description": "Spice and sand.",
}


@pytest.fixture
def book(make_book, user):
    return make_book(creator=user, **FULL)


def assert_flat_book(body: dict) -> None:
    assert set(body) == BOOK_KEYS, body
    assert isinstance(body["id"], int)
    assert isinstance(body["created_at"], str) and isinstance(body["updated_at"], str)


def assert_flat_error(response, status: int, code: str, *, details: bool = False) -> dict:
    assert response.status_code == status
    assert response.headers["API-Version"] == "1"
    body = response.get_json()
    assert set(body) == ({"error", "code", "details"} if details else {"error", "code"}), body
    assert isinstance(body["error"], str) and body["error"]
    assert body["code"] == code
    return body


def test_v1_book_is_the_flat_object(v1, book, user):
    response = v1.get(f"/books/{book.id}")

    assert response.status_code == 200
    assert response.headers["API-Version"] == "1"
    body = response.get_json()
    assert_flat_book(body)
    assert {k: body[k] for k in FULL} == FULL
    assert (body["id"], body["created_by"]) == (book.id, user.id)


def test_v1_create_answers_the_flat_book_and_location(v1, user, auth_headers):
    response = v1.post("/books", json=FULL, headers=auth_headers(user))

    assert response.status_code == 201
    body = response.get_json()
    assert_flat_book(body)
    assert response.headers["Location"] == f"http://localhost/api/v1/books/{body['id']}"


def test_v1_update_answers_the_flat_book(v1, book, user, auth_headers):
    response = v1.put(f"/books/{book.id}", json={"year": 1966}, headers=auth_headers(user))

    assert response.status_code == 200
    body = response.get_json()
    assert_flat_book(body)
    assert body["year"] == 1966


def test_v1_list_is_books_total_page_per_page(v1, make_book):
    made = [make_book() for _ in range(5)]
    response = v1.get("/books?per_page=2&page=2&sort=title&order=asc")

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"books", "total", "page", "per_page"}
    assert (body["total"], body["page"], body["per_page"]) == (5, 2, 2)
    assert len(body["books"]) == 2
    for item in body["books"]:
        assert_flat_book(item)
    expected = sorted(made, key=lambda b: (b.title.lower(), b.id))[2:4]
    assert [b["id"] for b in body["books"]] == [b.id for b in expected]
    assert response.headers["X-Total-Count"] == "5"


def test_v1_list_books_equal_the_single_book_objects(v1, book):
    listed = v1.get("/books").get_json()["books"]

    assert listed == [v1.get(f"/books/{book.id}").get_json()]


def test_v1_delete_is_204_with_an_empty_body(v1, book, admin, auth_headers):
    response = v1.delete(f"/books/{book.id}", headers=auth_headers(admin))

    assert response.status_code == 204
    assert response.get_data() == b""
    assert v1.get(f"/books/{book.id}").status_code == 404


def test_v1_not_found_error_is_flat(v1):
    assert_flat_error(v1.get("/books/4242"), 404, "not_found")


def test_v1_validation_error_carries_details(v1, user, auth_headers):
    response = v1.post("/books", json={"title": "", "year": "1965"}, headers=auth_headers(user))

    body = assert_flat_error(response, 422, "validation_failed", details=True)
    assert set(body["details"]) == {"title", "author", "year"}
    assert all(isinstance(m, list) and m for m in body["details"].values())


def test_v1_missing_token_error_is_flat(v1):
    assert_flat_error(v1.post("/books", json=FULL), 401, "token_missing")


def test_v1_forbidden_error_is_flat(v1, book, user, auth_headers):
    assert_flat_error(v1.delete(f"/books/{book.id}", headers=auth_headers(user)), 403, "forbidden")


def test_v1_duplicate_isbn_error_is_flat(v1, book, user, auth_headers):
    response = v1.post("/books", json=FULL, headers=auth_headers(user))

    body = assert_flat_error(response, 409, "duplicate_isbn", details=True)
    assert set(body["details"]) == {"isbn"}


@pytest.mark.parametrize(
    ("kw", "status", "code"),
    [
        ({"data": "{", "content_type": "application/json"}, 400, "malformed_json"),
        ({"data": json.dumps([FULL]), "content_type": "application/json"}, 400, "invalid_body"),
        ({"data": json.dumps(FULL), "content_type": "text/plain"}, 415, "unsupported_media_type"),
    ],
    ids=["malformed", "not-an-object", "not-json"],
)
def test_v1_request_errors_are_flat(v1, user, auth_headers, kw, status, code):
    assert_flat_error(v1.post("/books", headers=auth_headers(user), **kw), status, code)


def test_v1_method_not_allowed_error_is_flat(v1):
    response = v1.client.patch("/api/v1/books")

    assert_flat_error(response, 405, "method_not_allowed")
    assert "Allow" in response.headers


def test_v1_lenient_query_still_answers_the_flat_list(v1, make_book):
    make_book()
    body = v1.get("/books?page=x&per_page=y").get_json()

    assert set(body) == {"books", "total", "page", "per_page"}
    assert (body["page"], body["per_page"], body["total"]) == (1, 20, 1)
