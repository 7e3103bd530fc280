"""Book create, read, update and delete, and body validation, in both API versions."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from core.extensions import db
from core.models import Book

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
COLUMNS = (
    *("id", "title", "author", "isbn", "year", "description"),
    *("created_at", "updated_at", "created_by"),
)
LONG_AGO = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
FULL = {
    "title": "Dune",
    "author": "Frank Herbert",
    "isbn": "9780441172719",
    "year": 1965,
    "description": "Spice and sand.",
}


def parse_timestamp(text: str) -> datetime:
    assert TIMESTAMP.match(text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@pytest.fixture
def stored(app):
    """Read a book's row straight from the database (None when it does not exist)."""

    def read(book_id: int) -> dict | None:
        with app.app_context():
            book = db.session.get(Book, book_id)
            return None if book is None else {c: getattr(book, c) for c in COLUMNS}

    return read


@pytest.fixture
def book_count(app):
    def count() -> int:
        with app.app_context():
            return db.session.scalar(db.select(db.func.count(Book.id)))

    return count


@pytest.fixture
def old_book(make_book, user):
    """A book created by ``user`` long ago, so a later change visibly moves ``updated_at``."""
    return make_book(creator=user, **FULL, created_at=LONG_AGO, updated_at=LONG_AGO)


# --- create ---------------------------------------------------------------------------------


def test_create_book_answers_201_with_location_and_the_book(api, user, auth_headers, stored):
    before = datetime.now(UTC).replace(microsecond=0)
    response = api.post("/books", json=FULL, headers=auth_headers(user))
    after = datetime.now(UTC)

    assert response.status_code == 201, response.get_json()
    book = api.data(response)
    assert {k: book[k] for k in FULL} == FULL
    assert book["created_by"] == user.id
    assert isinstance(book["id"], int)
    created = parse_timestamp(book["created_at"])
    assert before <= created <= after  # UTC, not local time
    assert created <= parse_timestamp(book["updated_at"]) <= after
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc) == ("http", "localhost")
    assert location.path == f"/api/v{api.version}/books/{book['id']}"
    row = stored(book["id"])
    assert {k: row[k] for k in FULL} == FULL
    assert row["created_by"] == user.id


def test_location_of_created_book_serves_that_book(api, user, auth_headers):
    response = api.post("/books", json=FULL, headers=auth_headers(user))
    fetched = api.client.get(response.headers["Location"])

    assert fetched.status_code == 200
    assert api.data(fetched) == api.data(response)


def test_create_with_required_fields_only_leaves_optional_fields_null(api, user, auth_headers):
    response = api.post(
        "/books", json={"title": "Emma", "author": "Jane Austen"}, headers=auth_headers(user)
    )

    assert response.status_code == 201
    book = api.data(response)
    assert (book["isbn"], book["year"], book["description"]) == (None, None, None)


def test_create_trims_title_and_author(api, user, auth_headers, stored):
    body = {"title": "  Emma \n", "author": "\tJane Austen  "}
    response = api.post("/books", json=body, headers=auth_headers(user))

    assert response.status_code == 201
    book = api.data(response)
    assert (book["title"], book["author"]) == ("Emma", "Jane Austen")
    assert stored(book["id"])["title"] == "Emma"


def test_two_books_without_isbn_can_coexist(api, user, auth_headers, book_count):
    for title in ("First", "Second"):
        body = {"title": title, "author": "Anon", "isbn": None}
        assert api.post("/books", json=body, headers=auth_headers(user)).status_code == 201
    assert book_count() == 2


# --- read -----------------------------------------------------------------------------------


def test_get_book_returns_it(api, old_book):
    response = api.get(f"/books/{old_book.id}")

    assert response.status_code == 200
    book = api.data(response)
    assert {k: book[k] for k in FULL} == FULL
    assert book["id"] == old_book.id
    assert book["created_by"] == old_book.created_by
    assert book["created_at"] == book["updated_at"] == "2020-01-02T03:04:05Z"


