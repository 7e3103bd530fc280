"""The app (``wsgi:app``) with two ways to die on purpose, for tests against a real server.

``gunicorn tests.crashing_wsgi:app`` serves the project's app unchanged, except for requests
that carry one of these headers; such a request SIGKILLs the worker serving it, as the OOM
killer or a power cut would, with no clean-up and no answer (the client's connection drops):

- ``X-Test-Crash-After-Commit: 1``: once the response's status is 201, before any byte of it
  is sent. The request's transaction has committed: its write and its stored answer stand.
- ``X-Test-Crash-Before-Commit: 1``: as soon as the request's INSERT of its new book has run
  in the database, inside its still open transaction. Whatever the request committed before (its
  Idempotency-Key claim) stands; the book is rolled back by the database.

gunicorn's master starts a new worker in the killed one's place. Only tests serve this module.
"""

from __future__ import annotations

import os
import signal

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from core.models import Book
from wsgi import app

CRASH_AFTER_COMMIT = "X-Test-Crash-After-Commit"
CRASH_BEFORE_COMMIT = "X-Test-Crash-Before-Commit"


def _environ_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _CrashAfterCommit:
    """WSGI middleware: kill the worker when a marked request's status is 201."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if environ.get(_environ_key(CRASH_AFTER_COMMIT)) != "1":
            return self.wsgi_app(environ, start_response)

        def start_or_die(status: str, headers, exc_info=None):
            if status.startswith("201"):
                _die()
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start_or_die)


_INSERT_BOOK = f"INSERT INTO {Book.__tablename__} "


@event.listens_for(Engine, "after_cursor_execute")
def _crash_before_commit(connection, cursor, statement, parameters, context, executemany) -> None:
    """Kill the worker once a marked request's book is in the database, uncommitted."""
    if not has_request_context():
        return
    if request.environ.get(_environ_key(CRASH_BEFORE_COMMIT)) != "1":
        return
    if statement.lstrip().upper().startswith(_INSERT_BOOK.upper()):
        _die()


# The Flask app itself stays the WSGI callable: the gunicorn worker reads its configuration.
app.wsgi_app = _CrashAfterCommit(app.wsgi_app)
