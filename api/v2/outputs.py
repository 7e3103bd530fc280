"""v2 response shapes: the ``{success, data, links}`` envelope."""

from marshmallow import Schema, fields

from api.representations import (
    ApiKeyOut,
    ApiVersionOut,
    BookOut,
    ClientUsageOut,
    ComparedOut,
    ErrorDetails,
    HealthOut,
    UsageOut,
    UserOut,
)


class ResourceLinks(Schema):
    self = fields.String(required=True, metadata={"format": "uri"})
    collection = fields.String(required=True, metadata={"format": "uri"})


class BookData(BookOut):
    links = fields.Nested(ResourceLinks, required=True)


class ApiKeyData(ApiKeyOut):
    links = fields.Nested(ResourceLinks, required=True)


class ApiKeyCreatedData(ApiKeyData):
    key = fields.String(
        required=True,
        metadata={"description": "The whole key. Shown only in this response: store it now."},
    )


class PageLinks(Schema):
    self = fields.String(required=True, metadata={"format": "uri"})
    first = fields.String(required=True, metadata={"format": "uri"})
    last = fields.String(metadata={"format": "uri", "description": "Numbered pages only."})
    next = fields.String(metadata={"format": "uri"})
    prev = fields.String(metadata={"format": "uri"})


def _cursor(description: str) -> fields.Field:
    return fields.String(required=True, allow_none=True, metadata={"description": description})


class Pagination(Schema):
    page = fields.Integer(metadata={"description": "Numbered pages only."})
    per_page = fields.Integer(required=True)
    total_pages = fields.Integer(metadata={"description": "Numbered pages only."})
    total_items = fields.Integer(required=True)
    has_next = fields.Boolean(required=True)
    has_prev = fields.Boolean(required=True)
    next_cursor = _cursor("Pass as `cursor` for the next page; null on the last page.")
    prev_cursor = _cursor("Pass as `cursor` for the previous page; null on the first page.")


class TokenData(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"enum": ["Bearer"]})
    expires_in = fields.Integer(required=True)


def _links() -> fields.Field:
    return fields.Dict(keys=fields.String(), values=fields.String(), required=True)


def envelope(name: str, data_field: fields.Field, **extra: fields.Field) -> type[Schema]:
    """A success envelope schema around ``data_field`` (``links`` may be given in ``extra``)."""
    extra.setdefault("links", _links())
    return Schema.from_dict(
        {"success": fields.Boolean(required=True), "data": data_field, **extra}, name=name
    )


class VersionInfo(Schema):
    version = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["current", "deprecated"]})
    sunset = fields.String(required=True, allow_none=True)


BookEnvelope = envelope("BookEnvelope", fields.Nested(BookData, required=True))


def page_envelope(name: str, item: type[Schema]) -> type[Schema]:
    """A list's envelope: its items, ``pagination`` and the page ``links``."""
    return envelope(
        name,
        fields.List(fields.Nested(item), required=True),
        pagination=fields.Nested(Pagination, required=True),
        links=fields.Nested(PageLinks, required=True),
    )


BookPageEnvelope = page_envelope("BookPageEnvelope", BookData)
UserEnvelope = envelope("UserEnvelope", fields.Nested(UserOut, required=True))
RegisteredEnvelope = envelope(
    "RegisteredEnvelope",
    fields.Nested(UserOut, required=True),
    message=fields.String(required=True),
)
TokensEnvelope = envelope("TokensEnvelope", fields.Nested(TokenData, required=True))
RefreshedEnvelope = envelope("RefreshedEnvelope", fields.Nested(TokenData, required=True))
ApiKeyEnvelope = envelope("ApiKeyEnvelope", fields.Nested(ApiKeyData, required=True))
ApiKeyCreatedEnvelope = envelope(
    "ApiKeyCreatedEnvelope",
    fields.Nested(ApiKeyCreatedData, required=True),
    message=fields.String(required=True),
)
ApiKeyListEnvelope = envelope(
    "ApiKeyListEnvelope", fields.List(fields.Nested(ApiKeyData), required=True)
)
ApiVersionEnvelope = envelope("ApiVersionEnvelope", fields.Nested(ApiVersionOut, required=True))
ComparedEnvelope = envelope("ComparedEnvelope", fields.Nested(ComparedOut, required=True))
UsageEnvelope = envelope("UsageEnvelope", fields.Nested(UsageOut, required=True))
VersionUsagePageEnvelope = page_envelope("VersionUsagePageEnvelope", ClientUsageOut)
HealthEnvelope = envelope("HealthEnvelope", fields.Nested(HealthOut, required=True))
IndexEnvelope = envelope("IndexEnvelope", fields.Nested(VersionInfo, required=True))
MessageEnvelope = envelope(
    "MessageEnvelope",
    fields.Raw(required=True, allow_none=True, metadata={"type": "object", "nullable": True}),
    message=fields.String(required=True),
)


class Deleted(Schema):
    success = fields.Boolean(required=True)
    message = fields.String(required=True)


class ErrorBody(Schema):
    message = fields.String(required=True)
    code = fields.Integer(required=True, metadata={"description": "The HTTP status."})
    details = ErrorDetails()
    reason = fields.String(metadata={"description": "Machine-readable reason, e.g. token_expired."})


class Error(Schema):
    success = fields.Boolean(required=True)
    error = fields.Nested(ErrorBody, required=True)


RESPONSES = {
    "book": BookEnvelope,
    "book_page": BookPageEnvelope,
    "book_deleted": Deleted,
    "user": UserEnvelope,
    "registered": RegisteredEnvelope,
    "tokens": TokensEnvelope,
    "refreshed": RefreshedEnvelope,
    "logged_out": MessageEnvelope,
    "health": HealthEnvelope,
    "api_key_created": ApiKeyCreatedEnvelope,
    "api_key": ApiKeyEnvelope,
    "api_key_list": ApiKeyListEnvelope,
    "api_key_revoked": MessageEnvelope,
    "index": IndexEnvelope,
    "api_version": ApiVersionEnvelope,
    "usage": UsageEnvelope,
    "compared": ComparedEnvelope,
    "version_usage_page": VersionUsagePageEnvelope,
}
ERROR = Error