def test_get_unknown_book_is_404(api, make_book):
    book = make_book()
    response = api.get(f"/books/{book.id + 1}")

    assert response.status_code == 404
    assert api.error(response)["reason"] == "not_found"


@pytest.mark.parametrize("book_id", ["0", "2147483648", "99999999999999999999"])
def test_get_out_of_range_id_is_404(api, book_id):
    response = api.get(f"/books/{book_id}")

    assert response.status_code == 404
    assert api.error(response)["reason"] == "not_found"


@pytest.mark.parametrize("book_id", ["2147483648", "99999999999999999999"])
def test_update_and_delete_of_out_of_range_id_are_404(api, admin, auth_headers, book_id):
    update = api.put(f"/books/{book_id}", json={"title": "x"}, headers=auth_headers(admin))
    delete = api.delete(f"/books/{book_id}", headers=auth_headers(admin))

    for response in (update, delete):
        assert response.status_code == 404
        assert api.error(response)["reason"] == "not_found"


# --- update ---------------------------------------------------------------------------------


def test_creator_update_changes_only_the_fields_sent(api, user, auth_headers, old_book, stored):
    response = api.put(f"/books/{old_book.id}", json={"year": 1966}, headers=auth_headers(user))

    assert response.status_code == 200, response.get_json()
    book = api.data(response)
    assert book["year"] == 1966
    assert {k: book[k] for k in FULL if k != "year"} == {
        k: v for k, v in FULL.items() if k != "year"
    }
    assert book["created_at"] == "2020-01-02T03:04:05Z"
    assert book["created_by"] == user.id
    assert parse_timestamp(book["updated_at"]) > LONG_AGO
    row = stored(old_book.id)
    assert row["year"] == 1966
    assert row["title"] == FULL["title"]
    assert row["created_at"] == LONG_AGO
    assert row["updated_at"] > LONG_AGO


def test_update_response_matches_a_later_get(api, user, auth_headers, old_book):
    updated = api.put(
        f"/books/{old_book.id}", json={"title": "Dune Messiah"}, headers=auth_headers(user)
    )

    assert api.data(api.get(f"/books/{old_book.id}")) == api.data(updated)


def test_another_user_cannot_update_a_book(api, make_user, auth_headers, old_book, stored):
    before = stored(old_book.id)
    response = api.put(
        f"/books/{old_book.id}", json={"title": "Mine now"}, headers=auth_headers(make_user())
    )

    assert response.status_code == 403
    assert api.error(response)["reason"] == "forbidden"
    assert stored(old_book.id) == before


def test_admin_can_update_any_book(api, admin, auth_headers, old_book, stored):
    response = api.put(
        f"/books/{old_book.id}", json={"title": "Dune (revised)"}, headers=auth_headers(admin)
    )

    assert response.status_code == 200
    assert api.data(response)["title"] == "Dune (revised)"
    row = stored(old_book.id)
    assert row["title"] == "Dune (revised)"
    assert row["created_by"] == old_book.created_by


def test_update_unknown_book_is_404(api, user, auth_headers, make_book):
    book = make_book(creator=user)
    response = api.put(f"/books/{book.id + 1}", json={"title": "x"}, headers=auth_headers(user))

    assert response.status_code == 404
    assert api.error(response)["reason"] == "not_found"


def test_put_empty_object_changes_nothing(api, user, auth_headers, old_book, stored):
    before = api.data(api.get(f"/books/{old_book.id}"))
    row = stored(old_book.id)
    response = api.put(f"/books/{old_book.id}", json={}, headers=auth_headers(user))

    assert response.status_code == 200
    assert api.data(response) == before
    assert stored(old_book.id) == row


def test_null_clears_optional_fields(api, user, auth_headers, old_book, stored):
    body = {"isbn": None, "year": None, "description": None}
    response = api.put(f"/books/{old_book.id}", json=body, headers=auth_headers(user))

    assert response.status_code == 200
    book = api.data(response)
    assert (book["isbn"], book["year"], book["description"]) == (None, None, None)
    assert (book["title"], book["author"]) == (FULL["title"], FULL["author"])
    row = stored(old_book.id)
    assert (row["isbn"], row["year"], row["description"]) == (None, None, None)


