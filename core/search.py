"""Case-insensitive substring filters that an index serves.

The meaning is always the plain one: the lower-cased column contains the lower-cased term, with
``%`` and ``_`` taken literally (``lower()`` folds all of Unicode on both databases, see
``core.extensions``).

- PostgreSQL: ``ILIKE`` itself is served by the pg_trgm GIN indexes (``ix_books_*_trgm``).
- SQLite: the FTS5 tables ``books_search_title`` and ``books_search_author`` (trigram
  tokenizer, case-sensitive) hold the lower-cased title and author of every book, kept in
  step by triggers. A quoted term is a
  phrase of consecutive trigrams, so matching the lower-cased term there is exactly the
  substring test, answered from the index.

A term shorter than a trigram cannot use either index: PostgreSQL scans with ILIKE, SQLite with
LIKE over the lower-cased copies in the FTS5 tables (SQLite's own LIKE, no Python ``lower()``
per row; both sides are already lower-cased, so its ASCII-only case folding never matters).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlalchemy import bindparam, column, literal_column, select, table
from sqlalchemy.sql import ColumnElement

from core.extensions import db

TRIGRAM = 3

_FTS = {
    name: table(f"books_search_{name}", column("rowid"), column(name))
    for name in ("title", "author")
}
# Each FTS5 table keeps what it indexes in its ``%_content`` table (id, c0): read directly,
# it is a plain table scan, several times faster than one through the virtual table.
_FTS_CONTENT = {
    name: table(f"books_search_{name}_content", column("id"), column("c0"))
    for name in ("title", "author")
}


@dataclass(frozen=True)
class Condition:
    """One filter, two ways to the same rows.

    ``scan`` is checked row by row (for a walk in sort order that stops at a page); ``indexed``
    finds the matching rows from an index (for a count, or a page of few matches); ``matches``
    selects the matching ids from the index alone when it can.
    """

    scan: ColumnElement
    indexed: ColumnElement
    matches: object | None = None
    # Values are bound parameters: conditions of one ``shape`` make the same SQL, so the
    # statements built from them can be reused with other ``params``.
    shape: tuple = ()
    params: dict = field(default_factory=dict)


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def plain(condition: ColumnElement, shape: tuple = (), params: dict | None = None) -> Condition:
    return Condition(scan=condition, indexed=condition, shape=shape, params=params or {})


def _sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


def contains(model_column, text: str, id_column) -> Condition:
    """``model_column`` contains ``text``, ignoring case."""
    name = model_column.key
    params = {f"{name}_pattern": f"%{escape_like(text)}%"}
    sqlite = _sqlite()
    lowered = text.lower()
    kind = "like" if not sqlite else "trigram" if len(lowered) >= TRIGRAM else "short"
    if kind == "trigram":
        params[f"{name}_phrase"] = '"' + lowered.replace('"', '""') + '"'
    elif kind == "short":
        params[f"{name}_lowered"] = f"%{escape_like(lowered)}%"
    # The expressions depend on the column and the kind of term only (values are bound):
    # built once, not per request.
    key = (model_column.class_.__name__, name, id_column.key, kind)
    shaped = _CONTAINS.get(key)
    if shaped is None:
        shaped = _CONTAINS[key] = _contains(model_column, id_column, kind)
    return replace(shaped, params=params)


_CONTAINS: dict[tuple, Condition] = {}


def _contains(model_column, id_column, kind: str) -> Condition:
    name = model_column.key
    scan = model_column.ilike(bindparam(f"{name}_pattern"), escape="\\")
    if kind == "like":
        return plain(scan, (name, "like"))
    if kind == "trigram":
        index = _FTS[name]
        matches = (
            select(literal_column(f"{index.name}.rowid"))
            .select_from(index)
            .where(index.c[name].op("MATCH")(bindparam(f"{name}_phrase")))
        )
    else:
        content = _FTS_CONTENT[name]
        matches = select(content.c.id).where(
            content.c.c0.like(bindparam(f"{name}_lowered"), escape="\\")
        )
    return Condition(scan=scan, indexed=id_column.in_(matches), matches=matches, shape=(name, kind))
