"""SQLite WAL checkpoints off the request path.

In WAL mode a commit appends pages to the write-ahead log, and SQLite copies them back into the
database file (a checkpoint, with an fsync) once the log passes ``wal_autocheckpoint`` pages,
inside whichever commit crosses the line. A book's insert writes some thirty pages (the table,
its sort indexes, the search indexes), so with SQLite's default of 1,000 pages one POST in
thirty paid for a checkpoint: ten times its usual time, and in a gevent worker every other
connection waited through it as well.

Here each process runs one native thread that checkpoints every watched database every
CHECKPOINT_SECONDS (PASSIVE: it never waits for, or blocks, readers and writers), on a
connection of its own, opened for each checkpoint. Commits then stay at their usual cost.
``wal_autocheckpoint`` stays on at AUTOCHECKPOINT_PAGES as a backstop, reached only if the
thread falls behind. Durability is unchanged: a committed transaction is in the log either way.

The thread starts in the process that builds the app (each gunicorn worker: the app is not
preloaded into the master; with ``--preload`` only the master would run it). It is a real OS
thread even under gevent's monkey-patching (sqlite3 releases the GIL
while it works, so the server's event loop runs meanwhile); it holds no connection between
checkpoints, and forgets an engine once it is gone.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from urllib.parse import quote

from sqlalchemy.engine import Engine

# Small and often: a checkpoint's fsync is short, and so is the wait of the commits that meet it
# (POST p99 under wrk: 24 ms at 0.25 s, 21-25 at 0.1, 33 at 1 s).
CHECKPOINT_SECONDS = 0.1
AUTOCHECKPOINT_PAGES = 20_000  # 80 MB of log: the backstop

_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
_lock = threading.Lock()
_started_in: dict[str, int | None] = {"pid": None}


def watch(engine: Engine) -> None:
    """Checkpoint ``engine``'s database (a file-backed SQLite one) from this process's thread."""
    if engine.dialect.name != "sqlite" or not database_file(engine):
        return
    with _lock:
        _engines.add(engine)
        if _started_in["pid"] != os.getpid():  # none yet, or inherited across a fork
            _started_in["pid"] = os.getpid()
            _start(_run)


def database_file(engine: Engine) -> str | None:
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return os.path.abspath(path)


def checkpoint(path: str) -> tuple[int, int, int] | None:
    """One PASSIVE checkpoint of the database at ``path``: (busy, log pages, pages copied),
    or None when it cannot be opened (never created, or removed)."""
    try:
        connection = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=0)
    except sqlite3.Error:
        return None
    try:
        return tuple(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
    except sqlite3.Error:  # locked for a moment, or not a database after all
        return None
    finally:
        connection.close()


def checkpoint_all() -> None:
    for engine in list(_engines):
        path = database_file(engine)
        if path and os.path.exists(path):
            checkpoint(path)


def _run() -> None:
    sleep = _native("time", "sleep")
    while True:
        sleep(CHECKPOINT_SECONDS)
        try:
            checkpoint_all()
        except Exception:  # noqa: BLE001 - the thread must outlive any one failure
            pass


def _start(target) -> None:
    start_new_thread = _native("_thread", "start_new_thread")
    start_new_thread(target, ())


def _native(module: str, name: str):
    """``module.name`` as it was before gevent's monkey-patching (itself, without gevent)."""
    try:
        from gevent import monkey
    except ImportError:
        monkey = None
    if monkey is not None and monkey.is_module_patched(module):
        return monkey.get_original(module, name)
    return getattr(__import__(module), name)
