"""Conditional requests: ETags for a book and a page, If-None-Match (304), If-Match (412/428).

An ETag is a digest of what a representation is made from, so it is known before the body is
built: the version and its representation revision, the URL root (v2 bodies embed absolute
links), and the book's id, ``updated_at`` and ``created_by`` (a creator deleted later leaves
``updated_at`` alone). A book's ETag is strong; a page's is weak.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Response, current_app, request
from werkzeug.http import parse_etags

from api.versioning import current_version, registry
from core.errors import PreconditionFailed, PreconditionRequired

_READ_METHODS = ("GET", "HEAD")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _digest(*parts) -> str:
    text = "\x1f".join("" if part is None else str(part) for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _book_parts(book) -> tuple:
    return (book.id, book.updated_at.isoformat(timespec="microseconds"), book.created_by)


def _representation(version: str) -> tuple:
    # The URL root as sent (scheme, Host, script root): what v2's absolute links are built
    # from. Werkzeug's ``url_root`` also decodes it to an IRI, most of an ETag's cost.
    req = request._get_current_object()
    root = f"{req.scheme}://{req.host}{req.root_path}/"
    return (version, registry()[version].presenter.representation_revision, root)


def book_etag(book, version: str | None = None) -> str:
    """The strong ETag (unquoted) of ``book`` as ``version`` (default: the serving one) shows it."""
    return _digest("book", *_representation(version or current_version()), *_book_parts(book))


def _items_text(books) -> str:
    # Each book's id, updated_at (whole microseconds since the epoch: a quarter of the cost of
    # its ISO text, and as exact) and created_by, in one pass.
    return "\x1f".join(
        f"{b.id}\x1f{(b.updated_at - _EPOCH) // _MICROSECOND}\x1f"
        f"{'' if b.created_by is None else b.created_by}"
        for b in books
    )


def page_etag(page) -> str:
    """The weak ETag (unquoted) of a page of books: its URL and query, totals and items."""
    items = (_items_text(page.items),) if page.items else ()
    return _digest(
        "page",
        *_representation(current_version()),
        request.full_path,
        page.total,
        page.page,
        page.per_page,
        page.has_next,
        page.has_prev,
        *items,
    )


def tagged(response: Response, etag: str, weak: bool = False) -> Response:
    response.set_etag(etag, weak)
    return response


def conditional_get(etag: str, build: Callable[[], Response], weak: bool = False) -> Response:
    """304 when If-None-Match names ``etag`` (or is ``*``), else ``build()`` with the ETag.

    If-None-Match compares weakly (RFC 9110 §13.1.2); the body is built only when it is sent.
    """
    if request.method in _READ_METHODS and request.if_none_match.contains_weak(etag):
        response = current_app.response_class(status=304)
        del response.headers["Content-Type"]  # no body, so no media type
        return tagged(response, etag, weak)
    return tagged(build(), etag, weak)


def if_match(book) -> None:
    """The precondition of a write: If-Match names ``book``'s current ETag in any version, or
    is ``*`` (a client may read through v1 and write through v2).

    Raises PreconditionFailed otherwise; PreconditionRequired when the header is missing and
    REQUIRE_IF_MATCH is on.
    """
    header = request.headers.get("If-Match")
    if header is None:
        if current_app.config["REQUIRE_IF_MATCH"]:
            raise PreconditionRequired(
                "This request needs an If-Match header with the book's current ETag"
            )
        return
    etags = parse_etags(header)
    # Strong comparison (RFC 9110 §13.1.1): a weak tag in If-Match never matches.
    if not any(etags.contains(book_etag(book, version)) for version in registry().numbers):
        raise PreconditionFailed("The book has changed since it was read; fetch it again")
