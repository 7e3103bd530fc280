"""Response hardening and request-size limits that apply to every route."""

from __future__ import annotations

from flask import Flask, current_app, request

from core.errors import DomainError

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
    app.before_request_funcs.setdefault(None, []).insert(0, _limit_header_size)
    app.after_request(_harden)
