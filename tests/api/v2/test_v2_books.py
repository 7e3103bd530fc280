"""v2 /books wire shapes: the success envelope, book links, pagination and error envelopes."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

BASE = "http://localhost/api/v2"
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
    "links",
}
PAGINATION_KEYS = {"page", "per_page", "total_pages", "total_items", "has_next", "has_prev"}
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


def assert_v2_book(data: dict) -> None:
    assert set(data) == BOOK_KEYS, data
    assert data["links"] == {"self": f"{BASE}/books/{data['id']}", "collection": f"{BASE}/books"}


def assert_envelope(response, status: int, keys: set[str]) -> dict:
    assert response.status_code == status
    assert response.headers["API-Version"] == "2"
    body = response.get_json()
    assert set(body) == keys, body
    assert body["success"] is True
    return body


def assert_error_envelope(response, status: int, reason: str, *, details: bool = False) -> dict:
    assert response.status_code == status
    assert response.headers["API-Version"] == "2"
    body = response.get_json()
    assert set(body) == {"success", "error"}, body
    assert body["success"] is False
    error = body["error"]
    expected = {"message", "code", "reason"} | ({"details"} if details else set())
    assert set(error) == expected, error
    assert isinstance(error["message"], str) and error["message"]
    assert error["code"] == status and type(error["code"]) is int
    assert error["reason"] == reason
    return error


def page_of(url: str) -> dict[str, list[str]]:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{BASE}/books"
    return parse_qs(parts.query)


# --- single books ---------------------------------------------------------------------------


def test_v2_book_is_enveloped_with_links(v2, book, user):
    body = assert_envelope(v2.get(f"/books/{book.id}"), 200, {"success", "data", "links"})

    assert_v2_book(body["data"])
    assert {k: body["data"][k] for k in FULL} == FULL
    assert (body["data"]["id"], body["data"]["created_by"]) == (book.id, user.id)
    assert body["links"]["self"] == f"{BASE}/books/{book.id}"
    assert body["links"]["collection"] == f"{BASE}/books"


@pytest.mark.parametrize(
    ("base_url", "script_root"),
    [
        ("http://localhost", ""),
        ("https://books.example.org", ""),
        ("http://localhost:8080", "/catalogue"),
        ("http://127.0.0.1", "/other"),
    ],
)
def test_v2_links_follow_each_requests_host_scheme_and_script_root(
    v2, make_book, base_url, script_root
):
    """Links are built once per endpoint and URL root, then filled in: each request still gets
    its own host, scheme and script root, and each book its own id."""
    first, second = make_book(title="First"), make_book(title="Second")
    for book in (first, second, first):
        response = v2.client.get(
            f"/api/v2/books/{book.id}",
            base_url=base_url + script_root,
            headers={"Host": base_url.split("://", 1)[1]},
        )
        links = v2.data(response)["links"]
        assert links["self"] == f"{base_url}{script_root}/api/v2/books/{book.id}"
        assert links["collection"] == f"{base_url}{script_root}/api/v2/books"


def test_v2_book_self_link_serves_the_book(v2, book):
    data = v2.data(v2.get(f"/books/{book.id}"))

    assert v2.data(v2.client.get(data["links"]["self"])) == data
    assert book.id in [b["id"] for b in v2.data(v2.client.get(data["links"]["collection"]))]


def test_v2_create_is_enveloped_and_location_is_the_self_link(v2, user, auth_headers):
    response = v2.post("/books", json=FULL, headers=auth_headers(user))

    body = assert_envelope(response, 201, {"success", "data", "links"})
    assert_v2_book(body["data"])
    assert response.headers["Location"] == body["data"]["links"]["self"]


def test_v2_update_is_enveloped(v2, book, user, auth_headers):
    response = v2.put(f"/books/{book.id}", json={"year": 1966}, headers=auth_headers(user))

    body = assert_envelope(response, 200, {"success", "data", "links"})
    assert_v2_book(body["data"])
    assert body["data"]["year"] == 1966


def test_v2_delete_answers_200_with_a_message(v2, book, admin, auth_headers):
    response = v2.delete(f"/books/{book.id}", headers=auth_headers(admin))

    assert response.status_code == 200
    assert response.get_json() == {"success": True, "message": "Book deleted"}
    assert v2.get(f"/books/{book.id}").status_code == 404


# --- lists ----------------------------------------------------------------------------------


@pytest.fixture
def seven(make_book):
    return [make_book(author="Writer") for _ in range(7)] + [make_book(author="Other")]


def test_v2_list_has_data_pagination_and_links(v2, seven):
    response = v2.get("/books?per_page=3&page=2&author=writer&sort=title&order=asc")

    body = assert_envelope(response, 200, {"success", "data", "pagination", "links"})
    pagination = body["pagination"]
    # Numbered pages carry cursors too (contract section 8), opaque strings.
    assert isinstance(pagination.pop("next_cursor"), str)
    assert isinstance(pagination.pop("prev_cursor"), str)
    assert pagination == {
        "page": 2,
        "per_page": 3,
        "total_pages": 3,
        "total_items": 7,
        "has_next": True,
        "has_prev": True,
    }
    assert len(body["data"]) == 3
    for item in body["data"]:
        assert_v2_book(item)
    links = body["links"]
    assert set(links) == {"self", "first", "last", "next", "prev"}
    kept = {"per_page": ["3"], "author": ["writer"], "sort": ["title"], "order": ["asc"]}
    for rel, page in (("self", 2), ("first", 1), ("last", 3), ("next", 3), ("prev", 1)):
        assert page_of(links[rel]) == {**kept, "page": [str(page)]}, rel


def test_v2_first_page_has_no_prev(v2, seven):
    body = v2.get("/books?per_page=3").get_json()

    assert (body["pagination"]["has_prev"], body["pagination"]["has_next"]) == (False, True)
    assert set(body["links"]) == {"self", "first", "last", "next"}


def test_v2_last_page_has_no_next(v2, seven):
    body = v2.get("/books?per_page=3&page=3").get_json()

    assert (body["pagination"]["has_prev"], body["pagination"]["has_next"]) == (True, False)
    assert set(body["links"]) == {"self", "first", "last", "prev"}
    assert len(body["data"]) == 2


def test_v2_page_past_the_end_keeps_totals_and_links_back(v2, seven):
    body = v2.get("/books?per_page=3&page=7").get_json()

    assert body["data"] == []
    assert body["pagination"] == {
        "page": 7,
        "per_page": 3,
        "total_pages": 3,
        "total_items": 8,
        "has_next": False,
        "has_prev": True,
        # No book on this page to take a position from: page numbers lead back.
        "next_cursor": None,
        "prev_cursor": None,
    }
    assert set(body["links"]) == {"self", "first", "last", "prev"}
    assert page_of(body["links"]["prev"])["page"] == ["3"]


def test_v2_empty_list_has_zero_pages_and_last_is_page_one(v2):
    body = assert_envelope(v2.get("/books"), 200, {"success", "data", "pagination", "links"})

    assert body["data"] == []
    assert body["pagination"] == {
        "page": 1,
        "per_page": 20,
        "total_pages": 0,
        "total_items": 0,
        "has_next": False,
        "has_prev": False,
        "next_cursor": None,
        "prev_cursor": None,
    }
    assert set(body["links"]) == {"self", "first", "last"}
    assert page_of(body["links"]["last"]) == {"page": ["1"]}


def test_v2_link_header_matches_the_body_links(v2, seven):
    response = v2.get("/books?per_page=3&page=2")
    links = response.get_json()["links"]
    header = response.headers["Link"]

    for rel in ("first", "last", "next", "prev"):
        assert f'<{links[rel]}>; rel="{rel}"' in header
    assert 'rel="self"' not in header
    assert response.headers["X-Total-Count"] == "8"


def test_v2_clamped_per_page_is_reported(v2, seven):
    body = v2.get("/books?per_page=500").get_json()

    assert body["pagination"]["per_page"] == 100
    assert page_of(body["links"]["self"])["per_page"] == ["500"]


def test_v2_list_books_equal_the_single_book_objects(v2, book):
    listed = v2.get("/books").get_json()["data"]

    assert listed == [v2.data(v2.get(f"/books/{book.id}"))]


# --- errors ---------------------------------------------------------------------------------


def test_v2_not_found_error_envelope(v2):
    assert_error_envelope(v2.get("/books/4242"), 404, "not_found")


def test_v2_validation_error_envelope_has_details(v2, user, auth_headers):
    response = v2.post("/books", json={"title": "", "year": "1965"}, headers=auth_headers(user))

    error = assert_error_envelope(response, 422, "validation_failed", details=True)
    assert set(error["details"]) == {"title", "author", "year"}
    assert all(isinstance(m, list) and m for m in error["details"].values())


def test_v2_missing_token_error_envelope(v2):
    assert_error_envelope(v2.post("/books", json=FULL), 401, "token_missing")


def test_v2_forbidden_error_envelope(v2, book, user, auth_headers):
    response = v2.delete(f"/books/{book.id}", headers=auth_headers(user))

    assert_error_envelope(response, 403, "forbidden")


def test_v2_duplicate_isbn_error_envelope(v2, book, user, auth_headers):
    error = assert_error_envelope(
        v2.post("/books", json=FULL, headers=auth_headers(user)),
        409,
        "duplicate_isbn",
        details=True,
    )
    assert set(error["details"]) == {"isbn"}


def test_v2_invalid_query_error_envelope(v2):
    error = assert_error_envelope(v2.get("/books?page=x"), 400, "invalid_query", details=True)

    assert set(error["details"]) == {"page"}


@pytest.mark.parametrize(
    ("kw", "status", "reason"),
    [
        ({"data": "{", "content_type": "application/json"}, 400, "malformed_json"),
        ({"data": json.dumps([FULL]), "content_type": "application/json"}, 400, "invalid_body"),
        ({"data": json.dumps(FULL), "content_type": "text/plain"}, 415, "unsupported_media_type"),
    ],
    ids=["malformed", "not-an-object", "not-json"],
)
def test_v2_request_error_envelopes(v2, user, auth_headers, kw, status, reason):
    assert_error_envelope(v2.post("/books", headers=auth_headers(user), **kw), status, reason)


def test_v2_method_not_allowed_error_envelope(v2):
    response = v2.client.patch("/api/v2/books")

    assert_error_envelope(response, 405, "method_not_allowed")
    assert "Allow" in response.headers
