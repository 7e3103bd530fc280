"""Flask extensions, created once and bound to an app in ``api.create_app``."""

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import click
from flask import current_app
from flask_jwt_extended import JWTManager
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import MetaData, Numeric, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import Pool
from sqlalchemy.sql import Select

from core import checkpoints

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# While set, every session of this thread works on this connection, inside its transaction.
_SHARED_CONNECTION: ContextVar[Connection | None] = ContextVar("shared_connection", default=None)


class Session(FlaskSession):
    """Flask-SQLAlchemy's session; inside ``rolled_back()`` it joins that block's connection."""

    def get_bind(self, *args, **kwargs):
        connection = _SHARED_CONNECTION.get()
        return connection if connection is not None else super().get_bind(*args, **kwargs)


# Sessions live for one request: what a request committed stays loaded (no reload per object).
# A session joining a connection already in a transaction commits to a savepoint of it.
db = SQLAlchemy(
    model_class=Base,
    session_options={
        "expire_on_commit": False,
        "class_": Session,
        "join_transaction_mode": "create_savepoint",
    },
)


@contextmanager
def _shared_connection(*, immediate: bool) -> Iterator[tuple[Connection, object]]:
    """One connection in a transaction that every session of this thread joins meanwhile (new
    request contexts included): their commits only release savepoints of it."""
    with db.engine.connect() as connection:
        transaction = connection.begin()
        if connection.dialect.name == "sqlite":
            # pysqlite defers BEGIN to the first write, so a session's SAVEPOINT would open the
            # transaction and its RELEASE commit it. IMMEDIATE for a block that writes: taking
            # the lock now waits out the busy timeout instead of failing on upgrade.
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        token = _SHARED_CONNECTION.set(connection)
        try:
            yield connection, transaction
        finally:
            _SHARED_CONNECTION.reset(token)


@contextmanager
def rolled_back() -> Iterator[Connection]:
    """A block whose database work is all undone, at its end. Use ``begin_nested()`` on the
    yielded connection to undo one part before the next."""
    with _shared_connection(immediate=False) as (connection, transaction):
        try:
            yield connection
        finally:
            transaction.rollback()


@contextmanager
def one_transaction() -> Iterator[Connection]:
    """A block whose database work commits at once, at its end (or is undone if it raises):
    a service that commits its own write and the caller's bookkeeping about that write land
    together. The block's session is committed first, so its next statement starts on the
    shared connection, and ended at the end."""
    db.session.commit()
    with _shared_connection(immediate=True) as (connection, transaction):
        try:
            yield connection
            db.session.commit()
            transaction.commit()
        except BaseException:
            db.session.rollback()
            transaction.rollback()
            raise


@contextmanager
def reading() -> Iterator[Connection]:
    """A connection for read-only statements (rows, not ORM objects).

    Inside ``rolled_back()`` or ``one_transaction()``, that block's connection; when the
    request's session is in a transaction, the session's (its writes are seen, and no second
    connection is taken); otherwise a pooled connection of its own, given back when the block
    ends, with no session to set up and tear down around it."""
    shared = _SHARED_CONNECTION.get()
    if shared is not None:
        yield shared
    elif db.session.registry.has() and db.session().in_transaction():
        yield db.session.connection()
    else:
        with db.engine.connect() as connection:
            yield connection


class DriverRead:
    """A fixed SELECT by bound values, run on the driver's own cursor of a pooled connection
    (see ``driver_reads``): no SQLAlchemy connection, transaction, execution context or result
    object around it (for a short read they cost more than the query).

    Values go in as SQLAlchemy would send them (the statement's own defaults, then each bound
    type's processor) and rows come back through the columns' result processors, as tuples.
    Statements that SQLAlchemy rewrites per execution (expanding ``IN`` lists, values rendered
    into the SQL), and numeric columns (whose result processors need the driver's type code),
    are refused.
    """

    def __init__(self, statement: Select):
        self.statement = statement
        self._plans: dict[tuple, tuple] = {}

    def plan(self, dialect) -> tuple:
        """(compiled, or None when the caller's values go to the driver as they are; SQL;
        parameter names in order, or None for named; bind processors by name; (position,
        result processor) pairs, or None), compiled once per dialect."""
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        plan = self._plans.get(key)
        if plan is None:
            compiled = self.statement.compile(dialect=dialect)
            if compiled.literal_execute_params or compiled.post_compile_params:
                raise ValueError("DriverRead takes statements whose SQL is fixed")
            if compiled.escaped_bind_names:
                raise ValueError("DriverRead takes parameters with plain names")
            if any(isinstance(c.type, Numeric) for c in self.statement.selected_columns):
                # Their processors need the driver's type code, which a plan made before the
                # first execution does not have.
                raise ValueError("DriverRead takes no numeric (Numeric, Float) columns")
            names = compiled.positiontup  # None for a named paramstyle
            processors = [
                (position, process)
                for position, column in enumerate(self.statement.selected_columns)
                if (process := column.type._cached_result_processor(dialect, None)) is not None
            ]
            binds = dict(compiled._bind_processors)
            # Values as given, when every parameter is the caller's and none needs processing.
            direct = not binds and all(b.required for b in compiled.binds.values())
            plan = self._plans[key] = (
                None if direct else compiled,
                compiled.string,
                tuple(names) if names is not None else None,
                binds,
                tuple(processors) or None,
            )
        return plan

    def first(self, values: dict) -> tuple | None:
        """The first row for ``values`` (bound parameters by name), or None."""
        with driver_reads() as run:
            rows = run(self, values, 1)
        return rows[0] if rows else None


