"""The settings every SQLite connection of the API gets."""

import sqlalchemy as sa

from api import create_app
from core.extensions import db
from tests.conftest import base_environ

SYNCHRONOUS_NORMAL = 1


def test_a_new_apps_sqlite_connection_uses_wal_and_synchronous_normal(tmp_path):
    app = create_app(environ=base_environ(f"sqlite:///{tmp_path / 'books.db'}"))
    with app.app_context():
        try:
            with db.engine.connect() as conn:
                journal_mode = conn.scalar(sa.text("PRAGMA journal_mode"))
                synchronous = conn.scalar(sa.text("PRAGMA synchronous"))
                foreign_keys = conn.scalar(sa.text("PRAGMA foreign_keys"))
        finally:
            db.engine.dispose()
    assert journal_mode == "wal"
    assert synchronous == SYNCHRONOUS_NORMAL
    assert foreign_keys == 1


def test_each_connection_keeps_an_eight_megabyte_page_cache(tmp_path):
    """Search reads scattered rows: SQLite's default 2 MB cache missed most of them."""
    app = create_app(environ=base_environ(f"sqlite:///{tmp_path / 'books.db'}"))
    with app.app_context():
        try:
            with db.engine.connect() as first, db.engine.connect() as second:
                sizes = [c.scalar(sa.text("PRAGMA cache_size")) for c in (first, second)]
        finally:
            db.engine.dispose()
    assert sizes == [-8192, -8192]  # negative: KiB rather than pages
