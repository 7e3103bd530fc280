"""SQLite checkpoints run in the background (core.checkpoints), not inside a request's commit."""

from __future__ import annotations

import sqlite3

import pytest

from core import checkpoints
from core.extensions import db


@pytest.fixture
def sqlite_app(make_app, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write-ahead log")
    return make_app()


def test_a_file_database_is_watched_and_commits_leave_checkpoints_to_it(
    sqlite_app, api, make_user, auth_headers, monkeypatch
):
    # The background thread (every CHECKPOINT_SECONDS) is held off meanwhile: what is in the
    # log below is then what the commits left there, not what is left after its last pass.
    monkeypatch.setattr(checkpoints, "checkpoint_all", lambda: None)
    with sqlite_app.app_context():
        engine = db.engine
        path = checkpoints.database_file(engine)
        with engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert engine in checkpoints._engines
    assert pages == checkpoints.AUTOCHECKPOINT_PAGES  # only a backstop

    client = sqlite_app.test_client()
    headers = auth_headers(make_user())
    for n in range(5):
        book = {"title": f"Logged {n}", "author": "A. Author", "year": 2000 + n}
        assert client.post("/api/v1/books", headers=headers, json=book).status_code == 201
    # Other connections of this process (the usage flusher's) may hold a snapshot that keeps
    # frames from being copied yet; that the log holds the commits is what is certain here.
    busy, log, copied = checkpoints.checkpoint(path)
    assert log > 0 and 0 <= copied <= log
    assert client.get("/api/v1/books?search=logged").get_json()["total"] == 5


def test_a_checkpoint_copies_the_log_into_the_database(tmp_path):
    path = str(tmp_path / "alone.db")
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")  # nothing but the checkpoint below copies
    writer.execute("CREATE TABLE t (n INTEGER)")
    with writer:
        writer.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(1000)])
    try:
        busy, log, copied = checkpoints.checkpoint(path)
        assert (busy, copied) == (0, log) and log > 0
        assert checkpoints.checkpoint(path)[2] == log  # nothing left to copy
    finally:
        writer.close()


def test_a_database_that_is_gone_is_skipped(tmp_path):
    missing = str(tmp_path / "never-created.db")
    assert checkpoints.checkpoint(missing) is None
    assert not (tmp_path / "never-created.db").exists()  # not created by the attempt


def test_memory_and_postgresql_databases_are_not_watched():
    from sqlalchemy import create_engine

    memory = create_engine("sqlite://")
    postgres = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert checkpoints.database_file(memory) is None
    checkpoints.watch(memory)
    checkpoints.watch(postgres)
    assert memory not in checkpoints._engines and postgres not in checkpoints._engines
