"""Fixtures: an app per test on every configured database, clients per version, factories.

The suite always runs on SQLite. When TEST_DATABASE_URL names a PostgreSQL database, every
database-backed test runs there too. In CI (CI=true) an unreachable PostgreSQL is a failure,
not a skip.

Under pytest-xdist (``make test`` runs ``-n 2``) each worker ("gw0", "gw1", ...) has databases of
its own: SQLite files in its temporary directory, a PostgreSQL database beside
TEST_DATABASE_URL's (``<name>_gw0``, created when missing) and a Redis database of its own
(TEST_REDIS_URL's number plus the worker's index).
"""

from __future__ import annotations

import functools
import os
import urllib.parse
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
# The pytest-xdist worker running this process ("gw0", "gw1", ...), empty without xdist.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
REDIS_DATABASES = 16  # Redis's default number of databases (0-15)


def _compile_url_builders_on_first_use() -> None:
    """Most of building an app (once per test) is werkzeug compiling, for each of its routes,
    two URL-builder functions up front (``Rule.compile``), when a test builds only a few URLs.
    In the suite a rule compiles each builder when it first builds a URL with it: the same
    function, from the same rule, later."""
    from werkzeug.routing import Rule

    compile_builder = Rule._compile_builder

    def on_first_use(rule: Rule, append_unknown: bool = True):
        attribute = "_build_unknown" if append_unknown else "_build"

        def build(self: Rule, /, **values):
            compiled = compile_builder(self, append_unknown).__get__(self, None)
            setattr(self, attribute, compiled)
            return compiled(**values)

        return build

    Rule._compile_builder = on_first_use


_compile_url_builders_on_first_use()


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


def _refuse_unless_test(database: str | None) -> None:
    if "test" not in (database or ""):
        raise pytest.UsageError(
            f"refusing to empty {database!r}: TEST_DATABASE_URL must name a database "
            "whose name contains 'test'"
        )


def _prepare_database(url: str) -> None:
    """Empty the database and build its schema with the project's migrations."""
    if sa.make_url(url).get_backend_name() == "postgresql":
        _refuse_unless_test(sa.make_url(url).database)
    engine = sa.create_engine(url)
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


def _worker_database(url: str) -> str:
    """The PostgreSQL database this process tests on: ``url``'s own without xdist, else the
    worker's beside it (``<name>_gw0``), created through ``url`` when it does not exist yet."""
    if not XDIST_WORKER:
        return url
    shared = sa.make_url(url)
    _refuse_unless_test(shared.database)  # before anything is created beside it
    name = f"{shared.database}_{XDIST_WORKER}"
    server = sa.create_engine(shared, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            exists = conn.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        server.dispose()
    return shared.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> Iterator[str]:
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
        url = _worker_database(url)
    _prepare_database(url)
    yield url
    _emptying_engine(url).dispose()


@functools.cache
def _emptying_engine(url: str) -> sa.Engine:
    """One engine per database for emptying it after each test, its connection kept open."""
    return sa.create_engine(url)


def _empty_tables(url: str) -> None:
    """Delete every row; ids restart, as in a new database. On PostgreSQL, DELETE and setval
    take a fraction of TRUNCATE's time on tables this small (and fire the same bookkeeping:
    books' delete trigger keeps book_stats in step, as its truncate trigger would)."""
    with _emptying_engine(url).begin() as conn:
        for table in TABLES:
            conn.execute(sa.text(f"DELETE FROM {table}"))
        if conn.dialect.name == "postgresql":
            for sequence in _sequences(url):
                conn.execute(sa.text("SELECT setval(:s, 1, false)"), {"s": sequence})
        else:
            conn.execute(sa.text("DELETE FROM sqlite_sequence"))


@functools.cache
def _sequences(url: str) -> tuple[str, ...]:
    """The sequences behind the emptied tables' serial and identity columns."""
    with _emptying_engine(url).connect() as conn:
        return tuple(
            conn.execute(
                sa.text(
                    "SELECT pg_get_serial_sequence(c.table_name, c.column_name) FROM "
                    "information_schema.columns c WHERE c.table_schema = 'public' "
                    "AND c.table_name = ANY(:tables) "
                    "AND pg_get_serial_sequence(c.table_name, c.column_name) IS NOT NULL"
                ),
                {"tables": list(TABLES)},
            ).scalars()
        )


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
def count_queries(app, monkeypatch) -> Callable[..., Iterator[list[str]]]:
    """A context manager collecting the SQL statements run inside it: those through SQLAlchemy
    and, unless ``driver=False``, those given to the driver directly (``DriverRead``)."""
    from contextlib import contextmanager

    @contextmanager
    def counting(driver: bool = True):
        statements: list[str] = []

        def record(conn, cursor, statement, *args):
            statements.append(statement)
            if isinstance(cursor, _DriverCursor):  # counted here, not again by the watch
                cursor.through_sqlalchemy = True

        with app.app_context():
            engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            with monkeypatch.context() as patch:
                if driver:
                    _watch_raw_connections(engine, patch, DriverWatch(statements=statements))
                yield statements
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)

    return counting


