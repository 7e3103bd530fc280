"""Fixtures: an app per test on every configured database, clients per version, factories.

The suite always runs on SQLite. When TEST_DATABASE_URL names a PostgreSQL database, every
database-backed test runs there too. In CI (CI=true) an unreachable PostgreSQL is a failure,
not a skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_jwt_extended import create_access_token, create_refresh_token
from flask_migrate import upgrade

from api import create_app
from api.v2.presenter import V2Presenter
from api.versioning.registry import Registry
from api.versions import REGISTRY
from core.extensions import db
from core.models import ROLE_ADMIN, ROLE_USER, Book, User
from core.services import auth as auth_service

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14").strip()
BACKENDS = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])
TABLES = ("idempotency_keys", "version_usage", "api_keys", "revoked_tokens", "books", "users")
PASSWORD = "correct-horse-battery"
# The lifecycle clock of test apps (``app.config["CLOCK"]``): tests that configure deprecation
# dates do not change outcome as the calendar moves on; tests that need another instant set it.
TEST_NOW = datetime(2026, 12, 1, tzinfo=UTC)


def base_environ(database_url: str) -> dict[str, str]:
    """The environment every test app starts from: nothing is read from the machine's env."""
    return {
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "RATELIMIT_ENABLED": "false",
        "REQUEST_LOG": "false",
        # Counts are flushed by the tests that read them, never behind another test's back.
        "USAGE_FLUSH_SECONDS": "86400",
    }


def _prepare_database(url: str) -> None:
    """Empty the database and build its schema with the project's migrations."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "postgresql" and "test" not in (engine.url.database or ""):
        engine.dispose()
        raise pytest.UsageError(
            f"refusing to empty {engine.url.database!r}: TEST_DATABASE_URL must name a database "
            "whose name contains 'test'"
        )
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    app = create_app(environ=base_environ(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def _postgresql_reachable(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return None
    except sa.exc.SQLAlchemyError as exc:
        return type(exc).__name__
    finally:
        engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> str:
    """A migrated database per backend, shared by the session and emptied after each test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'books.db'}"
    else:
        url = TEST_DATABASE_URL
        problem = _postgresql_reachable(url)
        if problem:
            message = f"PostgreSQL at TEST_DATABASE_URL is unreachable ({problem})"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
    _prepare_database(url)
    return url


