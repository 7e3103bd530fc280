"""Domain errors raised by the core; the API layer renders them in the serving version's shape."""

from __future__ import annotations


class DomainError(Exception):
    status = 500
    reason: str | None = None
    default_message = "An unexpected error occurred"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict | None = None,
        reason: str | None = None,
        headers: dict | None = None,
    ):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.details = details
        if reason is not None:
            self.reason = reason
        self.headers = headers or {}


class BadRequest(DomainError):
    status = 400
    reason = "bad_request"
    default_message = "The request could not be understood"


class Unauthorized(DomainError):
    status = 401
    reason = "token_missing"
    default_message = "Authentication required"


class Forbidden(DomainError):
    status = 403
    reason = "forbidden"
    default_message = "You are not allowed to do this"


class NotFound(DomainError):
    status = 404
    reason = "not_found"
    default_message = "Resource not found"


class Conflict(DomainError):
    status = 409
    reason = "conflict"
    default_message = "The resource conflicts with an existing one"


class PreconditionFailed(DomainError):
    status = 412
    reason = "precondition_failed"
    default_message = "The resource has changed since it was read"


class PreconditionRequired(DomainError):
    status = 428
    reason = "precondition_required"
    default_message = "This request must be conditional"


class ValidationFailed(DomainError):
    status = 422
    reason = "validation_failed"
    default_message = "Validation failed"


class ServiceUnavailable(DomainError):
    status = 503
    reason = "service_unavailable"
    default_message = "The service is temporarily unavailable"
