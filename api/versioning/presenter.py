"""What every version's presenter shares: URLs, list headers and JSON responses."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from functools import cached_property
from types import ModuleType
from typing import TYPE_CHECKING

from flask import Response, current_app, has_request_context, jsonify, request, url_for
from marshmallow import Schema

from api.platform.pagination import link_header
from core.paging import Page
from core.services.auth import TokenPair
from core.services.books import ListParams
from core.validation import ListQuerySchema

if TYPE_CHECKING:
    from api.versioning.registry import Version

# What an external URL depends on besides the endpoint and its values: the request's scheme,
# host and script root (as the WSGI environ holds them, after ProxyFix when proxies are trusted).
_URL_ROOT = ("wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME")
# Values built into a URL once, to find where each value goes (no host or path holds them).
_SENTINEL = 7_304_918_265_000
_TEMPLATES_KEPT = 1024  # per app; hosts come from clients: the memo is bounded


def _template(built: str, sentinels: dict[str, int]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``built`` as the literal text around each value, and the values' names in order."""
    names = {str(value): name for name, value in sentinels.items()}
    pieces = re.split("(" + "|".join(names) + ")", built) if names else [built]
    return tuple(pieces[0::2]), tuple(names[piece] for piece in pieces[1::2])


class Presenter(ABC):
    """Turns core results into responses. Subclasses decide the shape; routes never do."""

    # The version's response schemas (RESPONSES, ERROR), for its OpenAPI document.
    schemas: ModuleType
    # Where a version answers with another status than the route's usual one.
    status_overrides: dict[str, int] = {}
    # Where a version takes other input than the route's declared schema.
    request_schemas: dict[type[Schema], type[Schema]] = {}

    def __init__(self, version: Version):
        self.spec = version
        self.version = version.number
        self._bodies: dict[type[Schema], Schema] = {}

    def request_schema(self, declared: type[Schema]) -> type[Schema]:
        """The schema this version validates ``declared``'s input with."""
        return self.request_schemas.get(declared, declared)

    def body_schema(self, declared: type[Schema]) -> Schema:
        """An instance of this version's schema for a body declared as ``declared``."""
        if declared not in self._bodies:
            self._bodies[declared] = self.request_schema(declared)()
        return self._bodies[declared]

    @cached_property
    def list_query(self) -> Schema:
        return self.request_schema(ListQuerySchema)()

    # Part of every ETag of this version: bump it when the version's book or page shape
    # changes, so that clients' cached copies stop matching.
    representation_revision: int = 1

    def documented_response(self, kind: str, status: int) -> tuple[int, object]:
        """(status, schema) of a successful response of ``kind``, for the OpenAPI document."""
        return self.status_overrides.get(kind, status), self.schemas.RESPONSES[kind]

    def url(self, name: str, **values) -> str:
        """The external URL of this version's endpoint ``name`` (``url_for``). With whole-number
        values (or none), it is built once per endpoint and URL root, then filled in."""
        endpoint = f"api.v{self.version}.{name}"
        if not has_request_context() or not all(type(v) is int for v in values.values()):
            return url_for(endpoint, _external=True, **values)
        environ = request.environ
        key = (endpoint, *values, *(environ.get(part) for part in _URL_ROOT))
        # Per app (its URL map and SERVER_NAME shape the URL too), gone with it.
        templates = current_app.extensions.setdefault("url_templates", {})
        template = templates.get(key)
        if template is None:
            sentinels = {param: _SENTINEL + i for i, param in enumerate(values)}
            template = _template(url_for(endpoint, _external=True, **sentinels), sentinels)
            if len(templates) >= _TEMPLATES_KEPT:
                templates.clear()
            templates[key] = template
        literals, names = template
        url = literals[0]
        for value_name, literal in zip(names, literals[1:], strict=True):
            url += str(values[value_name]) + literal
        return url

    def respond(self, body, status: int = 200, headers: dict | None = None) -> Response:
        response = jsonify(body)
        response.status_code = status
        if headers:
            response.headers.update(headers)
        return response

    def list_headers(self, page: Page, links: dict[str, str]) -> dict[str, str]:
        relations = {rel: url for rel, url in links.items() if rel != "self"}
        return {"X-Total-Count": str(page.total), "Link": link_header(relations)}

    def created_headers(self, book) -> dict[str, str]:
        return {"Location": self.url("get_book", book_id=book.id)}

    # Shapes, per version.
    @abstractmethod
    def book(self, book, status: int = 200, headers: dict | None = None) -> Response:
        """One book (``status`` and ``headers`` for a 201 with Location)."""

    @abstractmethod
    def book_page(self, page: Page, params: ListParams) -> Response:
        """A page of books (found with ``params``) with its paging metadata and list headers."""

    @abstractmethod
    def book_deleted(self) -> Response:
        """The answer to a successful delete."""

    @abstractmethod
    def user(self, user) -> Response:
        """The signed-in user."""

    @abstractmethod
    def registered(self, user) -> Response:
        """A newly registered user (201)."""

    @abstractmethod
    def tokens(self, tokens: TokenPair) -> Response:
        """Tokens from a login."""

    @abstractmethod
    def refreshed(self, tokens: TokenPair) -> Response:
        """Tokens from a refresh."""

    @abstractmethod
    def logged_out(self) -> Response:
        """The answer to a logout."""

    @abstractmethod
    def index(self, info: dict, links: dict) -> Response:
        """The version's entry point: its status and where its resources are."""

    @abstractmethod
    def healthy(self, report: dict) -> Response:
        """A health report when everything works."""

    @abstractmethod
    def error_body(
        self, status: int, message: str, details: dict | None, reason: str | None
    ) -> dict:
        """The body of an error response in this version's shape."""
