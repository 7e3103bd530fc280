"""Cross-origin requests: which origins may call the API, and what they may send and read."""

from __future__ import annotations

import re
from urllib.parse import unquote

from flask import Flask
from flask_cors import CORS
from flask_cors.core import ACL_ORIGIN, ACL_REQUEST_HEADER_PRIVATE_NETWORK

CORS_ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "API-Version",
    "X-API-Key",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Request-ID",
]
CORS_EXPOSE_HEADERS = [
    "X-Total-Count",
    "Link",
    "Location",
    "API-Version",
    "Deprecation",
    "Sunset",
    "ETag",
    "Idempotent-Replayed",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-Request-ID",
]

# The paths CORS applies to, as Flask-CORS reads the pattern (a regular expression, matched
# from the start of the unquoted path).
RESOURCES = r"/api/*"
_RESOURCES = re.compile(RESOURCES)

cors = CORS()


def init_app(app: Flask):
    """Configure Flask-CORS for ``app``; returns its response step for api.platform.pipeline.

    Flask-CORS works out the headers of every response afresh. Those of a request without an
    Origin header (not a preflight, no Private Network Access header) depend on the route
    only, so the step asks Flask-CORS once for each way a path can fall (matching RESOURCES
    or not) and adds what it answered; any other request is Flask-CORS's own.
    """
    before = list(app.after_request_funcs.get(None, ()))
    cors.init_app(
        app,
        resources={RESOURCES: {"origins": app.config["CORS_ORIGINS"]}},
        supports_credentials=app.config["CORS_ALLOW_CREDENTIALS"],
        send_wildcard="*" in app.config["CORS_ORIGINS"],  # "*" rather than echoing the origin
        allow_headers=CORS_ALLOW_HEADERS,
        expose_headers=CORS_EXPOSE_HEADERS,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        max_age=600,
    )
    added = [f for f in app.after_request_funcs[None] if f not in before]
    (flask_cors_step,) = added  # Flask-CORS's after_request function, now one of our steps
    app.after_request_funcs[None].remove(flask_cors_step)
    return _Memoized(flask_cors_step, app.response_class)


# The environ keys that make a request's CORS headers its own.
_PERSONAL = ("HTTP_ORIGIN", "HTTP_" + ACL_REQUEST_HEADER_PRIVATE_NETWORK.upper().replace("-", "_"))


class _Memoized:
    def __init__(self, flask_cors_step, response_class):
        self._step = flask_cors_step
        self._response_class = response_class
        self._by_path_kind: dict[bool, list[tuple[str, str]]] = {}

    def __call__(self, req, g, app, response):
        environ = req.environ
        if (
            req.method == "OPTIONS"
            or _PERSONAL[0] in environ
            or _PERSONAL[1] in environ
            or ACL_ORIGIN in response.headers
        ):
            return self._step(response)
        kind = _RESOURCES.match(unquote(req.path)) is not None
        headers = self._by_path_kind.get(kind)
        if headers is None:
            blank = self._response_class()
            known = list(blank.headers)
            self._step(blank)
            headers = self._by_path_kind[kind] = [h for h in blank.headers if h not in known]
        for name, value in headers:
            response.headers.add(name, value)
        return response
