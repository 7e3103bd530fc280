"""Book rules: listing, ownership, scopes, ISBN uniqueness and transactions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NamedTuple

from flask import current_app
from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from core.errors import Conflict, Forbidden, NotFound
from core.extensions import DriverRead, DriverRunner, db, driver_reads
from core.models import MAX_ID, SCOPE_WRITE, YEAR_NULLS_HIGH, YEAR_NULLS_LOW, Book, BookStats
from core.paging import Page, Position
from core.principal import Principal
from core.search import Condition, contains, plain
from core.validation import MAX_PER_PAGE, MAX_YEAR

DUPLICATE_ISBN = "A book with this ISBN already exists"

# A caller's condition on the book it is about to change, e.g. that the client saw its current
# state; it raises a DomainError (PreconditionFailed, PreconditionRequired) to stop the write.
Precondition = Callable[[Book], None]

# What a read returns: plain rows, without the ORM's per-object bookkeeping.
BOOK_COLUMNS = (
    Book.id,
    Book.title,
    Book.author,
    Book.isbn,
    Book.year,
    Book.description,
    Book.created_at,
    Book.updated_at,
    Book.created_by,
)


class BookRow(NamedTuple):
    """A book as a read returns it: BOOK_COLUMNS in order (and, in a page, its sort key).

    Attributes as on ``Book``. A tuple, not SQLAlchemy's Row: a Row's attribute look-up by
    name costs several times a tuple field's, and a page reads nine of them per book."""

    id: int
    title: str
    author: str
    isbn: str | None
    year: int | None
    description: str | None
    created_at: datetime
    updated_at: datetime
    created_by: int | None
    sort_key: object = None


# Built once: the hot read runs a prepared statement on the connection, past the ORM.
_BOOK_BY_ID = DriverRead(select(*BOOK_COLUMNS).where(Book.id == bindparam("book_id")))
# Column defaults (created_at, updated_at) apply as for the ORM.
_INSERT = insert(Book.__table__).returning(*BOOK_COLUMNS)
# A text filter with more matches than this is answered walking the sort order rather than
# by sorting its matches (which costs in proportion to their number).
SORTED_MATCHES_LIMIT = 50_000
# Offsets beyond this cannot hold a book (ids are 32-bit) and never reach the database.
MAX_OFFSET = MAX_ID


@dataclass(frozen=True)
class ListParams:
    page: int = 1
    per_page: int = 20
    sort: str = "created_at"
    order: str = "desc"
    search: str | None = None
    author: str | None = None
    year: int | None = None
    # Keyset paging: the page after (or, backward, before) this position instead of ``page``.
    position: Position | None = None

    def __post_init__(self):
        # Above the maximum is clamped rather than refused.
        object.__setattr__(self, "per_page", min(self.per_page, MAX_PER_PAGE))


def sort_key(sort: str, order: str):
    """The SQL expression a list is ordered by (then by id); every one has an index.

    Keys are never NULL, so that keyset comparisons hold: a book without a year sorts last in
    both orders through a stand-in year beyond every real one.
    """
    if sort == "year":
        # A literal, not a bound parameter: the expression must be the indexed one.
        stand_in = YEAR_NULLS_HIGH if order == "asc" else YEAR_NULLS_LOW
        return func.coalesce(Book.year, literal_column(str(stand_in)))
    if sort == "title":
        return func.lower(Book.title)
    if sort == "author":
        return func.lower(Book.author)
    return Book.created_at


def list_books(params: ListParams) -> Page:
    """Return one page of books; ties in the sort key are broken by id, so paging is stable.

    A page is found by number (``page``) or from a position (``position``, keyset paging, whose
    cost does not grow with depth). Two statements run (a count and the page) whatever the page
    size; each is built once per shape of query and then reused with new values.
    """
    with driver_reads() as run:
        return _list_books(run, params)


