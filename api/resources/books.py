"""The book collection: list, read, create, update, delete."""

from flask import Blueprint, request
from flask_jwt_extended import current_user, jwt_required

from api.http import json_body
from api.openapi import document
from api.presenters import Presenter
from core.schemas import BookSchema, ListQuerySchema, load, load_query
from core.services import books
from core.services.books import ListParams

_list_query = ListQuerySchema()
_book_schema = BookSchema()


def register(bp: Blueprint, present: Presenter) -> None:
    @bp.get("/books")
    @document("book_page", query=ListQuerySchema, tags=("books",))
    def list_books():
        """List books, a page at a time, filtered and sorted."""
        params = load_query(_list_query, request.args, strict=present.strict_query)
        return present.book_page(books.list_books(ListParams(**params)))

    @bp.get("/books/<int:book_id>")
    @document("book", tags=("books",))
    def get_book(book_id: int):
        """Get one book."""
        return present.book(books.get_book(book_id))

    @bp.post("/books")
    @document("book", status=201, body=BookSchema, auth="access", errors=(409,), tags=("books",))
    @jwt_required()
    def create_book():
        """Add a book; any signed-in user may."""
        data = load(_book_schema, json_body())
        book = books.create_book(data, current_user)
        return present.book(book, 201, present.created_headers(book))

    @bp.put("/books/<int:book_id>")
    @document(
        "book", body=BookSchema(partial=True), auth="access", errors=(403, 409), tags=("books",)
    )
    @jwt_required()
    def update_book(book_id: int):
        """Change the fields sent; only the book's creator or an admin may."""
        changes = load(_book_schema, json_body(), partial=True)
        return present.book(books.update_book(book_id, changes, current_user))

    @bp.delete("/books/<int:book_id>")
    @document("book_deleted", auth="access", errors=(403,), tags=("books",))
    @jwt_required()
    def delete_book(book_id: int):
        """Delete a book; admins only."""
        books.delete_book(book_id, current_user)
        return present.book_deleted()
