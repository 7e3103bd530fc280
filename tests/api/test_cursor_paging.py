"""Cursor (keyset) paging of GET /books in v2 (contract section 8); v1 ignores cursors."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from itsdangerous import URLSafeSerializer

from core.extensions import db
from core.models import Book

SORTS = ("title", "author", "year", "created_at")
ORDERS = ("asc", "desc")
FILTERS = {
    "none": {},
    "search": {"search": "a"},
    "author": {"author": "ann"},
    "year": {"year": 2000},
}
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
CURSOR_PAGINATION = {
    "per_page",
    "has_next",
    "has_prev",
    "next_cursor",
    "prev_cursor",
    "total_items",
}

# Titles with ties up to case, non-ASCII letters and a shared prefix; authors with ties up to
# case; years with gaps and nulls; creation times with ties.
TITLES = (
    "alpha",
    "Alpha",
    "ALPHA",
    "Über alles",
    "über",
    "Ärger",
    "apfel",
    "Äpfel",
    "zebra",
    "Zebra",
    "café",
    "CAFÉ",
    "ΣΊΣΥΦΟΣ",
    "straße",
    "Banana",
    "banana split",
    "Ça va",
    "élan",
    "eLan",
)
AUTHORS = ("Ann Lee", "ann lee", "Joanna Ray", "Bob Ray", "ÅNNA Öst", "Zoë Ann")
YEARS = (2000, None, 1999, 2000, None, 2010, 0)


def catalogue() -> list[dict]:
    return [
        {
            "title": title,
            "author": AUTHORS[n % len(AUTHORS)],
            "year": YEARS[n % len(YEARS)],
            "created_at": T0 + timedelta(minutes=n % 4),
        }
        for n, title in enumerate(TITLES)
    ]


@pytest.fixture
def add_books(app):
    """Insert books in one transaction; returns their columns (with ids) in insertion order."""

    def add(specs: list[dict]) -> list[dict]:
        with app.app_context():
            books = [
                Book(**{"title": f"Book {n}", "author": f"Author {n}", **spec})
                for n, spec in enumerate(specs)
            ]
            db.session.add_all(books)
            db.session.commit()
            return [row(b) for b in books]

    return add


@pytest.fixture
def delete_books(app):
    def delete(book_ids) -> None:
        with app.app_context():
            db.session.execute(sa.delete(Book).where(Book.id.in_(list(book_ids))))
            db.session.commit()

    return delete


def row(book: Book) -> dict:
    return {
        "id": book.id,
        "title": book.title,
        "author": book.author,
        "year": book.year,
        "created_at": book.created_at,
    }


@pytest.fixture
def text_sorts_follow_codepoints(app) -> bool:
    """Whether the database orders text by code point (SQLite; PostgreSQL with a C collation),
    so that Python's ``sorted`` predicts the order of the title and author sorts."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return True
        collation = db.session.scalar(
            sa.text("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        )
    return collation in ("C", "POSIX", "C.UTF-8", "C.utf8")


def matches(book: dict, filters: dict) -> bool:
    if "search" in filters and filters["search"].lower() not in book["title"].lower():
        return False
    if "author" in filters and filters["author"].lower() not in book["author"].lower():
        return False
    return "year" not in filters or book["year"] == filters["year"]


def expected_order(books: list[dict], sort: str, order: str, filters: dict | None = None):
    """Nulls last in both orders; ties broken by id in the sort direction."""
    books = [b for b in books if matches(b, filters or {})]

    def key(book):
        value = book[sort]
        return value.lower() if isinstance(value, str) else value

    descending = order == "desc"
    present = sorted(
        (b for b in books if b[sort] is not None),
        key=lambda b: (key(b), b["id"]),
        reverse=descending,
    )
    missing = sorted(
        (b for b in books if b[sort] is None), key=lambda b: b["id"], reverse=descending
    )
    return [b["id"] for b in present + missing]


def ok(response) -> dict:
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["success"] is True
    return body


def ids_of(body: dict) -> list[int]:
    return [book["id"] for book in body["data"]]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def list_query(sort: str, order: str, filters: dict, per_page: int, **extra) -> dict:
    return {"sort": sort, "order": order, "per_page": per_page, **filters, **extra}


def walk_forward(v2, query: dict, limit: int = 50) -> list[dict]:
    """Every page from the first (numbered) one, following next_cursor."""
    pages = [ok(v2.get("/books", query_string=query))]
    while pages[-1]["pagination"]["next_cursor"] is not None:
        assert len(pages) < limit, "the walk does not end"
        cursor = pages[-1]["pagination"]["next_cursor"]
        pages.append(ok(v2.get("/books", query_string={**query, "cursor": cursor})))
    return pages


def numbered_walk(v2, query: dict) -> list[int]:
    walked, page = [], 1
    while True:
        body = ok(v2.get("/books", query_string={**query, "page": page}))
        walked += ids_of(body)
        if not body["pagination"]["has_next"]:
            return walked
        page += 1
        assert page < 50, "the walk does not end"


def assert_invalid_cursor(v2, response) -> None:
    assert response.status_code == 400, response.get_json()
    error = v2.error(response)
    assert error["reason"] == "invalid_query"
    assert "cursor" in error["details"], error


# --- every v2 page carries cursors ----------------------------------------------------------


def test_numbered_pages_carry_cursors_and_keep_page_links(v2, add_books):
    add_books([{"created_at": T0 + timedelta(seconds=n)} for n in range(7)])

    first = ok(v2.get("/books?per_page=3"))
    middle = ok(v2.get("/books?per_page=3&page=2"))
    last = ok(v2.get("/books?per_page=3&page=3"))

    assert first["pagination"]["prev_cursor"] is None
    assert isinstance(first["pagination"]["next_cursor"], str)
    assert isinstance(middle["pagination"]["prev_cursor"], str)
    assert isinstance(middle["pagination"]["next_cursor"], str)
    assert last["pagination"]["next_cursor"] is None
    assert isinstance(last["pagination"]["prev_cursor"], str)
    for body, page in ((first, 1), (middle, 2), (last, 3)):
        pagination = body["pagination"]
        assert (pagination["page"], pagination["total_pages"]) == (page, 3)
        for rel, url in body["links"].items():
            assert "cursor" not in query_of(url), (rel, url)
        assert query_of(body["links"]["self"])["page"] == [str(page)]
    assert query_of(middle["links"]["next"])["page"] == ["3"]
    assert query_of(middle["links"]["prev"])["page"] == ["1"]


def test_a_single_page_has_no_cursors(v2, add_books):
    add_books([{} for _ in range(3)])
    pagination = ok(v2.get("/books"))["pagination"]

    assert pagination["next_cursor"] is None
    assert pagination["prev_cursor"] is None


def test_an_empty_list_has_no_cursors(v2):
    body = ok(v2.get("/books?search=nothing"))

    assert body["data"] == []
    assert body["pagination"]["next_cursor"] is None
    assert body["pagination"]["prev_cursor"] is None


def test_next_cursor_of_a_numbered_page_continues_after_it(v2, add_books):
    books = add_books([{"created_at": T0 + timedelta(seconds=n)} for n in range(8)])
    expected = expected_order(books, "created_at", "desc")
    second = ok(v2.get("/books?per_page=3&page=2"))

    after = ok(
        v2.get(
            "/books", query_string={"per_page": 3, "cursor": second["pagination"]["next_cursor"]}
        )
    )
    before = ok(
        v2.get(
            "/books", query_string={"per_page": 3, "cursor": second["pagination"]["prev_cursor"]}
        )
    )

    assert ids_of(second) == expected[3:6]
    assert ids_of(after) == expected[6:]
    assert ids_of(before) == expected[:3]


# --- walking every page ---------------------------------------------------------------------


@pytest.mark.parametrize("filter_name", FILTERS)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("sort", SORTS)
def test_walking_cursors_forward_and_back_returns_every_book_once_in_order(
    v2, add_books, text_sorts_follow_codepoints, sort, order, filter_name
):
    books = add_books(catalogue())
    filters = FILTERS[filter_name]
    expected = expected_order(books, sort, order, filters)
    assert len(expected) >= 4, "the filter must leave several pages"
    query = list_query(sort, order, filters, per_page=3)

    pages = walk_forward(v2, query)
    walked = [book_id for body in pages for book_id in ids_of(body)]

    assert len(walked) == len(set(walked))
    assert walked == numbered_walk(v2, query)
    assert walked == ids_of(ok(v2.get("/books", query_string={**query, "per_page": 100})))
    if sort in ("year", "created_at") or text_sorts_follow_codepoints:
        assert walked == expected
    else:
        assert sorted(walked) == sorted(expected)
    assert [len(body["data"]) for body in pages[:-1]] == [3] * (len(pages) - 1)
    assert [body["pagination"]["has_next"] for body in pages] == [True] * (len(pages) - 1) + [False]
    assert [body["pagination"]["has_prev"] for body in pages] == [False] + [True] * (len(pages) - 1)
    for body in pages:
        assert body["pagination"]["total_items"] == len(expected)

    # Back from the last page with prev_cursor: the same pages, in reverse.
    backward = [pages[-1]]
    while backward[-1]["pagination"]["prev_cursor"] is not None:
        assert len(backward) < 50, "the walk does not end"
        cursor = backward[-1]["pagination"]["prev_cursor"]
        backward.append(ok(v2.get("/books", query_string={**query, "cursor": cursor})))

    assert [ids_of(body) for body in backward] == [ids_of(body) for body in reversed(pages)]
    assert backward[-1]["pagination"]["has_prev"] is False
    assert all(body["pagination"]["has_next"] for body in backward[1:])


def test_books_without_a_year_come_last_when_walking_by_cursor(v2, add_books):
    books = add_books([{"year": y} for y in (None, 2001, None, 1999, None, 2010, 0)])
    undated = {b["id"] for b in books if b["year"] is None}
    for order in ORDERS:
        pages = walk_forward(v2, list_query("year", order, {}, per_page=2))
        walked = [book for body in pages for book in body["data"]]

        assert {b["id"] for b in walked[-3:]} == undated, order
        assert all(b["year"] is not None for b in walked[:-3]), order


def test_titles_equal_up_to_case_are_ordered_by_id_across_cursor_pages(v2, add_books):
    books = add_books([{"title": t} for t in ("Same", "SAME", "same", "sAmE", "Other", "same")])
    same = [b["id"] for b in books if b["title"].lower() == "same"]
    for order in ORDERS:
        pages = walk_forward(v2, list_query("title", order, {}, per_page=1))
        walked = [book_id for body in pages for book_id in ids_of(body)]
        tied = [i for i in walked if i in same]

        assert tied == (sorted(same) if order == "asc" else sorted(same, reverse=True)), order
        assert len(walked) == len(books)


# --- the shape of a cursor page -------------------------------------------------------------


@pytest.fixture
def nine(add_books):
    return add_books(
        [{"author": "Writer", "created_at": T0 + timedelta(seconds=n)} for n in range(9)]
        + [{"author": "Other"}]
    )


def test_a_cursor_page_has_cursor_pagination_and_links(v2, nine):
    query = {"per_page": 3, "author": "writer", "sort": "created_at", "order": "asc"}
    first = ok(v2.get("/books", query_string=query))
    cursor = first["pagination"]["next_cursor"]
    body = ok(v2.get("/books", query_string={**query, "cursor": cursor}))

    pagination = body["pagination"]
    assert set(pagination) == CURSOR_PAGINATION
    assert pagination["per_page"] == 3
    assert pagination["total_items"] == 9
    assert pagination["has_next"] is True
    assert pagination["has_prev"] is True
    assert isinstance(pagination["next_cursor"], str)
    assert isinstance(pagination["prev_cursor"], str)
    assert ids_of(body) == [b["id"] for b in nine[3:6]]

    links = body["links"]
    assert set(links) == {"self", "first", "next", "prev"}
    kept = {"per_page": ["3"], "author": ["writer"], "sort": ["created_at"], "order": ["asc"]}
    assert query_of(links["self"]) == {**kept, "cursor": [cursor]}
    assert query_of(links["first"]) == kept
    assert query_of(links["next"]) == {**kept, "cursor": [pagination["next_cursor"]]}
    assert query_of(links["prev"]) == {**kept, "cursor": [pagination["prev_cursor"]]}
    for url in links.values():
        assert urlsplit(url).path == "/api/v2/books"


def test_following_links_next_and_prev_equals_using_the_cursors(v2, nine):
    query = {"per_page": 2, "author": "writer", "sort": "title", "order": "desc"}
    first = ok(v2.get("/books", query_string=query))
    second = ok(
        v2.get("/books", query_string={**query, "cursor": first["pagination"]["next_cursor"]})
    )

    by_link = v2.client.get(path_of(second["links"]["next"]))
    by_cursor = v2.get(
        "/books", query_string={**query, "cursor": second["pagination"]["next_cursor"]}
    )
    assert ok(by_link) == ok(by_cursor)

    back_by_link = ok(v2.client.get(path_of(second["links"]["prev"])))
    assert ids_of(back_by_link) == ids_of(first)
    assert ok(v2.client.get(path_of(second["links"]["first"])))["data"] == first["data"]


def test_last_cursor_page_has_no_next(v2, nine):
    pages = walk_forward(v2, {"per_page": 4, "author": "writer"})
    last = pages[-1]

    assert len(pages) == 3
    assert last["pagination"]["has_next"] is False
    assert last["pagination"]["next_cursor"] is None
    assert set(last["links"]) == {"self", "first", "prev"}
    assert len(last["data"]) == 1


def test_first_page_reached_backward_has_no_prev(v2, nine):
    pages = walk_forward(v2, {"per_page": 4, "author": "writer"})
    back = ok(
        v2.get(
            "/books",
            query_string={
                "per_page": 4,
                "author": "writer",
                "cursor": pages[1]["pagination"]["prev_cursor"],
            },
        )
    )

    assert ids_of(back) == ids_of(pages[0])
    assert back["pagination"]["has_prev"] is False
    assert back["pagination"]["prev_cursor"] is None
    assert set(back["links"]) == {"self", "first", "next"}


def test_per_page_can_change_between_cursor_pages(v2, nine):
    expected = [b["id"] for b in nine[:9]][::-1]
    first = ok(v2.get("/books?author=writer&per_page=2"))
    cursor = first["pagination"]["next_cursor"]
    second = ok(
        v2.get("/books", query_string={"author": "writer", "per_page": 5, "cursor": cursor})
    )
    third = ok(
        v2.get(
            "/books",
            query_string={
                "author": "writer",
                "per_page": 1,
                "cursor": second["pagination"]["next_cursor"],
            },
        )
    )
    rest = ok(
        v2.get(
            "/books",
            query_string={
                "author": "writer",
                "per_page": 100,
                "cursor": third["pagination"]["next_cursor"],
            },
        )
    )

    assert ids_of(first) + ids_of(second) + ids_of(third) + ids_of(rest) == expected
    assert [len(ids_of(b)) for b in (first, second, third, rest)] == [2, 5, 1, 1]
    assert second["pagination"]["per_page"] == 5
    assert rest["pagination"]["has_next"] is False
    assert query_of(second["links"]["next"])["per_page"] == ["5"]


def test_per_page_above_100_is_clamped_on_cursor_pages(v2, add_books):
    add_books([{"created_at": T0 + timedelta(seconds=n)} for n in range(103)])
    first = ok(v2.get("/books?per_page=1"))
    body = ok(
        v2.get(
            "/books", query_string={"per_page": 500, "cursor": first["pagination"]["next_cursor"]}
        )
    )

    assert len(body["data"]) == 100
    assert body["pagination"]["per_page"] == 100
    assert body["pagination"]["has_next"] is True


def test_cursor_pages_send_total_and_link_headers(v2, nine):
    first = ok(v2.get("/books?author=writer&per_page=2"))
    response = v2.get(
        "/books",
        query_string={
            "author": "writer",
            "per_page": 2,
            "cursor": first["pagination"]["next_cursor"],
        },
    )

    assert response.headers["X-Total-Count"] == "9"
    link = response.headers["Link"]
    assert 'rel="next"' in link and 'rel="prev"' in link and 'rel="first"' in link
    assert "cursor=" in link


# --- writes during a walk -------------------------------------------------------------------

WALK_CASES = [
    ("title", "asc"),
    ("title", "desc"),
    ("author", "asc"),
    ("year", "asc"),
    ("year", "desc"),
    ("created_at", "asc"),
    ("created_at", "desc"),
]


def neighbour(sort: str, book: dict, n: int) -> dict:
    """Fields for a new book whose sort key equals ``book``'s (a tie, broken by its new id)."""
    spec = {"title": f"New {n}", "author": f"New {n}", "created_at": T0 + timedelta(hours=n)}
    spec[sort] = book[sort]
    return spec


@pytest.mark.parametrize(("sort", "order"), WALK_CASES)
def test_inserts_and_deletes_during_a_walk_skip_and_repeat_nothing(
    v2, add_books, delete_books, sort, order
):
    books = add_books(catalogue())
    by_id = {b["id"]: b for b in books}
    expected = expected_order(books, sort, order)
    query = list_query(sort, order, {}, per_page=3)
    deleted: set[int] = set()
    inserted: set[int] = set()
    seen: list[int] = []

    body = ok(v2.get("/books", query_string=query))
    n = 0
    while True:
        seen += ids_of(body)
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            break
        n += 1
        last = by_id.get(seen[-1]) or {}
        ahead = [i for i in expected if i not in seen and i not in deleted]
        behind = [i for i in seen if i in by_id and i not in deleted]
        # Ties with the last book seen (on either side of it by id), and books at both ends.
        new = add_books(
            [
                neighbour(sort, last, n) if last else {},
                {"title": "!", "author": "!", "year": 0, "created_at": T0 - timedelta(days=n)},
                {
                    "title": "~~~",
                    "author": "~~~",
                    "year": 2030,
                    "created_at": T0 + timedelta(days=n),
                },
                {
                    "title": "ÿ",
                    "author": "ÿ",
                    "year": None,
                    "created_at": T0 + timedelta(minutes=2),
                },
            ]
        )
        inserted |= {b["id"] for b in new}
        # One book not yet reached, one passed, and the book the cursor points at.
        doomed = set(ahead[1:2]) | set(behind[:1]) | {seen[-1]}
        delete_books(doomed)
        deleted |= doomed
        body = ok(v2.get("/books", query_string={**query, "cursor": cursor}))
        assert n < 30, "the walk does not end"

    assert len(seen) == len(set(seen)), "a book was returned twice"
    survivors = {i for i in by_id if i not in deleted}
    assert survivors <= set(seen), f"skipped: {sorted(survivors - set(seen))}"
    assert set(seen) <= set(by_id) | inserted
    # What was returned is in sort order (ties by id), however the table changed.
    assert [i for i in seen if i in by_id] == [i for i in expected if i in set(seen)]


def test_a_deleted_book_under_the_cursor_does_not_break_the_walk(v2, add_books, delete_books):
    books = add_books([{"created_at": T0 + timedelta(seconds=n)} for n in range(6)])
    first = ok(v2.get("/books?per_page=2&sort=created_at&order=asc"))
    delete_books(ids_of(first))

    second = ok(
        v2.get(
            "/books",
            query_string={
                "per_page": 2,
                "sort": "created_at",
                "order": "asc",
                "cursor": first["pagination"]["next_cursor"],
            },
        )
    )

    assert ids_of(second) == [books[2]["id"], books[3]["id"]]
    assert second["pagination"]["total_items"] == 4
    assert second["pagination"]["has_next"] is True


# --- refused cursors ------------------------------------------------------------------------


@pytest.fixture
def cursor(v2, nine) -> str:
    """A next_cursor of the default list of writers' books, 3 a page."""
    body = ok(v2.get("/books?author=writer&per_page=3"))
    return body["pagination"]["next_cursor"]


def test_page_and_cursor_together_are_refused(v2, cursor):
    for page in ("1", "2"):
        response = v2.get(
            "/books", query_string={"author": "writer", "page": page, "cursor": cursor}
        )
        assert_invalid_cursor(v2, response)
    # A bad page beside a cursor is refused too (naming at least the bad page).
    response = v2.get("/books", query_string={"author": "writer", "page": "abc", "cursor": cursor})
    assert response.status_code == 400
    assert v2.error(response)["reason"] == "invalid_query"


def flip(token: str, index: int) -> str:
    """``token`` with the character at ``index`` changed in its high bits (a different byte)."""
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    char = token[index]
    if char not in alphabet:
        char = "A"
    replaced = alphabet[alphabet.index(char) ^ 32]
    return token[:index] + replaced + token[index + 1 :]


def test_a_tampered_cursor_is_refused(v2, cursor):
    positions = [i for i, c in enumerate(cursor) if c != "."]
    # The first, the last and characters all along the token, payload and signature.
    chosen = sorted({positions[0], positions[-1], *positions[:: max(1, len(positions) // 12)]})
    for index in chosen:
        tampered = flip(cursor, index)
        assert tampered != cursor
        response = v2.get(
            "/books", query_string={"author": "writer", "per_page": 3, "cursor": tampered}
        )
        assert_invalid_cursor(v2, response)


MADE_UP = [
    "",
    "x",
    "not-a-cursor",
    ".",
    "abc.def",
    "W10.signature",
    "%00",
    "é",
    "a" * 5000,
    "eyJ9.AAAA",
]


def test_a_made_up_cursor_is_refused(v2, nine):
    for token in MADE_UP:
        response = v2.get("/books", query_string={"author": "writer", "cursor": token})
        assert_invalid_cursor(v2, response)


def test_a_cursor_signed_with_another_secret_is_refused(v2, nine, make_app, cursor):
    other = make_app(SECRET_KEY="another-secret-that-is-long-enough-0123456789")
    with other.test_request_context():
        forged = URLSafeSerializer(other.config["SECRET_KEY"], salt="book-list-cursor").dumps(
            URLSafeSerializer("unused").loads_unsafe(cursor)[1]
        )
    assert forged != cursor

    response = v2.get("/books", query_string={"author": "writer", "per_page": 3, "cursor": forged})
    assert_invalid_cursor(v2, response)


OTHER_QUERIES = [
    {"sort": "title"},
    {"order": "asc"},
    {"search": "t"},
    {"author": "writ"},
    {"author": "WRITER"},
    {"author": None},
    {"year": 2000},
    {"sort": "created_at", "order": "asc"},
]


def test_a_cursor_for_another_query_is_refused(v2, cursor):
    for change in OTHER_QUERIES:
        query = {"author": "writer", "per_page": 3, **change, "cursor": cursor}
        query = {k: v for k, v in query.items() if v is not None}
        response = v2.get("/books", query_string=query)
        assert_invalid_cursor(v2, response)
    # The query it was made for, with another page size, is fine.
    ok(v2.get("/books", query_string={"author": "writer", "per_page": 7, "cursor": cursor}))


def test_cursors_of_every_sort_are_refused_for_the_others(v2, add_books):
    add_books(catalogue())
    cursors = {
        (sort, order): ok(v2.get("/books", query_string=list_query(sort, order, {}, 2)))[
            "pagination"
        ]["next_cursor"]
        for sort in SORTS
        for order in ORDERS
    }
    for made_for, token in cursors.items():
        for sort in SORTS:
            for order in ORDERS:
                response = v2.get(
                    "/books", query_string={**list_query(sort, order, {}, 2), "cursor": token}
                )
                if (sort, order) == made_for:
                    ok(response)
                else:
                    assert_invalid_cursor(v2, response)


def test_cursor_for_a_year_filter_is_refused_for_another_year(v2, add_books):
    add_books([{"year": 2000 + n % 2} for n in range(8)])
    token = ok(v2.get("/books?year=2000&per_page=2"))["pagination"]["next_cursor"]

    assert ok(v2.get("/books", query_string={"year": 2000, "per_page": 2, "cursor": token}))
    assert_invalid_cursor(
        v2, v2.get("/books", query_string={"year": 2001, "per_page": 2, "cursor": token})
    )
    assert_invalid_cursor(v2, v2.get("/books", query_string={"per_page": 2, "cursor": token}))


def signed(app, payload) -> str:
    with app.app_context():
        return URLSafeSerializer(app.config["SECRET_KEY"], salt="book-list-cursor").dumps(payload)


TIME = {"t": "2024-05-01T12:00:00+00:00"}
MALFORMED = [
    [],
    {},
    "text",
    None,
    [1],
    [2, "created_at", "desc", None, "writer", None, TIME, 1, False],
    [1, "created_at", "desc", None, "writer", None, {"t": "not a time"}, 1, False],
    [1, "created_at", "desc", None, "writer", None, {"t": 5}, 1, False],
    [1, "created_at", "desc", None, "writer", None, {"x": 1}, 1, False],
    [1, "created_at", "desc", None, "writer", None, TIME, "1", False],
    [1, "created_at", "desc", None, "writer", None, TIME, 1, "no"],
    [1, "created_at", "desc", None, "writer", None, TIME, 1],
    [1, "created_at", "desc", None, "writer", None, TIME, 1, False, "extra"],
]


def test_a_signed_but_malformed_cursor_is_refused_not_a_500(v2, app, nine):
    for payload in MALFORMED:
        response = v2.get(
            "/books", query_string={"author": "writer", "cursor": signed(app, payload)}
        )
        assert response.status_code == 400, (payload, response.get_json())
        assert_invalid_cursor(v2, response)


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("created_at", "2024-05-01"),
        ("created_at", 5),
        ("year", "nineteen"),
        ("year", [1]),
        ("title", 5),
        ("title", {"t": "2024-05-01T12:00:00+00:00"}),
    ],
    ids=[
        "time-as-text",
        "time-as-int",
        "year-as-text",
        "year-as-list",
        "title-as-int",
        "title-as-time",
    ],
)
def test_a_signed_cursor_with_a_key_of_the_wrong_type_is_never_a_500(v2, app, nine, sort, key):
    # Only the server can sign a cursor; this guards against a key that reached it some other way.
    token = signed(app, [1, sort, "desc", None, "writer", None, key, 1, False])
    response = v2.get("/books", query_string={"author": "writer", "sort": sort, "cursor": token})

    assert response.status_code in (200, 400), response.get_json()
    if response.status_code == 400:
        assert_invalid_cursor(v2, response)


# --- v1 and the unversioned URL -------------------------------------------------------------


def test_v1_ignores_a_cursor_and_keeps_page_numbers(v1, v2, nine):
    token = ok(v2.get("/books?per_page=3"))["pagination"]["next_cursor"]
    plain_first = v1.get("/books?per_page=3")
    plain_second = v1.get("/books?per_page=3&page=2")

    for cursor in (token, "garbage", ""):
        first = v1.get("/books", query_string={"per_page": 3, "cursor": cursor})
        second = v1.get("/books", query_string={"per_page": 3, "page": 2, "cursor": cursor})
        assert first.status_code == second.status_code == 200
        assert first.get_json() == plain_first.get_json()
        assert second.get_json() == plain_second.get_json()
        assert set(second.get_json()) == {"books", "total", "page", "per_page"}
        assert second.get_json()["page"] == 2
        assert "cursor" not in second.headers["Link"]


def test_unversioned_url_with_version_2_header_accepts_cursors(client, v2, nine):
    headers = {"API-Version": "2"}
    first = ok(client.get("/api/books?per_page=4&author=writer", headers=headers))
    cursor = first["pagination"]["next_cursor"]
    second = ok(
        client.get(
            "/api/books",
            query_string={"per_page": 4, "author": "writer", "cursor": cursor},
            headers=headers,
        )
    )
    same = ok(v2.get("/books", query_string={"per_page": 4, "author": "writer", "cursor": cursor}))

    assert set(second["pagination"]) == CURSOR_PAGINATION
    assert ids_of(second) == ids_of(same)
    assert ids_of(first) + ids_of(second) == [b["id"] for b in nine[:9]][::-1][:8]
    refused = client.get(
        "/api/books",
        query_string={"author": "writer", "cursor": cursor[:-3] + "abc"},
        headers=headers,
    )
    assert refused.status_code == 400
    assert refused.get_json()["error"]["reason"] == "invalid_query"
    assert "cursor" in refused.get_json()["error"]["details"]


def test_unversioned_url_serving_v1_ignores_cursors(client, nine):
    plain = client.get("/api/books?per_page=3", headers={"API-Version": "1"})
    response = client.get("/api/books?per_page=3&cursor=garbage", headers={"API-Version": "1"})

    assert response.status_code == 200
    assert response.get_json() == plain.get_json()
