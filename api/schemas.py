"""Output schemas: how a book and a user look on the wire, shared by every version."""

from marshmallow import Schema, fields

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class BookOut(Schema):
    id = fields.Integer()
    title = fields.String()
    author = fields.String()
    isbn = fields.String(allow_none=True)
    year = fields.Integer(allow_none=True)
    description = fields.String(allow_none=True)
    created_at = fields.DateTime(format=TIMESTAMP_FORMAT)
    updated_at = fields.DateTime(format=TIMESTAMP_FORMAT)
    created_by = fields.Integer(allow_none=True)


class UserOut(Schema):
    id = fields.Integer()
    email = fields.String()
    role = fields.String()
    created_at = fields.DateTime(format=TIMESTAMP_FORMAT)


class TokensOut(Schema):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.Constant("Bearer")
    expires_in = fields.Integer()


book_out = BookOut()
books_out = BookOut(many=True)
user_out = UserOut()