def _list_books(run: DriverRunner, params: ListParams) -> Page:
    filters = _filters(params)
    total, exact, few = _count(run, filters)
    values = {"page_limit": params.per_page + 1}
    for condition in filters:
        values.update(condition.params)
    position = params.position
    if position is None:
        offset = (params.page - 1) * params.per_page
        if (exact and offset >= total) or offset > MAX_OFFSET:
            # Past the end (or no match): nothing to fetch; a huge offset never reaches the driver.
            return Page(items=[], total=total, page=params.page, per_page=params.per_page)
        values["page_offset"] = offset
        mode = "page"
    else:
        values.update(position_key=position.key, position_id=position.id)
        # Reading up the (key, id) order: the page after a position in an ascending list, or
        # before one in a descending list.
        mode = "up" if (params.order == "asc") != position.backward else "down"
    # Few matches: found from the indexes, then sorted. Many: walked in sort order, stopping
    # at the page, which is soon found among so many.
    shape = (params.sort, params.order, mode, few, *(c.shape for c in filters))
    statement = _statement(shape, lambda: _page_statement(params, filters, few, mode))
    rows = [BookRow(*row) for row in run(statement, values)]
    items = rows[: params.per_page]
    further = len(rows) > params.per_page
    if position is not None and position.backward:
        items.reverse()
    page = Page(
        items=items,
        total=total,
        page=params.page if position is None else None,
        per_page=params.per_page,
        first=_position(items[0]) if items else None,
        last=_position(items[-1]) if items else None,
    )
    if position is None:
        return page if exact else replace(page, more=further)
    # A cursor is made from a page's first or last book: a page reached by one has a neighbour
    # on the side it came from (unless nothing is left to show at all).
    came_from = bool(items)
    if position.backward:
        return replace(page, more=came_from, earlier=further)
    return replace(page, more=further, earlier=came_from)


# Statements by shape of query (sort, order, paging mode, filters, database): a few hundred
# at most, built on first use.
_STATEMENTS: dict[tuple, DriverRead] = {}


def _statement(shape: tuple, build: Callable[[], object]) -> DriverRead:
    key = (db.engine.dialect.name, *shape)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = DriverRead(build())
    return statement


def _page_statement(params: ListParams, filters: list[Condition], few: bool, mode: str):
    key = sort_key(params.sort, params.order)
    conditions = [f.indexed if few else f.scan for f in filters]
    limit = bindparam("page_limit", type_=Integer)
    columns = (*BOOK_COLUMNS, key.label("sort_key"))
    if mode == "page":
        ordering = _ordering(key, params.order == "asc")
        # The offset is walked in the (key, id) index alone; only the page's rows are read.
        ids = (
            select(Book.id)
            .where(*conditions)
            .order_by(*ordering)
            .limit(limit)
            .offset(bindparam("page_offset", type_=Integer))
            .subquery()
        )
        return select(*columns).join(ids, Book.id == ids.c.id).order_by(*ordering)
    at_key = bindparam("position_key", type_=key.type)
    at_id = bindparam("position_id", type_=Integer)
    # A range on the key plus a tie-break, rather than a row-value comparison, so that SQLite
    # seeks in the (key, id) index instead of scanning it.
    if mode == "up":
        beyond = and_(key >= at_key, or_(key > at_key, Book.id > at_id))
    else:
        beyond = and_(key <= at_key, or_(key < at_key, Book.id < at_id))
    return (
        select(*columns)
        .where(*conditions, beyond)
        .order_by(*_ordering(key, mode == "up"))
        .limit(limit)
    )


def _ordering(key, ascending: bool) -> tuple:
    if ascending:
        return key.asc(), Book.id.asc()
    return key.desc(), Book.id.desc()


def _position(row) -> Position:
    return Position(key=row.sort_key, id=row.id)


_BOOK_COUNT = DriverRead(select(BookStats.book_count).where(BookStats.id == 1))


def _count(run: DriverRunner, filters: list[Condition]) -> tuple[int, bool, bool]:
    """(total, exact, few). The unfiltered total is the trigger-kept counter; a filtered one
    is counted up to ``LIST_COUNT_LIMIT`` matches, so a broad filter costs a bounded amount.

    ``few``: the matches are few enough to sort from an index. A text filter counted in its
    index alone is counted further for that (cheaply), up to ``SORTED_MATCHES_LIMIT``.
    """
    if not filters:
        rows = run(_BOOK_COUNT, {})
        return (rows[0][0] if rows else 0) or 0, True, True
    limit = current_app.config["LIST_COUNT_LIMIT"]
    in_index = len(filters) == 1 and filters[0].matches is not None
    probe = max(limit, SORTED_MATCHES_LIMIT) if in_index else limit
    values = {"count_limit": probe + 1}
    for condition in filters:
        values.update(condition.params)

    def build():
        if in_index:
            matches = filters[0].matches  # counted in the index alone
        else:
            matches = select(literal(1)).select_from(Book).where(*(f.indexed for f in filters))
        limited = matches.limit(bindparam("count_limit", type_=Integer)).subquery()
        return select(func.count()).select_from(limited)

    statement = _statement(("count", *(c.shape for c in filters)), build)
    counted = run(statement, values)[0][0]
    return min(counted, limit), counted <= limit, counted <= probe


