"""The book collection: list, read, create, update, delete."""

from flask import Blueprint, request

from api.platform import conditional
from api.platform.authentication import authenticated, current_principal
from api.platform.bodies import json_body
from api.platform.idempotency import idempotent
from api.platform.openapi import document
from api.platform.pagination import list_params
from api.versioning import present, serving
from core.models import SCOPE_WRITE
from core.services import books
from core.validation import BookSchema, ListQuerySchema, load, load_query


@document("book_page", query=ListQuerySchema, etag=True, conditional="read", tags=("books",))
def list_books():
    """List books, a page at a time, filtered and sorted."""
    presenter = present()
    params = list_params(
        load_query(presenter.list_query, request.args, strict=serving().strict_query)
    )
    page = books.list_books(params)
    etag = conditional.page_etag(page)
    return conditional.conditional_get(etag, lambda: presenter.book_page(page, params), weak=True)


@document("book", etag=True, conditional="read", tags=("books",))
def get_book(book_id: int):
    """Get one book."""
    book = books.get_book(book_id)
    return conditional.conditional_get(conditional.book_etag(book), lambda: present().book(book))


@document(
    "book",
    status=201,
    body=BookSchema,
    auth="access_or_key",
    errors=(403, 409),
    etag=True,
    idempotent=True,
    tags=("books",),
)
@authenticated(scope=SCOPE_WRITE)
@idempotent
def create_book():
    """Add a book; any signed-in user or API key with the write scope may."""
    data = load(present().body_schema(BookSchema), json_body())
    book = books.create_book(data, current_principal())
    response = present().book(book, 201, present().created_headers(book))
    return conditional.tagged(response, conditional.book_etag(book))


@document(
    "book",
    body=BookSchema(partial=True),
    auth="access_or_key",
    errors=(403, 409),
    etag=True,
    conditional="write",
    tags=("books",),
)
@authenticated(scope=SCOPE_WRITE)
def update_book(book_id: int):
    """Change the fields sent; the book's creator, an admin or a key with the write scope may."""
    changes = load(present().body_schema(BookSchema), json_body(), partial=True)
    book = books.update_book(book_id, changes, current_principal(), conditional.if_match)
    return conditional.tagged(present().book(book), conditional.book_etag(book))


# Documented for tokens only: an API key is authenticated here, but only to be refused (403).
@document("book_deleted", auth="access", errors=(403,), conditional="write", tags=("books",))
@authenticated()
def delete_book(book_id: int):
    """Delete a book; admin users only (never an API key)."""
    books.delete_book(book_id, current_principal(), conditional.if_match)
    return present().book_deleted()


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/books", view_func=list_books, methods=["GET"])
    bp.add_url_rule("/books", view_func=create_book, methods=["POST"])
    bp.add_url_rule("/books/<int:book_id>", view_func=get_book, methods=["GET"])
    bp.add_url_rule("/books/<int:book_id>", view_func=update_book, methods=["PUT"])
    bp.add_url_rule("/books/<int:book_id>", view_func=delete_book, methods=["DELETE"])
