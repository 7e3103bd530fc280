"""Book rules: listing, ownership, ISBN uniqueness and transactions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.errors import Conflict, Forbidden, NotFound
from core.extensions import db
from core.models import Book, User
from core.paging import Page
from core.schemas import MAX_PER_PAGE

DUPLICATE_ISBN = "A book with this ISBN already exists"

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
    conditions = []
    if params.search:
        conditions.append(Book.title.ilike(f"%{_escape_like(params.search)}%", escape="\\"))
    if params.author:
        conditions.append(Book.author.ilike(f"%{_escape_like(params.author)}%", escape="\\"))
    if params.year is not None:
        conditions.append(Book.year == params.year)

    key = _SORT_COLUMNS[params.sort]
    if params.order == "asc":
        ordering = (key.asc().nulls_last(), Book.id.asc())
    else:
        ordering = (key.desc().nulls_last(), Book.id.desc())

    total = db.session.scalar(select(func.count(Book.id)).where(*conditions))
    items = db.session.scalars(
        select(Book)
        .where(*conditions)
        .order_by(*ordering)
        .limit(params.per_page)
        .offset((params.page - 1) * params.per_page)
    ).all()
    return Page(items=list(items), total=total, page=params.page, per_page=params.per_page)


def get_book(book_id: int) -> Book:
    """Raises NotFound."""
    book = db.session.get(Book, book_id)
    if book is None:
        raise NotFound("Book not found")
    return book


def create_book(data: dict, actor: User | None) -> Book:
    """Create a book from validated ``data``. Raises Conflict on a duplicate ISBN."""
    _ensure_isbn_free(data.get("isbn"))
    book = Book(**data, created_by=actor.id if actor else None)
    db.session.add(book)
    _commit()
    return book


def update_book(book_id: int, changes: dict, actor: User) -> Book:
    """Apply only the fields in ``changes``. Raises NotFound, Forbidden, Conflict."""
    book = get_book(book_id)
    if not (actor.is_admin or book.created_by == actor.id):
        raise Forbidden("Only the book's creator or an admin may change it")
    if changes.get("isbn") and changes["isbn"] != book.isbn:
        _ensure_isbn_free(changes["isbn"])
    for field, value in changes.items():
        setattr(book, field, value)
    _commit()
    return book


def delete_book(book_id: int, actor: User) -> None:
    """Raises Forbidden unless ``actor`` is an admin, NotFound for an unknown id."""
    if not actor.is_admin:
        raise Forbidden("Only an admin may delete books")
    db.session.delete(get_book(book_id))
    db.session.commit()


def count_books() -> int:
    return db.session.scalar(select(func.count(Book.id)))


def _ensure_isbn_free(isbn: str | None) -> None:
    if isbn and db.session.scalar(select(Book.id).where(Book.isbn == isbn)) is not None:
        raise _duplicate_isbn()


def _commit() -> None:
    # The pre-check above is only a courtesy: the unique index decides when two requests race.
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise _duplicate_isbn() from None


def _duplicate_isbn() -> Conflict:
    return Conflict(DUPLICATE_ISBN, details={"isbn": [DUPLICATE_ISBN]}, reason="duplicate_isbn")
