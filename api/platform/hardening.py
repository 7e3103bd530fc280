"""Response hardening, request-size limits and the Host check that apply to every route."""

from __future__ import annotations

from flask import g
from werkzeug.exceptions import SecurityError

from core.errors import BadRequest, DomainError

NO_STORE_PREFIXES = ("/auth/", "/api-keys")


class HeadersTooLarge(DomainError):
    status = 431
    reason = "headers_too_large"
    default_message = "Request headers are too large"


# The environ keys of the headers without the HTTP_ prefix (werkzeug's EnvironHeaders).
_UNPREFIXED = ("CONTENT_TYPE", "CONTENT_LENGTH")


def header_bytes(environ) -> int:
    """The size of a request's headers as sent: each ``name: value`` and its line end.

    Read from the environ, as ``request.headers`` lists them; a name's length is its key's
    without "HTTP_"."""
    size = 0
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                size += len(key) - 1 + len(value)  # - "HTTP_" + ": " and CRLF
        elif key in _UNPREFIXED and value:
            size += len(key) + 4 + len(value)
    return size


def limit_header_size(req, g, app) -> None:
    """Request step (api.platform.pipeline): 431 for headers over MAX_HEADER_BYTES."""
    limit = app.config["MAX_HEADER_BYTES"]
    size = header_bytes(req.environ)
    if size > limit:
        raise HeadersTooLarge(f"Request headers are too large (limit {limit} bytes)")


class BadHost(BadRequest):
    reason = "invalid_host"
    default_message = "The Host header is malformed or names a host this API does not serve"


def host_refused() -> bool:
    """Whether this request's Host was refused: nothing may build a link from it."""
    return g.get("host_refused", False)


def refuse_bad_host(req, g, app) -> None:
    """Request step (api.platform.pipeline): 400 for a Host no link may be built from."""
    # Links (v2 bodies, Location, Link) are built from the Host. Werkzeug raises SecurityError
    # for one outside TRUSTED_HOSTS and reads a malformed one ("[::1", "a b", bytes that are
    # not ASCII) as "", which would build "http:///api/...": both are the client's 400.
    try:
        host = req.host
    except SecurityError:
        host = ""
    if not host:
        g.host_refused = True
        raise BadHost()


def harden(req, g, app, response):
    """Response step (api.platform.pipeline): nosniff, Vary: Origin, no-store."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    # With listed origins the CORS headers depend on Origin, even when none are granted: a
    # shared cache must not hand one origin's answer to another.
    if "*" not in app.config["CORS_ORIGINS"]:
        response.vary.add("Origin")
    # Tokens, keys and account data must not sit in any cache.
    path = req.path
    if any(part in path for part in NO_STORE_PREFIXES):
        response.headers["Cache-Control"] = "no-store"
    return response


def merge_vary(req, g, app, response):
    """Fold several Vary lines (CORS adds its own) into one, as caches and clients expect."""
    values = response.headers.getlist("Vary")
    if len(values) > 1:
        merged = []
        for value in values:
            merged += [v.strip() for v in value.split(",") if v.strip() not in ("", *merged)]
        response.headers["Vary"] = ", ".join(merged)
    return response
