"""Output schemas shared by every version: how a book, a user, tokens and keys look on the wire.

Each version's ``outputs`` module wraps these in its own response shapes; the OpenAPI document
of a version is generated from them.
"""

from marshmallow import Schema, fields

from core.models import SCOPES

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def timestamp(moment) -> str:
    """``moment`` (an aware UTC datetime) as TIMESTAMP_FORMAT writes it: the one spelling of
    an instant on the wire, in the console and in messages.

    %-formatting of its fields is several times cheaper than ``strftime`` (and half of
    ``isoformat(timespec=...)``), and a page has forty timestamps."""
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (  # noqa: UP031 -- the fastest spelling
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
    )


class Timestamp(fields.Field):
    """A UTC instant to the second, e.g. ``2026-11-23T19:51:06Z`` (OpenAPI: date-time)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else timestamp(value)


class BookOut(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    author = fields.String(required=True)
    isbn = fields.String(required=True, allow_none=True)
    year = fields.Integer(required=True, allow_none=True)
    description = fields.String(required=True, allow_none=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    created_by = fields.Integer(required=True, allow_none=True)


class UserOut(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    role = fields.String(required=True, metadata={"enum": ["user", "admin"]})
    created_at = Timestamp(required=True)


class ApiKeyOut(Schema):
    """An API key without its secret; the key itself appears only in the creation response."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "The key's public part."})
    scopes = fields.List(
        fields.String(metadata={"enum": list(SCOPES)}), attribute="scope_list", required=True
    )
    created_by = fields.Integer(required=True, metadata={"description": "The admin's user id."})
    created_at = Timestamp(required=True)
    last_used_at = Timestamp(
        required=True,
        allow_none=True,
        metadata={"description": "Last successful use, to within a minute."},
    )
    revoked_at = Timestamp(required=True, allow_none=True)
    pinned_version = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The version its unversioned requests get; null: the default."},
    )


class ApiVersionOut(Schema):
    """A client's version pin (contract §10)."""

    pinned_version = fields.String(
        required=True, allow_none=True, metadata={"description": "Null: the default version."}
    )
    effective_version = fields.String(
        required=True,
        metadata={"description": "What unversioned requests without API-Version get."},
    )
    previous_version = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The effective version before the last change."},
    )
    rollback_until = Timestamp(
        required=True,
        allow_none=True,
        metadata={"description": "Until when moving back is allowed; null: not now."},
    )


class EndpointUsageOut(Schema):
    endpoint = fields.String(required=True, metadata={"example": "GET /books/<id>"})
    requests = fields.Integer(required=True)


class VersionUsageOut(Schema):
    """One version in a client's own usage report."""

    version = fields.String(required=True)
    requests = fields.Integer(required=True)
    last_seen = Timestamp(required=True)
    endpoints = fields.List(fields.Nested(EndpointUsageOut), required=True)


class UsageOut(Schema):
    days = fields.Integer(required=True)
    versions = fields.List(fields.Nested(VersionUsageOut), required=True)


class UsageClientOut(Schema):
    type = fields.String(required=True, metadata={"enum": ["user", "api_key", "anonymous"]})
    id = fields.Integer(metadata={"description": "Users and API keys."})
    email = fields.String(allow_none=True, metadata={"description": "Users; null once deleted."})
    name = fields.String(allow_none=True, metadata={"description": "API keys; null once deleted."})


class ClientUsageOut(Schema):
    """One client's row in the admin's per-version report."""

    client = fields.Nested(UsageClientOut, required=True)
    requests = fields.Integer(required=True)
    versions = fields.List(fields.String(), required=True)
    endpoints = fields.List(fields.Nested(EndpointUsageOut), required=True)
    first_seen = Timestamp(required=True)
    last_seen = Timestamp(required=True)


class AnswerOut(Schema):
    """One version's answer to a compared request."""

    status = fields.Integer(required=True)
    headers = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    body = fields.Raw(required=True, allow_none=True, metadata={"description": "JSON, or text."})


class DifferenceOut(Schema):
    path = fields.String(
        required=True,
        metadata={"description": "The v1 field path, e.g. `books[0].year`; empty for the status."},
    )
    v1 = fields.Raw(required=True, allow_none=True)
    v2 = fields.Raw(required=True, allow_none=True)
    kind = fields.String(
        required=True, metadata={"enum": ["changed", "missing", "added", "status"]}
    )


class ComparedOut(Schema):
    v1 = fields.Nested(AnswerOut, required=True)
    v2 = fields.Nested(AnswerOut, required=True)
    differences = fields.List(fields.Nested(DifferenceOut), required=True)


class HealthOut(Schema):
    status = fields.String(required=True)
    database = fields.String(required=True)


class ErrorDetails(fields.Dict):
    """Field name → list of messages."""

    def __init__(self, **kwargs):
        super().__init__(keys=fields.String(), values=fields.List(fields.String()), **kwargs)


def book_dict(book) -> dict:
    """``BookOut`` of one book or book row, without marshmallow's per-field machinery: reads
    are the hot path, and the shape is fixed (tests hold the two to the same output)."""
    created_at = book.created_at
    updated_at = book.updated_at
    created = None if created_at is None else timestamp(created_at)
    # A book never changed (most of them) has one instant twice: written once.
    if updated_at is None or updated_at == created_at:
        updated = None if updated_at is None else created
    else:
        updated = timestamp(updated_at)
    return {
        "id": book.id,
        "title": book.title,
        "author": book.author,
        "isbn": book.isbn,
        "year": book.year,
        "description": book.description,
        "created_at": created,
        "updated_at": updated,
        "created_by": book.created_by,
    }


book_out = BookOut()
user_out = UserOut()
api_key_out = ApiKeyOut()
api_version_out = ApiVersionOut()
usage_out = UsageOut()
client_usage_out = ClientUsageOut()
