"""v1 response shapes: flat JSON."""

from marshmallow import Schema, fields

from api.representations import BookOut, ErrorDetails, HealthOut, UserOut


class BookPage(Schema):
    books = fields.List(fields.Nested(BookOut), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


class Registered(Schema):
    message = fields.String(required=True)
    user = fields.Nested(UserOut, required=True)


class Tokens(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"enum": ["Bearer"]})


class Refreshed(Schema):
    access_token = fields.String(required=True)


class Message(Schema):
    message = fields.String(required=True)


class Error(Schema):
    error = fields.String(required=True)
    details = ErrorDetails()
    code = fields.String(metadata={"description": "Machine-readable reason, e.g. token_expired."})


class Index(Schema):
    version = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["current", "deprecated"]})
    sunset = fields.String(required=True, allow_none=True)
    links = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


RESPONSES = {
    "book": BookOut,
    "book_page": BookPage,
    "book_deleted": None,
    "user": UserOut,
    "registered": Registered,
    "tokens": Tokens,
    "refreshed": Refreshed,
    "logged_out": Message,
    "health": HealthOut,
    "index": Index,
}
ERROR = Error