def _filters(params: ListParams) -> list[Condition]:
    """The filters' conditions; a value no stored book can have matches nothing."""
    conditions = []
    for column, text in ((Book.title, params.search), (Book.author, params.author)):
        if text:
            # lower() can lengthen text (U+0130 becomes two characters), never beyond twice.
            if "\x00" in text or len(text.lower()) > 2 * column.type.length:
                return [plain(false(), ("nothing",))]
            conditions.append(contains(column, text, Book.id))
    if params.year is not None:
        if not 0 <= params.year <= MAX_YEAR:
            return [plain(false(), ("nothing",))]
        # Sorted by year, the filter is spelled on the sort key (equal for a real year), so the
        # key's index serves both; any other sort has a (year, key, id) index.
        by_key = params.sort == "year"
        column = sort_key("year", params.order) if by_key else Book.year
        year = bindparam("year", type_=Integer)
        conditions.append(plain(column == year, ("year", by_key), {"year": params.year}))
    return conditions


def get_book(book_id: int) -> BookRow:
    """The book as a read-only row. Raises NotFound."""
    row = None
    if 0 < book_id <= MAX_ID:
        row = _BOOK_BY_ID.first({"book_id": book_id})
    if row is None:
        raise NotFound("Book not found")
    return BookRow(*row)


def _load_book(book_id: int) -> Book:
    """The book to change. Raises NotFound."""
    book = db.session.get(Book, book_id) if 0 < book_id <= MAX_ID else None
    if book is None:
        raise NotFound("Book not found")
    return book


def create_book(data: dict, actor: Principal) -> BookRow:
    """Create a book from validated ``data``; a key's book is credited to the key's creator.
    Returns it as a read would.

    Raises Forbidden(insufficient_scope) without the write scope, Conflict on a duplicate ISBN.
    """
    actor.require_scope(SCOPE_WRITE)
    # One INSERT ... RETURNING on the session's connection, without the ORM's unit of work;
    # no ISBN look-up first: the unique index decides (see _commit), one round trip fewer.
    values = {**data, "created_by": actor.user_id}
    row = _commit(data.get("isbn"), lambda: db.session.connection().execute(_INSERT, values).one())
    return BookRow(*row)


def update_book(
    book_id: int, changes: dict, actor: Principal, precondition: Precondition | None = None
) -> Book:
    """Apply only the fields in ``changes``.

    Raises Forbidden(insufficient_scope) without the write scope, then NotFound, then Forbidden
    unless ``actor`` may change the book (see ``may_change``), then whatever ``precondition``
    raises for the book as it stands, then Conflict.
    """
    actor.require_scope(SCOPE_WRITE)
    book = _load_book(book_id)
    if not may_change(book, actor):
        raise Forbidden("Only the book's creator or an admin may change it")
    if precondition is not None:
        precondition(book)
    if changes.get("isbn") and changes["isbn"] != book.isbn:
        _ensure_isbn_free(changes["isbn"])
    for field, value in changes.items():
        setattr(book, field, value)
    _commit(changes.get("isbn"))
    return book


def may_change(book: Book, actor: Principal) -> bool:
    # Service clients maintain the whole catalogue; people change only their own books.
    if actor.is_api_key or actor.is_admin:
        return True
    return actor.user_id is not None and book.created_by == actor.user_id


def delete_book(book_id: int, actor: Principal, precondition: Precondition | None = None) -> None:
    """Raises Forbidden unless ``actor`` is an admin user (never an API key), then NotFound,
    then whatever ``precondition`` raises for the book as it stands."""
    if actor.is_api_key:
        raise Forbidden("API keys cannot delete books; an admin must")
    actor.require_admin("Only an admin may delete books")
    book = _load_book(book_id)
    if precondition is not None:
        precondition(book)
    db.session.delete(book)
    _commit()


def count_books() -> int:
    with driver_reads() as run:
        return _count(run, [])[0]


def _ensure_isbn_free(isbn: str | None) -> None:
    if isbn and db.session.scalar(select(Book.id).where(Book.isbn == isbn)) is not None:
        raise _duplicate_isbn()


def _commit(isbn: str | None = None, write: Callable[[], object] | None = None):
    """``write()`` (when given) and commit, turning what a concurrent request can cause into
    domain errors; returns what ``write`` returned.

    The ISBN pre-check is only a courtesy: the unique index decides when two requests race.
    A book deleted by another request between our read and our write is NotFound.
    """
    try:
        written = write() if write is not None else None
        db.session.commit()
        return written
    except StaleDataError:
        db.session.rollback()
        raise NotFound("Book not found") from None
    except IntegrityError:
        db.session.rollback()
        if isbn and db.session.scalar(select(Book.id).where(Book.isbn == isbn)) is not None:
            raise _duplicate_isbn() from None
        raise Conflict("The book changed while this request ran; try again") from None


def _duplicate_isbn() -> Conflict:
    return Conflict(DUPLICATE_ISBN, details={"isbn": [DUPLICATE_ISBN]}, reason="duplicate_isbn")