def _empty_tables(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
            else:
                for table in TABLES:
                    conn.execute(sa.text(f"DELETE FROM {table}"))
                conn.execute(sa.text("DELETE FROM sqlite_sequence"))  # ids restart, as on PG
    finally:
        engine.dispose()


@pytest.fixture
def make_app(database_url) -> Iterator[Callable[..., Flask]]:
    """Build an app on the test database; keyword arguments are environment variables, and
    ``versions`` a registry to serve instead of the project's."""
    apps: list[Flask] = []

    def build(versions: Registry | None = None, **environ: str) -> Flask:
        app = create_app(environ={**base_environ(database_url), **environ}, versions=versions)
        app.config["CLOCK"] = lambda: TEST_NOW
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    if apps:
        _empty_tables(database_url)


@pytest.fixture
def app(make_app) -> Flask:
    # No app context is held open: each test request gets its own, as in production, so
    # nothing (g, the database session) leaks from one request into the next.
    return make_app()


@pytest.fixture
def ctx(app) -> Iterator[Flask]:
    """An app context for tests that call the core directly."""
    with app.app_context():
        yield app


def _detached(obj):
    """Load every attribute and detach ``obj`` so a test can read it outside a context."""
    db.session.refresh(obj)
    db.session.expunge(obj)
    return obj


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture(params=REGISTRY.numbers, ids=[f"v{n}" for n in REGISTRY.numbers])
def version(request) -> str:
    return request.param


@dataclass
class Api:
    """A test client bound to one API version; ``data()`` reads either version's body."""

    client: FlaskClient
    version: str
    prefix: str = field(init=False)

    def __post_init__(self):
        self.prefix = f"/api/v{self.version}"

    @property
    def enveloped(self) -> bool:
        """Whether the version answers in v2's envelope (v2 and the versions built on it)."""
        versions = self.client.application.extensions["api_versions"]
        return isinstance(versions[self.version].presenter, V2Presenter)

    def url(self, path: str) -> str:
        return self.prefix + path

    def get(self, path, **kw):
        return self.client.get(self.url(path), **kw)

    def post(self, path, **kw):
        return self.client.post(self.url(path), **kw)

    def put(self, path, **kw):
        return self.client.put(self.url(path), **kw)

    def delete(self, path, **kw):
        return self.client.delete(self.url(path), **kw)

    def data(self, response):
        """The payload: a flat version's body itself, an enveloped version's ``data``."""
        body = response.get_json()
        if self.enveloped:
            assert body["success"] is True, body
            return body["data"]
        return body

    def items(self, response) -> list[dict]:
        body = response.get_json()
        return body["data"] if self.enveloped else body["books"]

    def total(self, response) -> int:
        body = response.get_json()
        return body["pagination"]["total_items"] if self.enveloped else body["total"]

    def error(self, response) -> dict:
        """Normalise an error body to ``{message, details, reason}`` for either version."""
        body = response.get_json()
        if self.enveloped:
            assert body["success"] is False, body
            err = body["error"]
            assert err["code"] == response.status_code
            return {
                "message": err["message"],
                "details": err.get("details"),
                "reason": err.get("reason"),
            }
        assert set(body) <= {"error", "details", "code"}, body
        return {
            "message": body["error"],
            "details": body.get("details"),
            "reason": body.get("code"),
        }


@pytest.fixture
def api(client, version) -> Api:
    """A client for the parametrized version: tests using it run once per version."""
    return Api(client, version)


@pytest.fixture
def v1(client) -> Api:
    return Api(client, "1")


@pytest.fixture
def v2(client) -> Api:
    return Api(client, "2")


_sequence = count(1)


@pytest.fixture
def make_user(app) -> Callable[..., User]:
    def build(email: str | None = None, role: str = ROLE_USER, password: str = PASSWORD) -> User:
        with app.app_context():
            email = email or f"user{next(_sequence)}@example.com"
            return _detached(auth_service.register(email, password, role=role))

    return build


@pytest.fixture
def user(make_user) -> User:
    return make_user()


@pytest.fixture
def admin(make_user) -> User:
    return make_user(role=ROLE_ADMIN)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth_headers(app) -> Callable[[User], dict[str, str]]:
    """Headers with a fresh access token for ``user``."""

    def build(user: User, *, refresh: bool = False) -> dict[str, str]:
        make = create_refresh_token if refresh else create_access_token
        with app.app_context():
            return bearer(make(identity=str(user.id)))

    return build


@pytest.fixture
def make_book(app) -> Callable[..., Book]:
    def build(creator: User | None = None, **fields) -> Book:
        n = next(_sequence)
        values = {"title": f"Book {n}", "author": f"Author {n}", **fields}
        with app.app_context():
            book = Book(**values, created_by=creator.id if creator else None)
            db.session.add(book)
            db.session.commit()
            return _detached(book)

    return build


@pytest.fixture
def count_queries(app) -> Callable[[], Iterator[list[str]]]:
    """A context manager collecting the SQL statements run inside it."""
    from contextlib import contextmanager

    @contextmanager
    def counting():
        statements: list[str] = []

        def record(conn, cursor, statement, *args):
            statements.append(statement)

        with app.app_context():
            engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)

    return counting


@pytest.fixture
def redis_url() -> str:
    """An empty Redis database for the test; skips locally (fails in CI) when unreachable."""
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        message = f"Redis at TEST_REDIS_URL is unreachable ({type(exc).__name__})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    finally:
        client.close()
    return TEST_REDIS_URL