# A block's runner of DriverReads: run(read, values, limit=None) -> rows (tuples).
DriverRunner = Callable[..., list]


def driver_reads() -> "_DriverReads":
    """A block (``with driver_reads() as run:``) of DriverReads on one pooled connection, given
    back when it ends; ``run(read, values, limit=None)`` returns the rows.

    A driver error is raised as SQLAlchemy's (OperationalError for an unreachable database):
    a lost connection empties the pool, as SQLAlchemy does (its siblings are as stale); any
    other error (a lock, a cancelled statement) leaves the connection in; a statement
    interrupted part-way (a worker stopping) discards it.

    Inside ``rolled_back()`` or ``one_transaction()``, or while the request's session is in a
    transaction, the statements run there instead, through SQLAlchemy (see ``reading``).
    """
    return _DriverReads()


class _DriverReads:
    # A class rather than a generator context manager: one book's read is a block of its own.
    __slots__ = ("_connection", "_reading", "_engine")

    def __enter__(self) -> DriverRunner:
        self._reading = None
        if _SHARED_CONNECTION.get() is not None or (
            db.session.registry.has() and db.session().in_transaction()
        ):
            self._reading = reading()
            self._connection = self._reading.__enter__()
            return self._through_sqlalchemy
        self._engine = engine = db.engine
        dialect = engine.dialect
        driver_error = dialect.loaded_dbapi.Error
        try:
            self._connection = engine.raw_connection()
        except driver_error as error:
            raise DBAPIError.instance(
                None, None, error, driver_error, hide_parameters=True, dialect=dialect
            ) from error
        return self._run

    def __exit__(self, *exc_info) -> None:
        if self._reading is not None:
            self._reading.__exit__(*exc_info)
        else:
            self._connection.close()  # back to the pool, which rolls back what the driver began

    def _through_sqlalchemy(self, read: DriverRead, values: dict, limit: int | None = None):
        result = self._connection.execute(read.statement, values)
        rows = result.fetchmany(limit) if limit else result.all()
        result.close()
        return [tuple(row) for row in rows]

    def _run(self, read: DriverRead, values: dict, limit: int | None = None) -> list:
        engine = self._engine
        dialect = engine.dialect
        connection = self._connection
        compiled, sql, names, binds, processors = read.plan(dialect)
        if compiled is not None:
            values = compiled.construct_params(values, escape_names=False)
            for name, process in binds.items():
                values[name] = process(values[name])
        parameters = values if names is None else tuple(values[name] for name in names)
        driver_error = dialect.loaded_dbapi.Error
        cursor = None
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, parameters)
                rows = cursor.fetchmany(limit) if limit else cursor.fetchall()
            finally:
                cursor.close()
        except driver_error as error:
            lost = dialect.is_disconnect(error, connection.dbapi_connection, cursor)
            if lost:
                engine.pool._invalidate(connection, error)
            raise DBAPIError.instance(
                sql,
                parameters,
                error,
                driver_error,
                hide_parameters=True,
                connection_invalidated=lost,
                dialect=dialect,
            ) from error
        except Exception:  # raised by the driver in Python (a value it cannot take): still usable
            raise
        except BaseException:  # interrupted mid-statement: not reusable
            connection.invalidate()
            raise
        if processors is None:
            return rows
        processed = []
        for row in rows:
            row = list(row)
            for position, process in processors:
                row[position] = process(row[position])
            processed.append(tuple(row))
        return processed


class DeferredMigrate:
    """Flask-Migrate, loaded on first use.

    Serving never migrates, and Alembic with its templates is about 10 MiB in every worker, so
    it is imported only by what uses it: the ``flask db`` commands and ``flask_migrate``'s
    functions (through ``app.extensions["migrate"]``). ``directory`` is known without it.
    """

    def init_app(self, app, db, directory: str, **options) -> None:
        app.extensions["migrate"] = _PendingMigrate(app, db, directory, options)
        app.cli.add_command(_MigrationCommands(), "db")