def test_cleared_isbn_can_be_reused(api, user, auth_headers, old_book):
    api.put(f"/books/{old_book.id}", json={"isbn": None}, headers=auth_headers(user))
    response = api.post("/books", json=FULL, headers=auth_headers(user))

    assert response.status_code == 201
    assert api.data(response)["isbn"] == FULL["isbn"]


def test_get_edit_put_round_trip_succeeds(api, user, auth_headers, old_book, stored):
    book = api.data(api.get(f"/books/{old_book.id}"))
    book["title"] = "Children of Dune"
    response = api.put(f"/books/{old_book.id}", json=book, headers=auth_headers(user))

    assert response.status_code == 200, response.get_json()
    after = api.data(response)
    assert after["title"] == "Children of Dune"
    assert {k: after[k] for k in ("id", "author", "isbn", "year", "created_by", "created_at")} == {
        k: book[k] for k in ("id", "author", "isbn", "year", "created_by", "created_at")
    }
    assert stored(old_book.id)["title"] == "Children of Dune"


def test_read_only_fields_in_update_are_ignored(
    api, user, make_user, auth_headers, old_book, stored
):
    other = make_user()
    body = {
        "id": old_book.id + 100,
        "created_by": other.id,
        "created_at": "1999-01-01T00:00:00Z",
        "updated_at": "1999-01-01T00:00:00Z",
        "links": {"self": "http://example.com/"},
        "year": 1970,
    }
    response = api.put(f"/books/{old_book.id}", json=body, headers=auth_headers(user))

    assert response.status_code == 200, response.get_json()
    book = api.data(response)
    assert (book["id"], book["created_by"], book["year"]) == (old_book.id, user.id, 1970)
    assert book["created_at"] == "2020-01-02T03:04:05Z"
    row = stored(old_book.id)
    assert (row["created_by"], row["created_at"], row["year"]) == (user.id, LONG_AGO, 1970)
    assert stored(old_book.id + 100) is None


# --- delete ---------------------------------------------------------------------------------


def test_admin_deletes_a_book(api, admin, auth_headers, old_book, stored):
    response = api.delete(f"/books/{old_book.id}", headers=auth_headers(admin))

    assert response.status_code == (200 if api.enveloped else 204)
    assert stored(old_book.id) is None
    assert api.get(f"/books/{old_book.id}").status_code == 404


def test_deleting_a_book_twice_is_404_the_second_time(api, admin, auth_headers, old_book):
    api.delete(f"/books/{old_book.id}", headers=auth_headers(admin))
    response = api.delete(f"/books/{old_book.id}", headers=auth_headers(admin))

    assert response.status_code == 404
    assert api.error(response)["reason"] == "not_found"


def test_non_admin_cannot_delete_even_their_own_book(api, user, auth_headers, old_book, stored):
    before = stored(old_book.id)
    response = api.delete(f"/books/{old_book.id}", headers=auth_headers(user))

    assert response.status_code == 403
    assert api.error(response)["reason"] == "forbidden"
    assert stored(old_book.id) == before


def test_non_admin_delete_of_unknown_book_is_403(api, user, auth_headers):
    response = api.delete("/books/424242", headers=auth_headers(user))

    assert response.status_code == 403
    assert api.error(response)["reason"] == "forbidden"


def test_admin_delete_of_unknown_book_is_404(api, admin, auth_headers, make_book, book_count):
    book = make_book()
    response = api.delete(f"/books/{book.id + 1}", headers=auth_headers(admin))

    assert response.status_code == 404
    assert api.error(response)["reason"] == "not_found"
    assert book_count() == 1


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path_of"),
    [
        ("post", lambda book: "/books"),
        ("put", lambda book: f"/books/{book.id}"),
        ("delete", lambda book: f"/books/{book.id}"),
    ],
    ids=["create", "update", "delete"],
)
def test_anonymous_writes_are_401_token_missing(api, old_book, stored, book_count, method, path_of):
    before = stored(old_book.id)
    response = getattr(api, method)(path_of(old_book), json={"title": "Anonymous"})

    assert response.status_code == 401
    assert api.error(response)["reason"] == "token_missing"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert stored(old_book.id) == before
    assert book_count() == 1


