"""v1: flat JSON, the legacy shape."""

from __future__ import annotations

from flask import Response

from api.platform.pagination import page_links
from api.representations import book_dict, user_out
from api.v1 import outputs
from api.versioning.presenter import Presenter
from core.paging import Page
from core.services.auth import TokenPair
from core.services.books import ListParams


class V1Presenter(Presenter):
    schemas = outputs  # the output schemas the OpenAPI document shows
    status_overrides = {"book_deleted": 204}

    def book(self, book, status: int = 200, headers: dict | None = None) -> Response:
        return self.respond(book_dict(book), status, headers)

    def book_page(self, page: Page, params: ListParams) -> Response:
        body = {
            "books": [book_dict(book) for book in page.items],
            "total": page.total,
            "page": page.page,
            "per_page": page.per_page,
        }
        links = page_links(self.url("list_books"), page, (None, None))
        return self.respond(body, headers=self.list_headers(page, links))

    def book_deleted(self) -> Response:
        response = Response(status=204)
        del response.headers["Content-Type"]  # no body, so no media type
        return response

    def user(self, user) -> Response:
        return self.respond(user_out.dump(user))

    def registered(self, user) -> Response:
        return self.respond({"message": "User registered", "user": user_out.dump(user)}, 201)

    def tokens(self, tokens: TokenPair) -> Response:
        return self.respond(
            {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "token_type": "Bearer",
            }
        )

    def refreshed(self, tokens: TokenPair) -> Response:
        return self.respond({"access_token": tokens.access_token})

    def logged_out(self) -> Response:
        return self.respond({"message": "Logged out"})

    def index(self, info: dict, links: dict) -> Response:
        return self.respond({**info, "links": links})

    def healthy(self, report: dict) -> Response:
        return self.respond(report)

    def error_body(self, status, message, details, reason) -> dict:
        body = {"error": message}
        if details:
            body["details"] = details
        if reason:
            body["code"] = reason
        return body
