"""What `search` and `author` match: a case-insensitive substring, whatever the text holds.

On SQLite the app's ``lower()`` is Python's (core.extensions), so the answer must be exactly a
Python substring scan over the same rows. On PostgreSQL the database's own ``lower()`` defines
case folding: the answer must equal an unindexed ``strpos(lower(...), lower(...))`` query, and,
for ASCII terms over ASCII rows, the Python scan.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.models import Book
from core.principal import Principal
from core.services import books as book_service
from core.services import books as books_service

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

TITLES = (
    # accents
    "Über",
    "über alles",
    "café",
    "CAFÉ",
    "Café Society",
    "cafe au lait",
    "Ärger",
    "ärgerlich",
    # % and _ taken literally
    "100% Python",
    "1000 Python",
    "snake_case",
    "snakeXcase",
    "a_b",
    "aXb",
    "50%_off",
    "50% off",
    "back\\slash",
    # Unicode case
    "STRASSE",
    "straße",
    "ΣΊΣΥΦΟΣ",
    "σίσυφος και",
    "İstanbul",
    "istanbul",
    "ǅemal",
    "ǄEMAL",
    "ǆemal",
    "200 \u212a",  # Kelvin sign
    "Kelvin k",
    "\u017ftraße",  # long s
    "ᏣᎳᎩ syllabary",  # Cherokee capitals
    "ꮳꮃꭹ lower",  # Cherokee small letters
    "ﬁsh",  # fi ligature
    "fish",
    "🙂 smile",
    # quotes
    'He said "hi"',
    "It's",
    "O'Brien's \"Best\"",
    # FTS5 syntax
    "a*b",
    "star*",
    "key:value",
    "(paren)",
    "well-known",
    "x^2",
    "NEAR the end",
    "this AND that",
    "OR else",
    "near far",
    "and or not",
    "title:word",
    # short
    "a",
    "ab",
    "Ab",
    "I",
    "  spaced  out  ",
)
AUTHORS = (
    "Zoë Ärger",
    "O'Neil",
    'The "Boss"',
    "Ann_Lee",
    "100% Sure",
    "Jean-Luc",
    "STRASSE",
    "Anne straße",
    "ǅ Writer",
    "ᏣᎳᎩ Writer",
    "NEAR",
    "a",
    "Él",
    "İlhan",
    "author*",
    "x:y",
)

TERMS = {
    "short": ["a", "A", "b", "ab", "Ab", "AB", "i", "I", "x", "é", "É", "ß", "k", "s", "'s", "9"],
    "percent-underscore": [
        "%",
        "_",
        "%_",
        "_%",
        "0%",
        "% ",
        "100% p",
        "a_b",
        "A_B",
        "50%_",
        "%_off",
        "e_c",
        "snake_case",
        "sNaKe_CaSe",
        "e_",
        "\\",
        "k\\s",
    ],
    "quotes": ['"', "'", '""', "'s", '"hi"', 'said "', "n's \"b", "it's", "'neil", '"boss"'],
    "fts-syntax": [
        "*",
        "a*",
        "a*b",
        "*b",
        "star*",
        ":",
        "key:",
        "title:",
        "title:word",
        "(",
        "(paren",
        "paren)",
        "-",
        "well-",
        "-known",
        "^",
        "x^2",
        "^2",
        "near",
        "NEAR",
        "near the",
        "and",
        "AND",
        "or",
        "OR",
        "this AND",
        "and or",
        "NOT",
    ],
    "accents": [
        "über",
        "ÜBER",
        "uber",
        "ber",
        "café",
        "CAFÉ",
        "cafe",
        "afé",
        "ärger",
        "ÄRGER",
        "Ä",
    ],
    "unicode-case": [
        "strasse",
        "STRASSE",
        "straße",
        "STRAßE",
        "ss",
        "ſtr",
        "σίσυφος",
        "ΣΊΣΥΦΟΣ",
        "σ",
        "ς",
        "ος",
        "istanbul",
        "İstanbul",
        "İ",
        "i\u0307",
        "is",
        "ǆ",
        "ǅ",
        "Ǆ",
        "ǅemal",
        "\u212a",
        "200 k",
        "kelvin",
        "ꮳꮃꭹ",
        "ᏣᎳᎩ",
        "Ꮳ",
        "ﬁ",
        "fi",
        "ﬁsh",
        "🙂",
        "🙂 s",
        "ilhan",
    ],
    "spaces-and-word-boundaries": [
        " ",
        "  ",
        "   ",
        "a b",
        "r a",
        "é s",
        "n t",
        "e a",
        "d out",
        "  out  ",
        "% p",
        "hon",
        "ello",
        "on ",
        " el",
        "0 p",
    ],
    "long": [
        "python python python",
        "x" * 150,
        "the " * 50,
        "snake_case and more than the title",
        "Café Society of the long term that matches nothing",
    ],
}
ASCII_TERMS = [term for group in TERMS.values() for term in group if term.isascii()]


@pytest.fixture
def catalogue(app) -> list[dict]:
    """Every tricky title and author, created out of id order, with ties in created_at."""
    with app.app_context():
        rows = []
        for n in range(max(len(TITLES), len(AUTHORS))):
            rows.append(
                Book(
                    title=TITLES[n % len(TITLES)],
                    author=AUTHORS[n % len(AUTHORS)],
                    created_at=T0 + timedelta(minutes=(n * 7) % 13),
                )
            )
        db.session.add_all(rows)
        db.session.commit()
        return [
            {"id": b.id, "title": b.title, "author": b.author, "created_at": b.created_at}
            for b in rows
        ]


@pytest.fixture
def dialect(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


def default_order(rows: list[dict]) -> list[int]:
    return [r["id"] for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)]


def python_scan(rows: list[dict], column: str, term: str) -> list[int]:
    return default_order([r for r in rows if term.lower() in r[column].lower()])


def database_scan(app, rows: list[dict], column: str, term: str) -> list[int]:
    """The ids the database itself finds without any index-backed operator."""
    with app.app_context():
        found = set(
            db.session.scalars(
                sa.text(f"SELECT id FROM books WHERE strpos(lower({column}), lower(:t)) > 0"),
                {"t": term},
            )
        )
    return default_order([r for r in rows if r["id"] in found])


def listed(client, parameter: str, term: str) -> tuple[list[int], int, str]:
    response = client.get("/api/v2/books", query_string={parameter: term, "per_page": 100})
    assert response.status_code == 200, (parameter, term, response.get_json())
    body = response.get_json()
    return (
        [b["id"] for b in body["data"]],
        body["pagination"]["total_items"],
        response.headers["X-Total-Count"],
    )


def mismatches(app, client, rows, dialect, parameter: str, column: str, terms) -> list:
    """Every term whose answer differs from the scan: (term, got, expected)."""
    wrong = []
    for term in terms:
        got, total, header = listed(client, parameter, term)
        if dialect == "sqlite":
            expected = python_scan(rows, column, term)
        else:
            expected = database_scan(app, rows, column, term)
        if got != expected or total != len(expected) or header != str(len(expected)):
            wrong.append((term, got, expected, total))
    return wrong


@pytest.mark.parametrize("group", TERMS)
def test_search_equals_a_substring_scan_of_titles(app, client, catalogue, dialect, group):
    assert len(catalogue) < 100
    wrong = mismatches(app, client, catalogue, dialect, "search", "title", TERMS[group])
    assert wrong == []


@pytest.mark.parametrize("group", TERMS)
def test_author_filter_equals_a_substring_scan_of_authors(app, client, catalogue, dialect, group):
    wrong = mismatches(app, client, catalogue, dialect, "author", "author", TERMS[group])
    assert wrong == []


def test_ascii_terms_match_python_on_ascii_rows_on_every_backend(client, catalogue):
    # Databases may fold non-ASCII letters their own way (PostgreSQL's lower() follows its
    # locale); over ASCII text every backend must agree with Python.
    ascii_ids = {r["id"] for r in catalogue if r["title"].isascii() and r["author"].isascii()}
    ascii_rows = [r for r in catalogue if r["id"] in ascii_ids]
    wrong = []
    for term in ASCII_TERMS:
        for parameter, column in (("search", "title"), ("author", "author")):
            got = [i for i in listed(client, parameter, term)[0] if i in ascii_ids]
            expected = python_scan(ascii_rows, column, term)
            if got != expected:
                wrong.append((parameter, term, got, expected))
    assert wrong == []


def test_the_scan_and_the_index_agree(make_app, catalogue, dialect, monkeypatch):
    # With both limits at 1 every filter matching more than one book is walked in sort
    # order (the "scan" condition) instead of being found from the index.
    monkeypatch.setattr(books_service, "SORTED_MATCHES_LIMIT", 1)
    app = make_app(LIST_COUNT_LIMIT="1")
    client = app.test_client()
    terms = [t for group in TERMS.values() for t in group]
    wrong = []
    for term in terms:
        for parameter, column in (("search", "title"), ("author", "author")):
            got = listed(client, parameter, term)[0]
            if dialect == "sqlite":
                expected = python_scan(catalogue, column, term)
            else:
                expected = database_scan(app, catalogue, column, term)
            if got != expected:
                wrong.append((parameter, term, got, expected))
    assert wrong == []


def test_search_and_author_combine(client, catalogue, dialect):
    for title_term, author_term in (("a", "a"), ("caf", "er"), ("_", "'"), ("ss", "strasse")):
        response = client.get(
            "/api/v2/books",
            query_string={"search": title_term, "author": author_term, "per_page": 100},
        )
        got = [b["id"] for b in response.get_json()["data"]]
        expected = default_order(
            [
                r
                for r in catalogue
                if title_term.lower() in r["title"].lower()
                and author_term.lower() in r["author"].lower()
            ]
        )
        if dialect == "sqlite" or (title_term + author_term).isascii():
            assert sorted(got) == sorted(expected), (title_term, author_term)
            assert got == expected
        assert response.get_json()["pagination"]["total_items"] == len(got)


def test_a_term_longer_than_the_column_matches_nothing(client, catalogue):
    for parameter, length in (("search", 201), ("author", 101)):
        for term in ("a" * length, "ab " * length):
            got, total, _ = listed(client, parameter, term)
            assert (got, total) == ([], 0)


def test_a_long_term_matches_a_title_exactly_that_long(client, make_book):
    title = "Long " + "x" * 195
    book = make_book(title=title)
    make_book(title=title[:-1])

    assert listed(client, "search", title)[0] == [book.id]
    assert listed(client, "search", title.upper())[0] == [book.id]


def test_a_term_longer_than_the_column_can_match_a_title_whose_lower_case_is_longer(
    client, make_book, dialect
):
    # Python (and so SQLite's lower()) folds "İ" to two characters: 150 of them lower to 300.
    if dialect != "sqlite":
        pytest.skip("PostgreSQL's lower() keeps one character for İ")
    book = make_book(title="İ" * 150)
    term = "i\u0307" * 101  # 202 characters, all inside the lowered title

    assert term in book.title.lower()
    assert listed(client, "search", term)[0] == [book.id]


# --- the index stays in step with the books -------------------------------------------------


def found(client, parameter: str, term: str) -> list[int]:
    return listed(client, parameter, term)[0]


@pytest.fixture
def admin_headers(admin, auth_headers):
    return auth_headers(admin)


def test_a_book_created_updated_and_deleted_through_the_api_is_found_accordingly(
    client, admin_headers, make_book
):
    make_book(title="Unrelated", author="Nobody")
    created = client.post(
        "/api/v2/books",
        json={"title": "Ärger im Paradies", "author": "Zoë Quill"},
        headers=admin_headers,
    )
    assert created.status_code == 201
    book_id = created.get_json()["data"]["id"]

    assert found(client, "search", "ÄRGER IM") == [book_id]
    assert found(client, "search", "ä") == [book_id]
    assert found(client, "author", "zoë q") == [book_id]

    changed = client.put(
        f"/api/v2/books/{book_id}",
        json={"title": "Schnee von gestern", "author": "Max Frisch"},
        headers=admin_headers,
    )
    assert changed.status_code == 200
    for old in ("ärger", "paradies", "ä"):
        assert found(client, "search", old) == [], old
    assert found(client, "author", "zoë") == []
    assert found(client, "search", "SCHNEE") == [book_id]
    assert found(client, "search", "e v") == [book_id]
    assert found(client, "author", "frisch") == [book_id]

    # A change to another field keeps the book findable.
    assert (
        client.put(
            f"/api/v2/books/{book_id}", json={"year": 1999}, headers=admin_headers
        ).status_code
        == 200
    )
    assert found(client, "search", "schnee") == [book_id]
    assert found(client, "author", "max") == [book_id]

    assert client.delete(f"/api/v2/books/{book_id}", headers=admin_headers).status_code == 200
    assert found(client, "search", "schnee") == []
    assert found(client, "search", "ch") == []
    assert found(client, "author", "frisch") == []
    assert listed(client, "search", "schnee")[1] == 0


def test_the_index_follows_changes_made_through_the_core_and_the_orm(app, client, admin):
    with app.app_context():
        actor = Principal.for_user(db.session.get(type(admin), admin.id))
        book = book_service.create_book({"title": "Snake_Case Tales", "author": "Ann"}, actor)
        other = book_service.create_book({"title": "snakeXcase tales", "author": "Bo"}, actor)
        book_id, other_id = book.id, other.id

    assert found(client, "search", "e_c") == [book_id]
    assert found(client, "search", "tales") == [other_id, book_id]

    with app.app_context():
        book_service.update_book(book_id, {"title": "Different"}, Principal.for_operator())
    assert found(client, "search", "tales") == [other_id]
    assert found(client, "search", "fere") == [book_id]

    with app.app_context():
        orm_book = db.session.get(Book, other_id)
        orm_book.title = "Renamed by the ORM"
        orm_book.author = "Carla"
        db.session.commit()
    assert found(client, "search", "tales") == []
    assert found(client, "search", "by the orm") == [other_id]
    assert found(client, "author", "carl") == [other_id]
    assert found(client, "author", "bo") == []

    with app.app_context():
        book_service.delete_book(book_id, Principal.for_operator())
        db.session.execute(sa.delete(Book).where(Book.id == other_id))
        db.session.commit()
    for term in ("fere", "different", "orm", "by the orm"):
        assert found(client, "search", term) == [], term
    assert found(client, "author", "carla") == []