# --- validation -----------------------------------------------------------------------------


def test_create_without_title_and_author_is_422_naming_both(api, user, auth_headers, book_count):
    response = api.post("/books", json={"year": 2001}, headers=auth_headers(user))

    assert response.status_code == 422
    error = api.error(response)
    assert error["reason"] == "validation_failed"
    assert set(error["details"]) == {"title", "author"}
    assert book_count() == 0


def test_every_validation_problem_is_reported_at_once(api, user, auth_headers, book_count):
    body = {
        "title": "",
        "author": "a" * 101,
        "isbn": "123",
        "year": 3000,
        "description": "d" * 2001,
        "foo": "bar",
    }
    response = api.post("/books", json=body, headers=auth_headers(user))

    assert response.status_code == 422
    details = api.error(response)["details"]
    assert set(details) == {"title", "author", "isbn", "year", "description", "foo"}
    for messages in details.values():
        assert isinstance(messages, list)
        assert messages and all(isinstance(m, str) and m for m in messages)
    assert book_count() == 0


INVALID_FIELDS = [
    pytest.param("title", "t" * 201, id="title-201-chars"),
    pytest.param("title", "   \t\n ", id="title-whitespace-only"),
    pytest.param("title", "", id="title-empty"),
    pytest.param("title", None, id="title-null"),
    pytest.param("title", 42, id="title-number"),
    pytest.param("author", "a" * 101, id="author-101-chars"),
    pytest.param("author", "  ", id="author-whitespace-only"),
    pytest.param("isbn", "978044117271", id="isbn-12-digits"),
    pytest.param("isbn", "97804411727190", id="isbn-14-digits"),
    pytest.param("isbn", "978044117271X", id="isbn-trailing-letter"),
    pytest.param("isbn", "abcdefghijklm", id="isbn-letters"),
    pytest.param("isbn", "978-0-441-17271-9", id="isbn-hyphens"),
    pytest.param("isbn", "9780441172719\n", id="isbn-trailing-newline"),
    pytest.param("isbn", 9780441172719, id="isbn-number"),
    pytest.param("year", -1, id="year-minus-1"),
    pytest.param("year", 2031, id="year-2031"),
    pytest.param("year", "2001", id="year-string"),
    pytest.param("year", True, id="year-true"),
    pytest.param("year", 1.5, id="year-fraction"),
    pytest.param("description", "d" * 2001, id="description-2001-chars"),
    pytest.param("description", ["not", "text"], id="description-list"),
    # PostgreSQL cannot store NUL in text; every database must refuse it the same way.
    pytest.param("title", "Dune\x00", id="title-nul"),
    pytest.param("author", "Frank\x00Herbert", id="author-nul"),
    pytest.param("description", "\x00", id="description-nul"),
]


@pytest.mark.parametrize(("field", "value"), INVALID_FIELDS)
def test_invalid_field_is_422_naming_it_on_create_and_update(
    api, user, auth_headers, old_book, stored, book_count, field, value
):
    before = stored(old_book.id)
    create = api.post(
        "/books",
        json={"title": "Emma", "author": "Jane Austen", field: value},
        headers=auth_headers(user),
    )
    update = api.put(f"/books/{old_book.id}", json={field: value}, headers=auth_headers(user))

    for response in (create, update):
        assert response.status_code == 422, response.get_json()
        error = api.error(response)
        assert error["reason"] == "validation_failed"
        assert set(error["details"]) == {field}
    assert book_count() == 1
    assert stored(old_book.id) == before


