"""Rate limits: a default for every route, stricter ones on login and register.

Counters live in ``RATELIMIT_STORAGE_URI`` (Redis when several processes serve the API). The
client address is ``request.remote_addr``: behind proxies, ``TRUSTED_PROXIES`` makes ProxyFix
take it from ``X-Forwarded-For``; otherwise that header is ignored and cannot reset a limit.
"""

from __future__ import annotations

import hashlib
import json
import logging

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from api.platform.bodies import read_body
from api.versioning import compare


def _counts_against_the_limit(response) -> bool:
    # A 304 costs the server no body and saves the client a download: revalidating is free.
    return response.status_code != 304


# One limiter for the process. Behaviour is fixed here; the limits themselves are read from
# the app's configuration on every request, so each app can set its own. The default limit is
# one budget per client across every route (and every version's URL of it). A request is
# checked against it on arrival and charged once its response is known.
limiter = Limiter(
    key_func=get_remote_address,
    application_limits=[lambda: current_app.config["LIMIT_DEFAULT"]],
    application_limits_deduct_when=_counts_against_the_limit,
    headers_enabled=True,
    strategy="fixed-window",
    # Storage down: keep limiting, per process, in memory; retry the storage with back-off.
    in_memory_fallback_enabled=True,
    swallow_errors=True,
)


@limiter.request_filter
def _compare_run() -> bool:
    # The runs of POST /compare are part of that one request, which was limited already.
    return compare.comparing()


def _config(name: str):
    return lambda: current_app.config[name]


def login_email_key() -> str:
    """The login attempt's email, hashed: counters never hold an address in clear."""
    try:
        body = json.loads(read_body()) if request.is_json else None
    except Exception:  # unreadable, too large, broken or absurdly nested: the route refuses it
        body = None
    email = body.get("email") if isinstance(body, dict) else None
    normalised = email.strip().lower() if isinstance(email, str) else ""
    return hashlib.sha256(normalised.encode()).hexdigest()


# Shared scopes: one counter per client whichever version or URL the route is called through.
login_limit = limiter.shared_limit(_config("LIMIT_LOGIN"), scope="login")
# Only failed attempts count against an email, so a user who signs in often is not locked out.
login_email_limit = limiter.shared_limit(
    _config("LIMIT_LOGIN_EMAIL"),
    scope="login-email",
    key_func=login_email_key,
    deduct_when=lambda response: response.status_code == 401,
)
register_limit = limiter.shared_limit(_config("LIMIT_REGISTER"), scope="register")
exempt = limiter.exempt


class _NoTraceback(logging.Filter):
    """Keep the limiter's storage warnings, without tracebacks (they can carry URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


def only_when_limited(req, g, app, response):
    """Response step (api.platform.pipeline), after the limiter's own headers."""
    # Flask-Limiter sends Retry-After (its window) on every response: keep it on a 429 only,
    # and give back an error's own value (a 503 says when the database may be back).
    if response.status_code == 429:
        return response
    own = g.get("retry_after")
    if own is not None:
        response.headers["Retry-After"] = own
    else:
        response.headers.pop("Retry-After", None)
    return response


def init_app(app: Flask) -> None:
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    limiter.init_app(app)
    # The limiter is one object per process; a new app starts with its storage presumed healthy
    # (only test suites build several apps in one process).
    limiter._storage_dead = False
    logging.getLogger("flask-limiter").addFilter(_NoTraceback())