class _PendingMigrate:
    def __init__(self, app, db, directory: str, options: dict):
        self.directory = directory
        self._binding = (app, db, directory, options)

    def __getattr__(self, name: str):
        from flask_migrate import Migrate

        app, db, directory, options = self._binding
        Migrate().init_app(app, db, directory=directory, **options)  # replaces this object
        return getattr(app.extensions["migrate"], name)


class _MigrationCommands(click.Command):
    """``flask db``: Flask-Migrate's command group, loaded when the command runs."""

    def __init__(self):
        super().__init__("db", help="Perform database migrations (Flask-Migrate).")

    def make_context(self, info_name, args, parent=None, **extra):
        from flask_migrate.cli import db as commands

        return commands.make_context(info_name, args, parent=parent, **extra)


migrate = DeferredMigrate()


class VerifiedTokens(JWTManager):
    """flask-jwt-extended's manager, remembering the tokens it has verified.

    Verifying a token costs more than the rest of an authenticated request's Python (PyJWT
    parses it twice and checks each character in Python), and a client sends the same token
    until it expires. A token that verified is remembered per app, with its claims, and used
    again while more than TOKEN_MARGIN_SECONDS of its life is left; near or after its expiry,
    and for anything else (CSRF values, a changed secret, a full cache), the library decides
    as before, so expired, forged and malformed tokens get exactly its answers. Revocation is
    not remembered: the blocklist check runs on every request.

    Overrides ``_decode_jwt_from_config``, which decode_token and verify_jwt_in_request call
    (flask-jwt-extended 4.7, pinned)."""

    def _decode_jwt_from_config(self, encoded_token, csrf_value=None, allow_expired=False):
        app = current_app._get_current_object()
        cache = app.extensions.setdefault("verified_tokens", {})
        key = (encoded_token, app.config["JWT_SECRET_KEY"])
        if csrf_value is None:
            claims = cache.get(key)
            if claims is not None:
                expires = claims.get("exp")
                if allow_expired or expires is None or time.time() < expires - TOKEN_MARGIN_SECONDS:
                    return dict(claims)
        claims = super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        if csrf_value is None:
            if len(cache) >= TOKENS_KEPT:
                cache.clear()
            cache[key] = dict(claims)
        return claims


# A remembered token serves while it has this long to live; then the library checks it.
TOKEN_MARGIN_SECONDS = 5
TOKENS_KEPT = 4096  # per app; a few hundred bytes each

jwt = VerifiedTokens()
SQLITE_BUSY_TIMEOUT_MS = 5000
# SQLite's page cache per connection (its default is 2 MB). A search that sorts a thousand
# matches reads a thousand scattered rows: with 2 MB most of them missed the cache and cost a
# read() from the operating system's file cache each (S5's two statements: 2.1 ms; with 8 MB,
# 1.0 ms). A gevent worker uses one connection at a time (no greenlet switches while one is
# out of the pool), so this is about 6 MB more per worker, once its cache has filled.
SQLITE_CACHE_KIB = 8 * 1024


def _lower(value):
    return value.lower() if isinstance(value, str) else value


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, connection_record):
    """WAL for concurrent readers, a busy timeout for writers, enforced foreign keys, and a
    ``lower()`` that folds all of Unicode (SQLite's own folds ASCII only), so case-insensitive
    search and sorting agree with PostgreSQL's.

    ``synchronous = NORMAL`` skips the fsync on each commit: in WAL mode a committed
    transaction still survives the process being killed, but the last ones before a power loss
    or an OS crash may be lost (the database stays consistent). Checkpoints run in the
    background (core.checkpoints); ``wal_autocheckpoint`` is only its backstop."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {checkpoints.AUTOCHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    finally:
        cursor.close()


# A pooled connection that sat idle this long is checked before use; a busy one is not (a
# round trip per request buys nothing while connections are in steady use). A connection that
# dies in use fails its request with a 503, and SQLAlchemy then replaces the whole pool.
IDLE_PING_SECONDS = 1.0


@event.listens_for(Pool, "checkin")
def _mark_idle(dbapi_connection, connection_record):
    connection_record.info["idle_since"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_if_idle(dbapi_connection, connection_record, connection_proxy):
    if isinstance(dbapi_connection, sqlite3.Connection):
        return  # a file, not a server: nothing to lose between requests
    idle_since = connection_record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()
    except Exception as exc:  # any failure: the pool reconnects and tries again
        raise DisconnectionError() from exc
