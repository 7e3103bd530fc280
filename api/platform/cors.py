"""Cross-origin requests: which origins may call the API, and what they may send and read."""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

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

cors = CORS()


def init_app(app: Flask) -> None:
    cors.init_app(
        app,
        resources={r"/api/*": {"origins": app.config["CORS_ORIGINS"]}},
        supports_credentials=app.config["CORS_ALLOW_CREDENTIALS"],
        send_wildcard="*" in app.config["CORS_ORIGINS"],  # "*" rather than echoing the origin
        allow_headers=CORS_ALLOW_HEADERS,
        expose_headers=CORS_EXPOSE_HEADERS,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        max_age=600,
    )
