"""List totals (`total_items`, v1 `total`, `X-Total-Count`) stay exact, cost the same at any
size, and the count limit of filtered lists never hides a book."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.models import Book, User
from core.principal import Principal
from core.services import books as book_service

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def add_books(app):
    def add(specs: list[dict]) -> list[int]:
        with app.app_context():
            books = [
                Book(**{"title": f"Title {n}", "author": f"Author {n}", **spec})
                for n, spec in enumerate(specs)
            ]
            db.session.add_all(books)
            db.session.commit()
            return [b.id for b in books]

    return add


def count_rows(app, where: str = "") -> int:
    with app.app_context():
        return db.session.scalar(sa.text(f"SELECT count(*) FROM books {where}"))


def totals(client, query: str = "") -> dict[str, int]:
    """The total as every representation states it."""
    v1 = client.get(f"/api/v1/books?{query}")
    v2 = client.get(f"/api/v2/books?{query}")
    assert v1.status_code == v2.status_code == 200
    return {
        "v1": v1.get_json()["total"],
        "v1-header": int(v1.headers["X-Total-Count"]),
        "v2": v2.get_json()["pagination"]["total_items"],
        "v2-header": int(v2.headers["X-Total-Count"]),
    }


def assert_totals(client, expected: int, query: str = "") -> None:
    assert totals(client, query) == dict.fromkeys(("v1", "v1-header", "v2", "v2-header"), expected)


# --- exact after writes ---------------------------------------------------------------------


def test_totals_follow_creates_and_deletes_through_the_api(app, client, admin, auth_headers):
    headers = auth_headers(admin)
    assert_totals(client, 0)
    created = []
    for n in range(7):
        version = "1" if n % 2 else "2"
        response = client.post(
            f"/api/v{version}/books",
            json={"title": f"Dune {n}", "author": "Frank" if n < 4 else "Brian"},
            headers=headers,
        )
        assert response.status_code == 201
        body = response.get_json()
        created.append(body["id"] if version == "1" else body["data"]["id"])
        assert_totals(client, n + 1)
    assert_totals(client, 4, "author=frank")
    assert_totals(client, 7, "search=dune")

    for n, book_id in enumerate(created[:3]):
        version = "1" if n % 2 else "2"
        response = client.delete(f"/api/v{version}/books/{book_id}", headers=headers)
        assert response.status_code in (200, 204)
        assert_totals(client, 6 - n)
    # Deleting a missing book changes nothing.
    assert client.delete(f"/api/v2/books/{created[0]}", headers=headers).status_code == 404

    assert_totals(client, 4)
    assert_totals(client, 1, "author=frank")
    assert_totals(client, 4, "search=dune")
    assert_totals(client, 0, "author=frank&search=dune 0")
    assert count_rows(app) == 4


def test_totals_follow_creates_and_deletes_through_the_core(app, client, admin):
    with app.app_context():
        actor = Principal.for_user(db.session.get(User, admin.id))
        ids = [
            book_service.create_book({"title": f"T{n}", "author": "Core", "year": 2000}, actor).id
            for n in range(5)
        ]
        assert book_service.count_books() == 5
    assert_totals(client, 5)
    assert_totals(client, 5, "year=2000")

    with app.app_context():
        for book_id in ids[:2]:
            book_service.delete_book(book_id, Principal.for_operator())
        assert book_service.count_books() == 3
    assert_totals(client, 3)
    assert_totals(client, 3, "author=core")

    # Bulk statements outside the services are counted too (the counter is kept by triggers).
    with app.app_context():
        db.session.execute(
            sa.insert(Book),
            [{"title": f"Bulk {n}", "author": "Bulk", "created_at": T0} for n in range(4)],
        )
        db.session.execute(sa.delete(Book).where(Book.id == ids[2]))
        db.session.commit()
    assert_totals(client, 6)
    assert_totals(client, 4, "author=bulk")
    assert count_rows(app) == 6


def test_a_rolled_back_write_changes_no_total(app, client, make_book):
    make_book()
    with app.app_context():
        db.session.add(Book(title="Never", author="Kept"))
        db.session.flush()
        db.session.execute(sa.delete(Book))
        db.session.rollback()
    assert_totals(client, 1)


# --- exact under concurrent writes ----------------------------------------------------------


def hammer(app, headers, threads: int, per_thread: int, deletes: int) -> list[str]:
    """``threads`` clients at once, each creating ``per_thread`` books and deleting ``deletes``
    of its own; returns every unexpected answer."""
    barrier = threading.Barrier(threads)
    problems: list[str] = []

    def work(n: int) -> None:
        client = app.test_client()
        mine = []
        try:
            barrier.wait(timeout=30)
            for i in range(per_thread):
                response = client.post(
                    "/api/v2/books",
                    json={"title": f"Thread {n} book {i}", "author": f"Worker {n}"},
                    headers=headers,
                )
                if response.status_code != 201:
                    problems.append(f"POST {response.status_code} {response.get_json()}")
                    continue
                mine.append(response.get_json()["data"]["id"])
                if i % 2 and len(mine) > 1 and deletes:
                    # Interleave deletes with inserts.
                    victim = mine.pop(0)
                    response = client.delete(f"/api/v2/books/{victim}", headers=headers)
                    if response.status_code != 200:
                        problems.append(f"DELETE {response.status_code} {response.get_json()}")
            while len(mine) > per_thread - deletes:
                response = client.delete(f"/api/v2/books/{mine.pop()}", headers=headers)
                if response.status_code != 200:
                    problems.append(f"DELETE {response.status_code} {response.get_json()}")
        except Exception as exc:  # noqa: BLE001 - reported below, never lost in a thread
            problems.append(repr(exc))

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers)
    return problems


@pytest.mark.postgresql
def test_total_is_exact_after_20_concurrent_writers_on_postgresql(
    app, client, admin, auth_headers, database_url, add_books
):
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent writers need PostgreSQL")
    add_books([{} for _ in range(10)])
    problems = hammer(app, auth_headers(admin), threads=20, per_thread=6, deletes=3)

    assert problems == []
    expected = 10 + 20 * 3
    assert count_rows(app) == expected
    assert_totals(client, expected)
    assert_totals(client, 3, "author=worker 7")
    with app.app_context():
        assert book_service.count_books() == expected


def test_total_is_exact_after_a_few_concurrent_writers_on_sqlite(
    app, client, admin, auth_headers, database_url, add_books
):
    if not database_url.startswith("sqlite"):
        pytest.skip("the PostgreSQL test runs 20 writers")
    add_books([{} for _ in range(3)])
    problems = hammer(app, auth_headers(admin), threads=4, per_thread=6, deletes=3)

    assert problems == []
    expected = 3 + 4 * 3
    assert count_rows(app) == expected
    assert_totals(client, expected)


# --- the cost of a list does not grow ---------------------------------------------------------

FILTERS = {
    "none": {},
    "search": {"search": "itle"},
    "search-short": {"search": "t"},
    "author": {"author": "AUTH"},
    "year": {"year": 2000},
    "all": {"search": "title", "author": "author", "year": 2000},
}


def statements_for(client, count_queries, query: dict) -> int:
    with count_queries() as statements:
        response = client.get("/api/v2/books", query_string=query)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"], query
    return len(statements)


def cursor_for(client, query: dict) -> str:
    body = client.get("/api/v2/books", query_string={**query, "per_page": 1}).get_json()
    return body["pagination"]["next_cursor"]


@pytest.mark.parametrize("filter_name", FILTERS)
@pytest.mark.parametrize("mode", ["numbered", "cursor", "numbered-deep"])
def test_a_list_runs_the_same_statements_at_any_size(
    client, add_books, count_queries, mode, filter_name
):
    filters = {"sort": "title", "order": "asc", **FILTERS[filter_name]}

    def measure() -> list[int]:
        client.get("/api/v2/books")  # the first request opens the connection
        counts = []
        for per_page in (1, 100):
            query = {**filters, "per_page": per_page}
            if mode == "cursor":
                query["cursor"] = cursor_for(client, filters)
            elif mode == "numbered-deep":
                query = {**filters, "per_page": 1, "page": 3}
            counts.append(statements_for(client, count_queries, query))
        return counts

    add_books([{"year": 2000 + n % 2, "created_at": T0 + timedelta(seconds=n)} for n in range(5)])
    small = measure()
    add_books([{"year": 2000 + n % 2, "created_at": T0 + timedelta(seconds=n)} for n in range(295)])
    large = measure()

    assert small == large == [small[0]] * 2, (small, large)
    assert small[0] <= 4


def test_v1_lists_run_the_same_statements_at_any_size(client, add_books, count_queries):
    def measure() -> list[int]:
        client.get("/api/v1/books")
        counts = []
        for query in ("per_page=1", "per_page=100", "per_page=100&author=author&year=2001"):
            with count_queries() as statements:
                assert client.get(f"/api/v1/books?{query}").status_code == 200
            counts.append(len(statements))
        return counts

    add_books([{"year": 2000 + n % 2} for n in range(5)])
    small = measure()
    add_books([{"year": 2000 + n % 2} for n in range(295)])
    assert measure() == small


# --- the count limit of filtered lists -------------------------------------------------------

LIMITED_FILTERS = {
    "search": "search=match",
    "author": "author=finder",
    "year": "year=1984",
    "combined": "search=match&author=finder",
    "short-search": "search=m",
}


@pytest.fixture
def limited(make_app, add_books):
    """An app counting at most 5 matches; 12 books match every filter, 4 match none."""
    add_books(
        [{"title": "other", "author": "nobody", "year": 1900, "created_at": T0} for _ in range(4)]
        + [
            {
                "title": f"Match {n:02d}",
                "author": "Finder",
                "year": 1984,
                "created_at": T0 + timedelta(minutes=n),
            }
            for n in range(12)
        ]
    )
    return make_app(LIST_COUNT_LIMIT="5").test_client()


def titles(body: dict) -> list[str]:
    return [b["title"] for b in body["data"]]


ALL_TWELVE = [f"Match {n:02d}" for n in range(12)]


@pytest.mark.parametrize("filter_name", LIMITED_FILTERS)
def test_a_capped_total_never_hides_a_book_from_numbered_pages(limited, filter_name):
    query = LIMITED_FILTERS[filter_name] + "&sort=title&order=asc&per_page=5"
    pages = []
    for page in range(1, 4):
        response = limited.get(f"/api/v2/books?{query}&page={page}")
        assert response.status_code == 200
        pages.append(response.get_json())

    assert [titles(b) for b in pages] == [ALL_TWELVE[:5], ALL_TWELVE[5:10], ALL_TWELVE[10:]]
    assert [b["pagination"]["has_next"] for b in pages] == [True, True, False]
    assert [b["pagination"]["has_prev"] for b in pages] == [False, True, True]
    for body in pages:
        assert body["pagination"]["total_items"] == 5  # a lower bound
    assert limited.get(f"/api/v2/books?{query}").headers["X-Total-Count"] == "5"
    assert "next" in pages[1]["links"]
    assert "next" not in pages[2]["links"]

    beyond = limited.get(f"/api/v2/books?{query}&page=4").get_json()
    assert beyond["data"] == []
    assert beyond["pagination"]["has_next"] is False

    # per_page 4: the real end falls exactly on a page boundary.
    four = [limited.get(f"/api/v2/books?{query}&per_page=4&page={p}").get_json() for p in (1, 2, 3)]
    assert sum((titles(b) for b in four), []) == ALL_TWELVE
    assert [b["pagination"]["has_next"] for b in four] == [True, True, False]


@pytest.mark.parametrize("filter_name", LIMITED_FILTERS)
def test_a_capped_total_never_hides_a_book_from_cursor_pages(limited, filter_name):
    query = LIMITED_FILTERS[filter_name] + "&sort=title&order=desc&per_page=5"
    body = limited.get(f"/api/v2/books?{query}").get_json()
    pages = [body]
    while body["pagination"]["next_cursor"]:
        assert len(pages) < 10
        response = limited.get(
            f"/api/v2/books?{query}&{urlencode({'cursor': body['pagination']['next_cursor']})}"
        )
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        pages.append(body)

    assert sum((titles(b) for b in pages), []) == ALL_TWELVE[::-1]
    assert [b["pagination"]["has_next"] for b in pages] == [True, True, False]
    assert all(b["pagination"]["total_items"] == 5 for b in pages)


@pytest.mark.parametrize("filter_name", LIMITED_FILTERS)
def test_a_capped_total_never_hides_a_book_from_v1_pages(limited, filter_name):
    query = LIMITED_FILTERS[filter_name] + "&sort=title&order=asc&per_page=5"
    walked = []
    for page in range(1, 6):
        body = limited.get(f"/api/v1/books?{query}&page={page}").get_json()
        assert body["total"] == 5
        walked += [b["title"] for b in body["books"]]
    assert walked == ALL_TWELVE


def test_a_filter_matching_up_to_the_limit_is_counted_exactly(make_app, add_books):
    add_books([{"author": "Finder"} for _ in range(5)] + [{"author": "Few"} for _ in range(6)])
    client = make_app(LIST_COUNT_LIMIT="5").test_client()

    exact = client.get("/api/v2/books?author=finder&per_page=2").get_json()["pagination"]
    assert exact["total_items"] == 5
    assert exact["total_pages"] == 3
    capped = client.get("/api/v2/books?author=few&per_page=2").get_json()["pagination"]
    assert capped["total_items"] == 5
    assert capped["has_next"] is True


def test_an_unfiltered_list_is_counted_exactly_beyond_the_limit(limited):
    body = limited.get("/api/v2/books?per_page=5").get_json()

    assert body["pagination"]["total_items"] == 16
    assert body["pagination"]["total_pages"] == 4
    assert limited.get("/api/v1/books").get_json()["total"] == 16
    assert limited.get("/api/v2/books").headers["X-Total-Count"] == "16"
    # Default filters that are empty count as no filter.
    assert (
        limited.get("/api/v2/books?search=&author=").get_json()["pagination"]["total_items"] == 16
    )
