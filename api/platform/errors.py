"""One app-level error handler that renders every error in the serving version's shape."""

from __future__ import annotations

import logging
import traceback

from flask import Flask, Response, g, jsonify, request
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from api.platform.bodies import BodyTimedOut, UnreadableBody, is_body_read_error, is_body_timeout
from api.platform.requestlog import request_id
from api.versioning import present
from core.errors import DomainError, ServiceUnavailable

log = logging.getLogger("api.platform.errors")

UNEXPECTED = "An unexpected error occurred"
DATABASE_UNAVAILABLE = {
    "message": "The database is unavailable",
    "reason": "database_unavailable",
    "headers": {"Retry-After": "5"},
}

_HTTP_MESSAGES = {
    400: ("The request could not be understood", "bad_request"),
    404: ("Resource not found", "not_found"),
    405: ("Method not allowed", "method_not_allowed"),
    413: ("The request body is too large", "payload_too_large"),
    415: ("Content-Type must be application/json", "unsupported_media_type"),
    429: ("Too many requests", "rate_limited"),
    431: ("Request headers are too large", "headers_too_large"),
}


def render_error(
    status: int,
    message: str,
    *,
    details: dict | None = None,
    reason: str | None = None,
    headers: dict | None = None,
) -> Response:
    """A JSON error response in the shape of the version serving this request."""
    body = present().error_body(status, message, details, reason)
    response = jsonify(body)
    response.status_code = status
    if headers:
        response.headers.update(headers)
        if "Retry-After" in headers:
            g.retry_after = headers["Retry-After"]  # not to be overwritten by the limiter
    return response


def handle_domain_error(error: DomainError) -> Response:
    return render_error(
        error.status,
        error.message,
        details=error.details,
        reason=error.reason,
        headers=error.headers,
    )


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    message, reason = _HTTP_MESSAGES.get(status, (error.name, None))
    if status == 413 and request.max_content_length:
        message = f"The request body is too large (limit {request.max_content_length} bytes)"
    # Keep headers such as Allow (405) and Retry-After (429); the body is ours.
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return render_error(status, message, reason=reason, headers=headers)


def handle_database_unavailable(error: Exception) -> Response:
    _log_exception("database unavailable", error)
    return handle_domain_error(ServiceUnavailable(**DATABASE_UNAVAILABLE))


def handle_unexpected(error: Exception) -> Response:
    if is_body_timeout(error):
        return handle_domain_error(BodyTimedOut())
    if is_body_read_error(error):
        # A body read outside read_body() (which maps these itself): still the client's fault.
        return handle_domain_error(UnreadableBody())
    _log_exception("unhandled error", error)
    return render_error(500, UNEXPECTED, reason="internal_error")


def _log_exception(what: str, error: Exception) -> None:
    # The type and the innermost frame locate the fault; the message and a traceback could
    # carry SQL, parameters or secrets, so neither is logged.
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    log.error(
        "%s: %s at %s during %s %s (request %s)",
        what,
        type(error).__name__,
        where,
        request.method,
        request.path,
        request_id(),
    )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(InterfaceError, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
