"""The test environment itself: CI must run the PostgreSQL half of the suite."""

import pytest

from tests.conftest import IN_CI, TEST_DATABASE_URL


def test_postgresql_is_configured():
    """CI must prove PostgreSQL; locally the PostgreSQL runs are optional."""
    if not TEST_DATABASE_URL:
        if IN_CI:
            pytest.fail("CI must set TEST_DATABASE_URL to a PostgreSQL database")
        pytest.skip("TEST_DATABASE_URL is not set: the suite ran on SQLite only")
    assert TEST_DATABASE_URL.startswith("postgresql")
