"""GET /books: paging, sorting, filtering, list headers and query validation in both versions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from core.extensions import db
from core.models import Book

SORTS = ("title", "author", "year", "created_at")
ORDERS = ("asc", "desc")
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
LINK = re.compile(r'<([^>]*)>\s*;\s*rel="([^"]+)"')


@pytest.fixture
def add_books(app):
    """Insert books in one transaction; returns their columns (with ids) in insertion order."""

    def add(specs: list[dict]) -> list[dict]:
        with app.app_context():
            books = []
            for n, spec in enumerate(specs):
                values = {"title": f"Book {n}", "author": f"Author {n}", **spec}
                books.append(Book(**values))
            db.session.add_all(books)
            db.session.commit()
            return [
                {
                    "id": b.id,
                    "title": b.title,
                    "author": b.author,
                    "year": b.year,
                    "created_at": b.created_at,
                }
                for b in books
            ]

    return add


def ids(api, response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [book["id"] for book in api.items(response)]


def paging(api, response) -> tuple[int, int]:
    """(page, per_page) as the response states them."""
    body = response.get_json()
    meta = body["pagination"] if api.enveloped else body
    return meta["page"], meta["per_page"]


def expected_order(books: list[dict], sort: str, order: str) -> list[int]:
    """Nulls last in both orders; ties broken by id in the sort direction."""

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


def link_header(response) -> dict[str, str]:
    return {rel: url for url, rel in LINK.findall(response.headers.get("Link", ""))}


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def tied_books() -> list[dict]:
    """23 books sharing titles (up to case), authors, years and creation times."""
    titles = ("alpha", "Alpha", "BETA", "beta", "Gamma")
    authors = ("Ann Lee", "ann lee", "Bob Ray")
    years = (1990, 2000, None, 2000)
    return [
        {
            "title": titles[n % 5],
            "author": authors[n % 3],
            "year": years[n % 4],
            "created_at": T0 + timedelta(minutes=n % 3),
        }
        for n in range(23)
    ]


# --- paging ---------------------------------------------------------------------------------


def test_default_page_is_first_20_newest_first(api, add_books):
    # Creation times are out of id order, so the default sort cannot pass by sorting on id.
    books = add_books([{"created_at": T0 + timedelta(minutes=(n * 7) % 25)} for n in range(25)])
    response = api.get("/books")

    assert ids(api, response) == expected_order(books, "created_at", "desc")[:20]
    assert paging(api, response) == (1, 20)
    assert api.total(response) == 25


@pytest.mark.parametrize(
    ("requested", "served"),
    [(1, 1), (37, 37), (100, 100), (101, 100), (500, 100)],
)
def test_per_page_is_honoured_up_to_100_and_clamped_above(api, add_books, requested, served):
    add_books([{"created_at": T0 + timedelta(seconds=n)} for n in range(101)])
    response = api.get(f"/books?per_page={requested}")

    assert len(ids(api, response)) == served
    assert paging(api, response) == (1, served)
    assert api.total(response) == 101


def test_a_repeated_parameter_counts_once_by_its_first_value(api, add_books):
    books = add_books([{"title": f"Book {n}"} for n in range(6)])
    newest_first = [b["id"] for b in reversed(books)]

    response = api.get("/books?per_page=2&page=2&per_page=5&page=1&unknown=1")

    assert ids(api, response) == newest_first[2:4]


def test_second_page_continues_where_the_first_stopped(api, add_books):
    books = add_books([{"created_at": T0 + timedelta(seconds=n)} for n in range(7)])
    first = ids(api, api.get("/books?per_page=4&page=1"))
    second = api.get("/books?per_page=4&page=2")

    assert first + ids(api, second) == expected_order(books, "created_at", "desc")
    assert paging(api, second) == (2, 4)


@pytest.mark.parametrize("page", [3, 99])
def test_page_past_the_end_is_empty_with_the_right_total(api, add_books, page):
    add_books([{} for _ in range(7)])
    response = api.get(f"/books?per_page=5&page={page}")

    assert ids(api, response) == []
    assert paging(api, response) == (page, 5)
    assert api.total(response) == 7
    assert response.headers["X-Total-Count"] == "7"


def test_empty_collection_is_an_empty_page(api):
    response = api.get("/books")

    assert ids(api, response) == []
    assert api.total(response) == 0


# --- sorting --------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("sort", SORTS)
def test_sort_breaks_ties_by_id_and_pages_see_every_book_once(api, add_books, sort, order):
    books = add_books(tied_books())
    expected = expected_order(books, sort, order)

    whole = ids(api, api.get(f"/books?sort={sort}&order={order}&per_page=100"))
    walked = []
    for page in range(1, 6):
        walked += ids(api, api.get(f"/books?sort={sort}&order={order}&per_page=5&page={page}"))
    beyond = ids(api, api.get(f"/books?sort={sort}&order={order}&per_page=5&page=6"))

    assert whole == expected
    assert walked == expected
    assert sorted(walked) == sorted(b["id"] for b in books)
    assert beyond == []


def test_title_sort_ignores_case(api, add_books):
    books = add_books(
        [{"title": t} for t in ("banana", "Apple", "cherry", "apricot", "Banana split", "APRIL")]
    )
    by_title = {b["title"]: b["id"] for b in books}
    expected = ["Apple", "apricot", "APRIL", "banana", "Banana split", "cherry"]

    ascending = ids(api, api.get("/books?sort=title&order=asc"))
    descending = ids(api, api.get("/books?sort=title&order=desc"))

    assert ascending == [by_title[t] for t in expected]
    assert descending == [by_title[t] for t in reversed(expected)]


def test_author_sort_ignores_case(api, add_books):
    books = add_books(
        [{"author": a} for a in ("zadie Smith", "Anne Rice", "alan Moore", "Ben Okri")]
    )
    by_author = {b["author"]: b["id"] for b in books}
    expected = ["alan Moore", "Anne Rice", "Ben Okri", "zadie Smith"]

    assert ids(api, api.get("/books?sort=author&order=asc")) == [by_author[a] for a in expected]


@pytest.mark.parametrize(
    ("order", "expected_years"),
    [("asc", [1999, 2001, 2010, None, None]), ("desc", [2010, 2001, 1999, None, None])],
    ids=["asc", "desc"],
)
def test_books_without_a_year_sort_last_in_both_orders(api, add_books, order, expected_years):
    books = add_books([{"year": y} for y in (2001, None, 1999, None, 2010)])
    undated = [b["id"] for b in books if b["year"] is None]
    response = api.get(f"/books?sort=year&order={order}")

    assert [b["year"] for b in api.items(response)] == expected_years
    assert ids(api, response)[3:] == (undated if order == "asc" else undated[::-1])


def test_created_at_sort_in_both_orders(api, add_books):
    books = add_books([{"created_at": T0 + timedelta(days=d)} for d in (3, 1, 4, 2)])
    by_day = [b["id"] for b in sorted(books, key=lambda b: b["created_at"])]

    assert ids(api, api.get("/books?sort=created_at&order=asc")) == by_day
    assert ids(api, api.get("/books?sort=created_at&order=desc")) == by_day[::-1]


# --- filters --------------------------------------------------------------------------------


def test_search_is_a_case_insensitive_title_substring(api, add_books):
    books = add_books(
        [
            {"title": "The Hobbit"},
            {"title": "HOBBIT tales"},
            {"title": "Hobbiton", "author": "Not about hobbits in the author"},
            {"title": "The Lord of the Rings", "author": "Hobbit"},
        ]
    )
    response = api.get("/books?search=hOBBit&sort=title&order=asc")

    assert sorted(ids(api, response)) == sorted(b["id"] for b in books[:3])
    assert api.total(response) == 3


@pytest.mark.parametrize(
    ("search", "expected_titles"),
    [
        ("%", ["100% Pure"]),
        ("0%", ["100% Pure"]),
        ("_", ["snake_case"]),
        ("e_c", ["snake_case"]),
        ("\\", ["back\\slash"]),
        ("%_", []),
    ],
    ids=["percent", "digit-percent", "underscore", "inner-underscore", "backslash", "both"],
)
def test_search_treats_wildcards_literally(api, add_books, search, expected_titles):
    add_books(
        [
            {"title": t}
            for t in (
                "100% Pure",
                "1000 Pure",
                "snake_case",
                "snakeXcase",
                "back\\slash",
                "backslash",
            )
        ]
    )
    response = api.get("/books", query_string={"search": search})

    assert sorted(b["title"] for b in api.items(response)) == expected_titles
    assert api.total(response) == len(expected_titles)


def test_author_filter_is_a_case_insensitive_substring(api, add_books):
    books = add_books(
        [
            {"author": "Ursula K. Le Guin"},
            {"author": "ursula vernon"},
            {"author": "Terry Pratchett", "title": "Ursula"},
        ]
    )

    assert sorted(ids(api, api.get("/books?author=URSULA"))) == [books[0]["id"], books[1]["id"]]
    assert ids(api, api.get("/books?author=le%20gu")) == [books[0]["id"]]


@pytest.mark.parametrize("year", [0, 2000])
def test_year_filter_matches_exactly(api, add_books, year):
    books = add_books([{"year": y} for y in (1999, 2000, 2000, None, 0, 2001)])
    expected = sorted(b["id"] for b in books if b["year"] == year)
    response = api.get(f"/books?year={year}")

    assert sorted(ids(api, response)) == expected
    assert api.total(response) == len(expected)


def test_filters_combine(api, add_books):
    books = add_books(
        [
            {"title": "Dune", "author": "Frank Herbert", "year": 1965},
            {"title": "Dune Messiah", "author": "Frank Herbert", "year": 1969},
            {"title": "Dune", "author": "Brian Herbert", "year": 1965},
            {"title": "Dune Road", "author": "Frank Herbert", "year": 1965},
            {"title": "Children", "author": "Frank Herbert", "year": 1965},
        ]
    )
    response = api.get("/books?search=dune&author=frank&year=1965")

    assert sorted(ids(api, response)) == [books[0]["id"], books[3]["id"]]
    assert api.total(response) == 2
    assert response.headers["X-Total-Count"] == "2"


def test_filter_without_matches_is_an_empty_page(api, add_books):
    add_books([{"title": "Emma"}])
    response = api.get("/books?search=zzz")

    assert ids(api, response) == []
    assert api.total(response) == 0


def test_unknown_query_parameters_are_ignored(api, add_books):
    books = add_books([{"created_at": T0 + timedelta(seconds=n)} for n in range(3)])
    response = api.get("/books?colour=blue&fields=title")

    assert ids(api, response) == expected_order(books, "created_at", "desc")


# --- list headers ---------------------------------------------------------------------------


@pytest.fixture
def twelve_by_writer(add_books):
    """12 books by "Writer n" plus 3 by others: a filter that matters for every total."""
    add_books([{"author": f"Other {n}"} for n in range(3)])
    return add_books([{"author": f"Writer {n}", "title": f"T{n:02d}"} for n in range(12)])


def assert_page_link(api, url: str, page: int, query: dict[str, list[str]]) -> None:
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("http", "localhost")
    assert parts.path == f"/api/v{api.version}/books"
    assert query_of(url) == {**query, "page": [str(page)]}


def test_middle_page_links_first_last_next_and_prev_keeping_the_query(api, twelve_by_writer):
    query = {"per_page": ["5"], "author": ["writer"], "sort": ["title"], "order": ["asc"]}
    response = api.get("/books?per_page=5&author=writer&sort=title&order=asc&page=2")

    assert [b["title"] for b in api.items(response)] == [f"T{n:02d}" for n in range(5, 10)]
    assert response.headers["X-Total-Count"] == "12"
    links = link_header(response)
    assert set(links) == {"first", "last", "next", "prev"}
    for rel, page in (("first", 1), ("last", 3), ("next", 3), ("prev", 1)):
        assert_page_link(api, links[rel], page, query)


def test_first_page_has_no_prev_link(api, twelve_by_writer):
    response = api.get("/books?per_page=5&author=writer")
    links = link_header(response)

    assert set(links) == {"first", "last", "next"}
    assert query_of(links["next"])["page"] == ["2"]
    assert query_of(links["last"])["page"] == ["3"]
    assert query_of(links["next"])["author"] == ["writer"]


def test_last_page_has_no_next_link(api, twelve_by_writer):
    response = api.get("/books?per_page=5&author=writer&page=3")
    links = link_header(response)

    assert len(api.items(response)) == 2
    assert set(links) == {"first", "last", "prev"}
    assert query_of(links["prev"])["page"] == ["2"]


def test_single_page_links_only_first_and_last(api, twelve_by_writer):
    response = api.get("/books")
    links = link_header(response)

    assert response.headers["X-Total-Count"] == "15"
    assert set(links) == {"first", "last"}
    assert query_of(links["first"]) == query_of(links["last"]) == {"page": ["1"]}


def test_page_past_the_end_links_prev_to_the_last_page(api, twelve_by_writer):
    response = api.get("/books?per_page=5&author=writer&page=9")
    links = link_header(response)

    assert set(links) == {"first", "last", "prev"}
    assert query_of(links["prev"])["page"] == ["3"]
    assert query_of(links["last"])["page"] == ["3"]


def test_empty_result_links_last_to_page_one(api):
    response = api.get("/books?search=nothing")
    links = link_header(response)

    assert response.headers["X-Total-Count"] == "0"
    assert set(links) == {"first", "last"}
    assert query_of(links["last"]) == {"search": ["nothing"], "page": ["1"]}


# --- query validation -----------------------------------------------------------------------

BAD_QUERY = [
    pytest.param("page", "abc", id="page-abc"),
    pytest.param("page", "0", id="page-0"),
    pytest.param("page", "-1", id="page-negative"),
    pytest.param("page", "1.5", id="page-fraction"),
    pytest.param("per_page", "0", id="per_page-0"),
    pytest.param("per_page", "-5", id="per_page-negative"),
    pytest.param("per_page", "ten", id="per_page-word"),
    pytest.param("sort", "bogus", id="sort-bogus"),
    pytest.param("sort", "id", id="sort-id"),
    pytest.param("order", "sideways", id="order-sideways"),
    pytest.param("year", "x", id="year-x"),
    pytest.param("year", "2001.0", id="year-fraction"),
]


@pytest.fixture
def dated_books(add_books):
    """25 books whose creation order differs from their id order."""
    return add_books(
        [
            {"created_at": T0 + timedelta(minutes=(n * 7) % 25), "year": 2000 + n % 2}
            for n in range(25)
        ]
    )


@pytest.mark.parametrize(("name", "value"), BAD_QUERY)
def test_v1_replaces_a_bad_query_value_with_its_default(v1, dated_books, name, value):
    response = v1.get("/books", query_string={name: value})

    assert response.status_code == 200
    assert ids(v1, response) == expected_order(dated_books, "created_at", "desc")[:20]
    assert paging(v1, response) == (1, 20)
    assert v1.total(response) == 25


def test_v1_keeps_the_good_values_beside_bad_ones(v1, dated_books):
    response = v1.get("/books?page=abc&per_page=3&sort=bogus&order=asc&year=x")

    assert ids(v1, response) == expected_order(dated_books, "created_at", "asc")[:3]
    assert paging(v1, response) == (1, 3)
    assert v1.total(response) == 25


def test_v1_with_every_parameter_bad_serves_the_default_page(v1, dated_books):
    response = v1.get("/books?page=abc&per_page=0&sort=bogus&order=sideways&year=x")

    assert response.status_code == 200
    assert ids(v1, response) == expected_order(dated_books, "created_at", "desc")[:20]
    assert paging(v1, response) == (1, 20)
    assert v1.total(response) == 25


@pytest.mark.parametrize(("name", "value"), BAD_QUERY)
def test_v2_rejects_a_bad_query_value_naming_it(v2, dated_books, name, value):
    response = v2.get("/books", query_string={name: value})

    assert response.status_code == 400
    error = v2.error(response)
    assert error["reason"] == "invalid_query"
    assert set(error["details"]) == {name}


def test_v2_names_every_bad_parameter_at_once(v2, dated_books):
    response = v2.get("/books?page=abc&per_page=0&sort=bogus&order=sideways&year=x&search=ok")

    assert response.status_code == 400
    error = v2.error(response)
    assert error["reason"] == "invalid_query"
    assert set(error["details"]) == {"page", "per_page", "sort", "order", "year"}
    for messages in error["details"].values():
        assert messages and all(isinstance(m, str) for m in messages)


@pytest.mark.parametrize(
    "query",
    ["page=1000000000000000000", "page=99999999999999999999", "page=2147483648"],
    ids=["page-1e18", "page-1e20", "page-2**31"],
)
def test_huge_page_is_an_empty_page_not_an_error(api, add_books, query):
    add_books([{} for _ in range(3)])
    response = api.get(f"/books?{query}")

    assert ids(api, response) == []
    assert api.total(response) == 3


@pytest.mark.parametrize(
    "query",
    ["year=9999999999", "year=99999999999999999999", "search=%00", "author=a%00b"],
    ids=["year-1e10", "year-1e20", "search-nul", "author-nul"],
)
def test_filter_no_book_can_match_is_an_empty_page_not_an_error(api, add_books, query):
    add_books([{"year": 2000, "title": "a", "author": "ab"}])
    response = api.get(f"/books?{query}")

    assert ids(api, response) == []
    assert api.total(response) == 0


# --- query count ----------------------------------------------------------------------------


def test_list_runs_the_same_number_of_queries_for_any_page_size(api, add_books, count_queries):
    add_books([{"year": 2000 + n % 5} for n in range(60)])
    api.get("/books?per_page=1")  # warm up: connection set-up is not the list's cost

    with count_queries() as small:
        one = api.get("/books?per_page=1")
    with count_queries() as large:
        fifty = api.get("/books?per_page=50")

    assert len(ids(api, one)) == 1
    assert len(ids(api, fifty)) == 50
    assert len(small) == len(large)
    assert small
