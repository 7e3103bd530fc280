"""v2: a ``{success, data, links}`` envelope, pagination metadata and HATEOAS links."""

from __future__ import annotations

from flask import Response

from api.platform.pagination import CursorListQuerySchema, next_cursor, page_links, prev_cursor
from api.representations import (
    api_key_out,
    api_version_out,
    book_dict,
    client_usage_out,
    usage_out,
    user_out,
)
from api.v2 import outputs
from api.versioning.presenter import Presenter
from core.paging import Page
from core.services.auth import TokenPair
from core.services.books import ListParams
from core.validation import ListQuerySchema

_OMIT = object()
# A stand-in id, unlike any character of the rest of a book's URL.
_URL_ID = 987654321


class V2Presenter(Presenter):
    schemas = outputs  # the output schemas the OpenAPI document shows
    request_schemas = {ListQuerySchema: CursorListQuerySchema}

    def envelope(
        self,
        data=_OMIT,
        links: dict | None = None,
        status: int = 200,
        headers: dict | None = None,
        message: str | None = None,
        pagination: dict | None = None,
    ) -> Response:
        """The one place a v2 success body is built."""
        body = {"success": True}
        if data is not _OMIT:
            body["data"] = data
        if message is not None:
            body["message"] = message
        if pagination is not None:
            body["pagination"] = pagination
        if links is not None:
            body["links"] = links
        return self.respond(body, status, headers)

    def token_body(self, tokens: TokenPair) -> dict:
        body = {"access_token": tokens.access_token}
        if tokens.refresh_token is not None:
            body["refresh_token"] = tokens.refresh_token
        body["token_type"] = "Bearer"
        body["expires_in"] = tokens.expires_in
        return body

    def book_data(self, book, links: dict) -> dict:
        data = book_dict(book)
        data["links"] = links
        return data

    def book_links(self, book) -> dict:
        return {"self": self.url("get_book", book_id=book.id), "collection": self.url("list_books")}

    def book(self, book, status: int = 200, headers: dict | None = None) -> Response:
        links = self.book_links(book)
        return self.envelope(self.book_data(book, dict(links)), links, status, headers)

    def book_page(self, page: Page, params: ListParams) -> Response:
        collection = self.url("list_books")
        # One URL build for the page, not one per book: the id is spliced into a book's URL.
        book_url = self.url("get_book", book_id=_URL_ID).rsplit(str(_URL_ID), 1)
        data = [
            self.book_data(
                book, {"self": f"{book_url[0]}{book.id}{book_url[1]}", "collection": collection}
            )
            for book in page.items
        ]
        cursors = next_cursor(params, page), prev_cursor(params, page)
        links = page_links(collection, page, cursors)
        return self.page_envelope(data, page, links, cursors)

    def page_envelope(self, data: list, page: Page, links: dict, cursors=(None, None)):
        """A list's envelope: its items, ``pagination`` (numbered pages also give ``page`` and
        ``total_pages``), ``links`` and the X-Total-Count and Link headers."""
        pagination = {"per_page": page.per_page}
        if page.page is not None:
            pagination = {
                "page": page.page,
                "per_page": page.per_page,
                "total_pages": page.total_pages,
            }
        pagination.update(
            total_items=page.total,
            has_next=page.has_next,
            has_prev=page.has_prev,
            next_cursor=cursors[0],
            prev_cursor=cursors[1],
        )
        return self.envelope(
            data, links, headers=self.list_headers(page, links), pagination=pagination
        )

    def book_deleted(self) -> Response:
        # The contract's exact shape: no data, no links.
        return self.envelope(message="Book deleted")

    def _user_links(self) -> dict:
        return {"self": self.url("me")}

    def user(self, user) -> Response:
        return self.envelope(user_out.dump(user), self._user_links())

    def registered(self, user) -> Response:
        links = {"self": self.url("me"), "login": self.url("login")}
        return self.envelope(
            user_out.dump(user), links, 201, {"Location": self.url("me")}, message="User registered"
        )

    def tokens(self, tokens: TokenPair) -> Response:
        links = {"self": self.url("login"), "me": self.url("me"), "refresh": self.url("refresh")}
        return self.envelope(self.token_body(tokens), links)

    def refreshed(self, tokens: TokenPair) -> Response:
        links = {"self": self.url("refresh"), "me": self.url("me")}
        return self.envelope(self.token_body(tokens), links)

    def logged_out(self) -> Response:
        return self.envelope(None, {"login": self.url("login")}, message="Logged out")

    def api_key_links(self, key) -> dict:
        return {
            "self": self.url("get_api_key", key_id=key.id),
            "collection": self.url("list_api_keys"),
        }

    def api_key_data(self, key) -> dict:
        data = api_key_out.dump(key)
        data["links"] = self.api_key_links(key)
        return data

    def api_key_created(self, key, plaintext: str) -> Response:
        """The new key, with its plaintext: the only response that ever carries it."""
        data = {**self.api_key_data(key), "key": plaintext}
        return self.envelope(
            data,
            self.api_key_links(key),
            201,
            {"Location": self.url("get_api_key", key_id=key.id)},
            message="API key created; store the key now, it cannot be shown again",
        )

    def api_key(self, key) -> Response:
        return self.envelope(self.api_key_data(key), self.api_key_links(key))

    def api_key_list(self, keys) -> Response:
        return self.envelope(
            [self.api_key_data(key) for key in keys], {"self": self.url("list_api_keys")}
        )

    def api_key_revoked(self) -> Response:
        return self.envelope(
            None, {"collection": self.url("list_api_keys")}, message="API key revoked"
        )

    def api_version(self, state) -> Response:
        """A signed-in user's version pin (a ``core.services.pins.PinState``)."""
        links = {"self": self.url("get_api_version"), "me": self.url("me")}
        return self.envelope(api_version_out.dump(state), links)

    def usage(self, report: dict) -> Response:
        """A client's own version usage (``core.services.usage.client_usage``)."""
        links = {"self": self.url("my_usage", days=report["days"]), "me": self.url("me")}
        return self.envelope(usage_out.dump(report), links)

    def version_usage_page(self, page: Page, params: dict) -> Response:
        """The admin's per-version usage report, paged like the book list."""
        links = page_links(self.url("version_usage"), page, (None, None))
        return self.page_envelope(client_usage_out.dump(page.items, many=True), page, links)

    def compared(self, result: dict) -> Response:
        """Both versions' answers to one request and their differences."""
        return self.envelope(result, {"self": self.url("compare_versions")})

    def index(self, info: dict, links: dict) -> Response:
        return self.envelope(info, links)

    def healthy(self, report: dict) -> Response:
        return self.envelope(report, {"self": self.url("health")})

    def error_body(self, status, message, details, reason) -> dict:
        error = {"message": message, "code": status}
        if details:
            error["details"] = details
        if reason:
            error["reason"] = reason
        return {"success": False, "error": error}
