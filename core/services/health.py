"""Health of the parts the API depends on."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from core.extensions import db

OK = "ok"
UNAVAILABLE = "unavailable"
SCHEMA_OUTDATED = "schema_outdated"
VERSION_QUERY = "SELECT version_num FROM alembic_version"  # Flask-Migrate's default table


@lru_cache(maxsize=8)
def migration_heads(directory: str) -> frozenset[str]:
    """The head revisions of the migrations in ``directory``, read once per process.

    A head is a revision no other one revises. Read from each script's ``revision`` and
    ``down_revision`` assignments, as Alembic writes them, without importing Alembic (a worker
    that only serves never loads it)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for script in Path(directory, "versions").glob("*.py"):
        found = _assignments(script, ("revision", "down_revision"))
        if "revision" not in found:
            continue
        revisions.add(found["revision"])
        down = found.get("down_revision")
        revised.update((down,) if isinstance(down, str) else (down or ()))
    return frozenset(revisions - revised)


def _assignments(script: Path, names: tuple[str, ...]) -> dict:
    """The literal values a module assigns at its top level to ``names``."""
    values = {}
    for node in ast.parse(script.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in names:
                    values[target.id] = ast.literal_eval(node.value)
    return values


def database_ok() -> bool:
    """True when a trivial query succeeds; never raises."""
    try:
        with db.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return True
    except SQLAlchemyError:
        return False


def _schema_revisions() -> frozenset[str] | None:
    """The revisions Alembic recorded in the database, or None when they cannot be read.

    Health is polled often and this is its whole cost, so the statement goes to the driver on
    a pooled connection, with no SQLAlchemy statement, transaction or result around it."""
    driver_error = db.engine.dialect.loaded_dbapi.Error
    try:
        connection = db.engine.raw_connection()  # the driver's own error when it cannot connect
    except (SQLAlchemyError, driver_error):
        return None
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(VERSION_QUERY)
            return frozenset(row[0] for row in cursor.fetchall())
        finally:
            cursor.close()
    except driver_error:
        connection.invalidate()  # whatever went wrong, the next check starts afresh
        return None
    finally:
        connection.close()


def database_status(heads: frozenset[str]) -> str:
    """``OK``, ``UNAVAILABLE``, or ``SCHEMA_OUTDATED`` when the schema is not at ``heads``.

    A healthy database costs one query, which both reaches it and reads its revision. When that
    fails, a trivial query tells an unreachable database from one without Alembic's table."""
    revisions = _schema_revisions()
    if revisions is None:
        if not database_ok():
            return UNAVAILABLE
        revisions = _schema_revisions()  # the first failure may have been a dropped connection
        if revisions is None:
            return SCHEMA_OUTDATED  # reachable, never migrated
    return OK if revisions == heads else SCHEMA_OUTDATED