class _DriverCursor:
    """A DBAPI cursor that records the statements given to it (and their parameters), and
    raises ``fail`` if set."""

    through_sqlalchemy = False  # set for a cursor that SQLAlchemy's events saw (count_queries)

    def __init__(self, cursor, watch: DriverWatch, fail: Exception | None):
        self._cursor, self._watch, self._fail = cursor, watch, fail

    def execute(self, statement, *args):
        if not self.through_sqlalchemy:
            self._watch.statements.append(statement)
            self._watch.parameters.append(args[0] if args else None)
        if self._fail is not None:
            raise self._fail
        return self._cursor.execute(statement, *args)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


@dataclass
class DriverWatch:
    checkouts: list = field(default_factory=list)  # pooled connections handed out
    records: list = field(default_factory=list)  # their pool records, as checked out
    statements: list[str] = field(default_factory=list)  # what their cursors were given
    parameters: list = field(default_factory=list)  # with these values


def watch_driver(app, monkeypatch, fail: Exception | None = None) -> DriverWatch:
    """Watch what goes to the driver on connections from ``engine.raw_connection()`` (the
    driver-level reads): each cursor's statements, and ``fail`` raised by each if given."""
    with app.app_context():
        engine = db.engine
    return _watch_raw_connections(engine, monkeypatch, DriverWatch(), fail)


def _watch_raw_connections(engine, monkeypatch, watch: DriverWatch, fail=None) -> DriverWatch:
    real_raw_connection = engine.raw_connection

    def raw_connection():
        connection = real_raw_connection()
        watch.checkouts.append(connection)
        watch.records.append(connection._connection_record)
        cursor = connection.cursor
        monkeypatch.setattr(connection, "cursor", lambda: _DriverCursor(cursor(), watch, fail))
        return connection

    monkeypatch.setattr(engine, "raw_connection", raw_connection)
    return watch


def _worker_redis_url(url: str) -> str:
    """``url`` without xdist, else the same server's database numbered ``url``'s plus the
    worker's index (db 14 for gw0, 15 for gw1 with the default db 14)."""
    if not XDIST_WORKER:
        return url
    parts = urllib.parse.urlsplit(url)
    number = int(parts.path.strip("/") or 0) + int(XDIST_WORKER.removeprefix("gw"))
    if number >= REDIS_DATABASES:
        raise pytest.UsageError(
            f"xdist worker {XDIST_WORKER} would use Redis database {number} (past 15): set "
            "TEST_REDIS_URL to a lower database number or run fewer workers"
        )
    return parts._replace(path=f"/{number}").geturl()


@pytest.fixture
def redis_url() -> str:
    """An empty Redis database for the test; skips locally (fails in CI) when unreachable."""
    import redis

    url = _worker_redis_url(TEST_REDIS_URL)
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        message = f"Redis at TEST_REDIS_URL is unreachable ({type(exc).__name__})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    finally:
        client.close()
    return url
