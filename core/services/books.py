"""Book rules: listing, ownership, scopes, ISBN uniqueness and transactions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import false, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from core.errors import Conflict, Forbidden, NotFound
from core.extensions import db
from core.models import MAX_ID, SCOPE_WRITE, Book
from core.paging import Page
from core.principal import Principal
from core.schemas import MAX_PER_PAGE, MAX_YEAR

DUPLICATE_ISBN = "A book with this ISBN already exists"

# A caller's condition on the book it is about to change, e.g. that the client saw its current
# state; it raises a DomainError (PreconditionFailed, PreconditionRequired) to stop the write.
Precondition = Callable[[Book], None]

_SORT_COLUMNS = {
    "title": func.lower(Book.title),
    "author": func.lower(Book.author),
    "year": Book.year,
    "created_at": Book.created_at,
}


@dataclass(frozen=True)
class ListParams:
    page: int = 1
    per_page: int = 20
    sort: str = "created_at"
    order: str = "desc"
    search: str | None = None
    author: str | None = None
    year: int | None = None

    def __post_init__(self):
        # Above the maximum is clamped rather than refused.
        object.__setattr__(self, "per_page", min(self.per_page, MAX_PER_PAGE))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_books(params: ListParams) -> Page[Book]:
    """Return one page of books; ties in the sort key are broken by id, so paging is stable."""
    conditions = _filters(params)
    total = db.session.scalar(select(func.count(Book.id)).where(*conditions))
    offset = (params.page - 1) * params.per_page
    if offset >= total:
        # Past the end (or no match): nothing to fetch, and a huge offset never reaches the driver.
        return Page(items=[], total=total, page=params.page, per_page=params.per_page)

    key = _SORT_COLUMNS[params.sort]
    if params.order == "asc":
        ordering = (key.asc().nulls_last(), Book.id.asc())
    else:
        ordering = (key.desc().nulls_last(), Book.id.desc())
    items = db.session.scalars(
        select(Book).where(*conditions).order_by(*ordering).limit(params.per_page).offset(offset)
    ).all()
    return Page(items=list(items), total=total, page=params.page, per_page=params.per_page)


def _filters(params: ListParams) -> list:
    """SQL conditions for the filters; a value no stored book can have matches nothing."""
    conditions = []
    for column, text in ((Book.title, params.search), (Book.author, params.author)):
        if text:
            if "\x00" in text or len(text) > column.type.length:
                return [false()]
            conditions.append(column.ilike(f"%{_escape_like(text)}%", escape="\\"))
    if params.year is not None:
        if not 0 <= params.year <= MAX_YEAR:
            return [false()]
        conditions.append(Book.year == params.year)
    return conditions


def get_book(book_id: int) -> Book:
    """Raises NotFound."""
    book = db.session.get(Book, book_id) if 0 < book_id <= MAX_ID else None
    if book is None:
        raise NotFound("Book not found")
    return book


def create_book(data: dict, actor: Principal) -> Book:
    """Create a book from validated ``data``; a key's book is credited to the key's creator.

    Raises Forbidden(insufficient_scope) without the write scope, Conflict on a duplicate ISBN.
    """
    actor.require_scope(SCOPE_WRITE)
    _ensure_isbn_free(data.get("isbn"))
    book = Book(**data, created_by=actor.user_id)
    db.session.add(book)
    _commit(data.get("isbn"))
    return book


def update_book(
    book_id: int, changes: dict, actor: Principal, precondition: Precondition | None = None
) -> Book:
    """Apply only the fields in ``changes``.

    Raises Forbidden(insufficient_scope) without the write scope, then NotFound, then Forbidden
    unless ``actor`` may change the book (see ``may_change``), then whatever ``precondition``
    raises for the book as it stands, then Conflict.
    """
    actor.require_scope(SCOPE_WRITE)
    book = get_book(book_id)
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
    book = get_book(book_id)
    if precondition is not None:
        precondition(book)
    db.session.delete(book)
    _commit()


def count_books() -> int:
    return db.session.scalar(select(func.count(Book.id)))


def _ensure_isbn_free(isbn: str | None) -> None:
    if isbn and db.session.scalar(select(Book.id).where(Book.isbn == isbn)) is not None:
        raise _duplicate_isbn()


def _commit(isbn: str | None = None) -> None:
    """Commit, turning what a concurrent request can cause into domain errors.

    The ISBN pre-check is only a courtesy: the unique index decides when two requests race.
    A book deleted by another request between our read and our write is NotFound.
    """
    try:
        db.session.commit()
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
