"""Paging on the wire: page numbers, signed cursors (keyset paging) and the links between pages.

A cursor is the position of a page's first or last book (its sort key and id) together with
the sort, order and filters of the list it was made for, signed with the app's secret
(itsdangerous) so that a client can neither forge one nor reuse one for another query.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote_plus, urlencode

from flask import current_app, request
from itsdangerous import BadData, URLSafeSerializer
from marshmallow import fields

from core.errors import BadRequest
from core.models import MAX_ID
from core.paging import Page, Position
from core.services.books import ListParams
from core.validation import ListQuerySchema

CURSOR = "cursor"
_SALT = "book-list-cursor"
_FORMAT = 1
# What a position's key is for each sort: anything else is not a cursor of ours.
_KEY_TYPES = {"created_at": datetime, "title": str, "author": str, "year": int}


class CursorListQuerySchema(ListQuerySchema):
    """``GET /books`` with keyset paging: ``cursor`` instead of ``page``."""

    cursor = fields.String(
        load_default=None,
        metadata={
            "description": "Opaque token from `pagination.next_cursor` / `prev_cursor` or the "
            "`next` / `prev` links of a page reached by cursor; not combinable with `page`."
        },
    )


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _query_of(params: ListParams) -> list:
    return [params.sort, params.order, params.search, params.author, params.year]


# Signed cursors by (secret, payload): the same pages' cursors are asked for again and again,
# and signing one costs two HMACs. Bounded; cleared when full.
_SIGNED: dict[tuple, str] = {}
_SIGNED_KEPT = 4096


def encode_cursor(params: ListParams, position: Position) -> str:
    key = position.key
    stamp = key.isoformat() if isinstance(key, datetime) else None
    payload = [_FORMAT, *_query_of(params), key, position.id, position.backward]
    if stamp is not None:
        payload[-3] = {"t": stamp}
    memo = (current_app.config["SECRET_KEY"], *payload[:-3], stamp, key, *payload[-2:])
    token = _SIGNED.get(memo)
    if token is None:
        token = _serializer().dumps(payload)
        if len(_SIGNED) >= _SIGNED_KEPT:
            _SIGNED.clear()
        _SIGNED[memo] = token
    return token


def _invalid(message: str) -> BadRequest:
    return BadRequest(
        "Invalid query parameters", details={CURSOR: [message]}, reason="invalid_query"
    )


def decode_cursor(token: str, params: ListParams) -> Position:
    """The position a cursor names. Raises BadRequest(invalid_query) naming ``cursor`` when it
    was tampered with or made for another sort, order or filter."""
    try:
        payload = _serializer().loads(token)
        version, *query, key, book_id, backward = payload
        if isinstance(key, dict):
            key = datetime.fromisoformat(key["t"])
        if version != _FORMAT or not isinstance(book_id, int) or not isinstance(backward, bool):
            raise ValueError
        if not 0 <= book_id <= MAX_ID or (isinstance(key, int) and not -MAX_ID <= key <= MAX_ID):
            raise ValueError  # no row has it, and the driver must never see it
    except (BadData, ValueError, TypeError, KeyError, AttributeError):
        raise _invalid("Not a valid cursor.") from None
    if query != _query_of(params):
        raise _invalid("The cursor was made for another sort, order or filter.")
    if not isinstance(key, _KEY_TYPES[params.sort]) or isinstance(key, bool):
        raise _invalid("Not a valid cursor.")
    return Position(key=key, id=book_id, backward=backward)


def list_params(query: dict) -> ListParams:
    """ListParams from a loaded list query, the cursor decoded."""
    token = query.pop(CURSOR, None)
    params = ListParams(**query)
    if token is None:
        return params
    if "page" in request.args:
        raise _invalid("Send either page or cursor, not both.")
    return ListParams(**query, position=decode_cursor(token, params))


def next_cursor(params: ListParams, page: Page) -> str | None:
    if not page.has_next or page.last is None:
        return None
    return encode_cursor(params, page.last)


def prev_cursor(params: ListParams, page: Page) -> str | None:
    if not page.has_prev or page.first is None:
        return None
    first = page.first
    return encode_cursor(params, Position(first.key, first.id, backward=True))


def page_links(base: str, page: Page, cursors: tuple[str | None, str | None]) -> dict[str, str]:
    """self/first, last (numbered pages), and next/prev when they exist; the query is kept.

    A numbered page links to numbered pages; a page reached by cursor links by cursor.
    """
    # The client's query goes through urlencode, never into url_for: names such as
    # `_external` or `endpoint` are url_for's own arguments.
    kept = [(k, v) for k, v in request.args.items(multi=True) if k not in ("page", CURSOR)]
    # urlencode([*kept, (name, value)]), with the kept part encoded once.
    encoded = urlencode(kept)
    lead = f"{base}?{encoded}&" if kept else f"{base}?"

    def at(name: str, value) -> str:
        return f"{lead}{quote_plus(name)}={quote_plus(str(value))}"

    first = f"{base}?{encoded}" if kept else base
    if page.page is None:
        self_url = f"{base}?{request.query_string.decode('latin-1')}"
        links = {"self": self_url, "first": first}
        following, preceding = cursors
        if following:
            links["next"] = at(CURSOR, following)
        if preceding:
            links["prev"] = at(CURSOR, preceding)
        return links

    links = {
        "self": at("page", page.page),
        "first": at("page", 1),
        "last": at("page", page.last_page),
    }
    if page.has_next:
        links["next"] = at("page", page.page + 1)
    if page.has_prev:
        links["prev"] = at("page", min(page.page - 1, page.last_page))
    return links


def link_header(links: dict[str, str]) -> str:
    """An RFC 8288 Link header value from relation → URL."""
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
