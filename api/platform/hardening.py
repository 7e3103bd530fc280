"""Response hardening, request-size limits and the Host check that apply to every route."""

from __future__ import annotations

from flask import Flask, current_app, g, request
from werkzeug.exceptions import SecurityError

from core.errors import BadRequest, DomainError

NO_STORE_PREFIXES = ("/auth/", "/api-keys")


class HeadersTooLarge(DomainError):
    status = 431
    reason = "headers_too_large"
    default_message = "Request headers are too large"


def _limit_header_size():
    limit = current_app.config["MAX_HEADER_BYTES"]
    size = sum(len(name) + len(value) + 4 for name, value in request.headers.items())
    if size > limit:
        raise HeadersTooLarge(f"Request headers are too large (limit {limit} bytes)")


class BadHost(BadRequest):
    reason = "invalid_host"
    default_message = "The Host header is malformed or names a host this API does not serve"


def host_refused() -> bool:
    """Whether this request's Host was refused: nothing may build a link from it."""
    return g.get("host_refused", False)


def _refuse_bad_host():
    # Links (v2 bodies, Location, Link) are built from the Host. Werkzeug raises SecurityError
    # for one outside TRUSTED_HOSTS and reads a malformed one ("[::1", "a b", bytes that are
    # not ASCII) as "", which would build "http:///api/...": both are the client's 400.
    try:
        host = request.host
    except SecurityError:
        host = ""
    if not host:
        g.host_refused = True
        raise BadHost()


def _harden(response):
    response.headers["X-Content-Type-Options"] = "nosniff"
    # With listed origins the CORS headers depend on Origin, even when none are granted: a
    # shared cache must not hand one origin's answer to another.
    if "*" not in current_app.config["CORS_ORIGINS"]:
        response.vary.add("Origin")
    # Tokens, keys and account data must not sit in any cache.
    if any(part in request.path for part in NO_STORE_PREFIXES):
        response.headers["Cache-Control"] = "no-store"
    return response


def merge_vary(response):
    """Fold several Vary lines (CORS adds its own) into one, as caches and clients expect."""
    values = response.headers.getlist("Vary")
    if len(values) > 1:
        merged = []
        for value in values:
            merged += [v.strip() for v in value.split(",") if v.strip() not in ("", *merged)]
        response.headers["Vary"] = ", ".join(merged)
    return response


def init_app(app: Flask) -> None:
    first = app.before_request_funcs.setdefault(None, [])
    first.insert(0, _refuse_bad_host)
    first.insert(0, _limit_header_size)
    app.after_request(_harden)