@pytest.mark.parametrize(
    ("sent", "saved"),
    [
        pytest.param(
            {"title": "t" * 200, "author": "a" * 100, "year": 2030, "description": "d" * 2000},
            {"title": "t" * 200, "author": "a" * 100, "year": 2030, "description": "d" * 2000},
            id="upper-limits",
        ),
        pytest.param(
            # Lengths count the text as sent; surrounding blanks are trimmed afterwards.
            {"title": f"  {'t' * 197} ", "author": "A", "year": 0, "description": ""},
            {"title": "t" * 197, "author": "A", "year": 0, "description": ""},
            id="lower-limits-and-padding",
        ),
        pytest.param(
            {"title": "Emma", "author": "Jane Austen", "isbn": "0000000000000"},
            {"isbn": "0000000000000"},
            id="isbn-without-checksum",
        ),
    ],
)
def test_values_at_the_limits_are_accepted(api, user, auth_headers, stored, sent, saved):
    response = api.post("/books", json=sent, headers=auth_headers(user))

    assert response.status_code == 201, response.get_json()
    book = api.data(response)
    assert {k: book[k] for k in saved} == saved
    row = stored(book["id"])
    assert {k: row[k] for k in saved} == saved


@pytest.mark.parametrize("field", ["foo", "role", "Title"])
def test_unknown_field_is_422_naming_it(
    api, user, auth_headers, old_book, stored, book_count, field
):
    create = api.post(
        "/books",
        json={"title": "Emma", "author": "Jane Austen", field: "x"},
        headers=auth_headers(user),
    )
    before = stored(old_book.id)
    update = api.put(
        f"/books/{old_book.id}", json={"year": 1, field: "x"}, headers=auth_headers(user)
    )

    for response in (create, update):
        assert response.status_code == 422
        assert set(api.error(response)["details"]) == {field}
    assert book_count() == 1
    assert stored(old_book.id) == before


def test_read_only_fields_in_create_are_ignored(api, user, make_user, auth_headers, stored):
    other = make_user()
    body = {
        **FULL,
        "id": 12345,
        "created_by": other.id,
        "created_at": "1999-01-01T00:00:00Z",
        "updated_at": "1999-01-01T00:00:00Z",
        "links": {"self": "http://example.com/"},
    }
    response = api.post("/books", json=body, headers=auth_headers(user))

    assert response.status_code == 201, response.get_json()
    book = api.data(response)
    assert book["id"] != 12345
    assert book["created_by"] == user.id
    assert parse_timestamp(book["created_at"]).year > 1999
    assert stored(12345) is None
    assert stored(book["id"])["created_by"] == user.id


# --- ISBN uniqueness ------------------------------------------------------------------------


def test_create_with_duplicate_isbn_is_409(api, user, auth_headers, old_book, book_count):
    body = {"title": "Another", "author": "Someone", "isbn": FULL["isbn"]}
    response = api.post("/books", json=body, headers=auth_headers(user))

    assert response.status_code == 409
    error = api.error(response)
    assert error["reason"] == "duplicate_isbn"
    assert "isbn" in error["details"]
    assert book_count() == 1


def test_update_to_another_books_isbn_is_409_and_changes_nothing(
    api, user, auth_headers, old_book, make_book, stored
):
    other = make_book(creator=user, isbn="9780000000001")
    before = stored(other.id)
    body = {"title": "Changed", "isbn": FULL["isbn"]}
    response = api.put(f"/books/{other.id}", json=body, headers=auth_headers(user))

    assert response.status_code == 409
    assert api.error(response)["reason"] == "duplicate_isbn"
    assert stored(other.id) == before
    assert stored(old_book.id)["isbn"] == FULL["isbn"]


def test_update_keeping_its_own_isbn_succeeds(api, user, auth_headers, old_book, stored):
    body = {"isbn": FULL["isbn"], "title": "Dune (50th anniversary)"}
    response = api.put(f"/books/{old_book.id}", json=body, headers=auth_headers(user))

    assert response.status_code == 200, response.get_json()
    assert api.data(response)["isbn"] == FULL["isbn"]
    assert stored(old_book.id)["title"] == "Dune (50th anniversary)"
