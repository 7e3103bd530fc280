"""UTCDateTime reads back aware UTC datetimes, whatever the backend stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import column, literal, select, text

from core.extensions import db
from core.models import UTCDateTime

MOMENTS = [
    datetime(2026, 11, 23, 19, 51, 6, 123456, tzinfo=UTC),
    datetime(2020, 1, 1, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5))),  # stored as 17:00 UTC
]


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_stored_moment_reads_back_as_the_same_aware_utc_instant(ctx, moment):
    with db.engine.connect() as connection:
        read = connection.execute(select(literal(moment, UTCDateTime()))).scalar_one()
    assert read == moment
    assert read.tzinfo == UTC and read.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "stored, expected",
    [
        ("2026-11-23 19:51:06.123456", datetime(2026, 11, 23, 19, 51, 6, 123456, tzinfo=UTC)),
        ("2026-11-23 19:51:06", datetime(2026, 11, 23, 19, 51, 6, tzinfo=UTC)),  # no fraction
        ("2026-11-23 19:51:06.5", datetime(2026, 11, 23, 19, 51, 6, 500000, tzinfo=UTC)),
        ("2026-11-23", datetime(2026, 11, 23, tzinfo=UTC)),  # a date alone: midnight, UTC
    ],
)
def test_sqlite_text_in_any_of_its_shapes_reads_as_utc(ctx, database_url, stored, expected):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite stores datetimes as text")
    statement = select(column("moment", UTCDateTime())).select_from(
        text(f"(SELECT '{stored}' AS moment)")
    )
    with db.engine.connect() as connection:
        read = connection.execute(statement).scalar_one()
    assert read == expected and read.tzinfo == UTC


def test_null_reads_as_none(ctx):
    with db.engine.connect() as connection:
        assert connection.execute(select(literal(None, UTCDateTime()))).scalar_one() is None
