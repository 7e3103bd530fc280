"""The hand-written book serializer (``book_dict``, the read path) writes exactly what the
``BookOut`` schema documents, for every kind of value a stored book can hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.representations import BookOut, book_dict
from core.services.books import BookRow

CREATED = datetime(2026, 11, 23, 19, 51, 6, 123456, tzinfo=UTC)


def row(**fields) -> BookRow:
    values = {
        "id": 7,
        "title": "Ça va",
        "author": "Zoë",
        "isbn": "9780441013593",
        "year": 1965,
        "description": "naïve\n%_",
        "created_at": CREATED,
        "updated_at": CREATED,
        "created_by": 3,
        **fields,
    }
    return BookRow(**values)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"updated_at": CREATED + timedelta(microseconds=1)},  # same second, another instant
        {"updated_at": CREATED + timedelta(days=400, hours=5)},
        {"created_at": datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)},  # a three-digit year
        {"isbn": None, "year": None, "description": None, "created_by": None},
        {"updated_at": None},
        {"created_at": None, "updated_at": None},
    ],
)
def test_book_dict_is_the_documented_schema(fields):
    book = row(**fields)
    assert book_dict(book) == BookOut().dump(book)


def test_timestamps_are_utc_to_the_second_with_four_digit_years():
    data = book_dict(row(updated_at=datetime(2027, 1, 2, 3, 4, 5, 999999, tzinfo=UTC)))
    assert (data["created_at"], data["updated_at"]) == (
        "2026-11-23T19:51:06Z",
        "2027-01-02T03:04:05Z",
    )
    early = datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert BookOut().dump(row(created_at=early))["created_at"] == "0999-01-02T03:04:05Z"
