"""Input validation: marshmallow schemas shared by every API version.

Schemas only validate and normalise; they never query the database or read the current user.
"""

from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate

from core.errors import BadRequest, ValidationFailed
from core.models import SCOPES

# Fields that clients receive but never set; dropped from bodies so a GET-edit-PUT round trip works.
READ_ONLY_FIELDS = frozenset({"id", "created_at", "updated_at", "created_by", "links"})
MAX_YEAR = 2030


class StrictInteger(fields.Integer):
    """An integer that must arrive as a JSON number, not as a numeric string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


# PostgreSQL cannot store NUL in text and SQLite truncates at it: refused everywhere. The
# patterns are written so that Python and JSON Schema (OpenAPI) read them the same way.
BLANKS = " \t\n\r\f\v"
NO_NUL = r"^[^\x00]*$"
VISIBLE_NO_NUL = r"^[^\x00]*[^ \t\n\r\f\v\x00][^\x00]*$"


class Text(fields.String):
    """A string that cannot contain NUL characters."""

    pattern = NO_NUL
    pattern_error = "Must not contain NUL characters."

    def __init__(self, **kwargs):
        validators = kwargs.pop("validate", None) or []
        if callable(validators):
            validators = [validators]
        rule = validate.Regexp(self.pattern, error=self.pattern_error)
        super().__init__(validate=[rule, *validators], **kwargs)


class StrippedString(Text):
    """Text with a visible character; surrounding blanks are removed once it is valid.

    Lengths are checked on the text as sent, as the OpenAPI document says.
    """

    pattern = VISIBLE_NO_NUL
    pattern_error = "Must contain a visible character and no NUL characters."

    def deserialize(self, value, attr=None, data=None, **kwargs):
        output = super().deserialize(value, attr, data, **kwargs)
        return output.strip(BLANKS) if isinstance(output, str) else output


class StrippedEmail(fields.Email):
    """An email address with surrounding white space removed before it is validated."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.strip()
        return super()._deserialize(value, attr, data, **kwargs)


class BodySchema(Schema):
    class Meta:
        unknown = RAISE

    @pre_load
    def drop_read_only(self, data, **kwargs):
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in READ_ONLY_FIELDS}
        return data


class BookSchema(BodySchema):
    title = StrippedString(required=True, validate=validate.Length(min=1, max=200))
    author = StrippedString(required=True, validate=validate.Length(min=1, max=100))
    isbn = fields.String(
        allow_none=True,
        validate=[
            validate.Length(equal=13, error="Must be exactly 13 digits."),
            validate.Regexp(r"^[0-9]{13}$", error="Must be exactly 13 digits."),
        ],
    )
    year = StrictInteger(allow_none=True, strict=True, validate=validate.Range(min=0, max=MAX_YEAR))
    description = Text(allow_none=True, validate=validate.Length(max=2000))


class RegisterSchema(BodySchema):
    email = StrippedEmail(required=True, validate=validate.Length(max=254))
    password = Text(required=True, validate=validate.Length(min=8, max=128))


class LoginSchema(BodySchema):
    email = Text(required=True, validate=validate.Length(min=1, max=254))
    password = Text(required=True, validate=validate.Length(min=1, max=128))


class LogoutSchema(BodySchema):
    refresh_token = fields.String(required=False, allow_none=True)


def no_duplicates(values: list) -> None:
    if len(set(values)) != len(values):
        raise ValidationError("Must not contain duplicates.")


class ApiKeySchema(BodySchema):
    name = StrippedString(required=True, validate=validate.Length(min=1, max=100))
    scopes = fields.List(
        fields.String(validate=validate.OneOf(SCOPES)),
        required=True,
        validate=[validate.Length(min=1, error="Must name at least one scope."), no_duplicates],
        metadata={"uniqueItems": True},
    )


class VersionName(fields.String):
    """An API version as ``2`` or ``v2`` (case and surrounding blanks ignored), loaded as ``"2"``.

    Which versions exist is not the schema's business: the service checks the value.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip().lower()
        return text.removeprefix("v")


SORT_FIELDS = ("title", "author", "year", "created_at")
MAX_PER_PAGE = 100


class ListQuerySchema(Schema):
    """Query parameters of ``GET /books``; unknown parameters are ignored."""

    class Meta:
        unknown = EXCLUDE

    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    # Above the maximum is clamped, not refused; see core.services.books.ListParams.
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1))
    sort = fields.String(load_default="created_at", validate=validate.OneOf(SORT_FIELDS))
    order = fields.String(load_default="desc", validate=validate.OneOf(("asc", "desc")))
    # A filter longer than the column it searches matches nothing (see core.services.books).
    search = fields.String(load_default=None)
    author = fields.String(load_default=None)
    year = fields.Integer(load_default=None)


def load(schema: Schema, data, *, partial: bool = False) -> dict:
    """Validate ``data`` with ``schema``; raise ValidationFailed with every problem at once."""
    try:
        return schema.load(data, partial=partial)
    except ValidationError as exc:
        raise ValidationFailed(details=_as_field_map(exc.messages)) from None


# Validated queries by (strictness, the parameters the schema reads), kept on the schema
# instance (so they go with it): clients send the same few queries again and again, and
# validating one costs more than the rest of its parsing. Bounded; values longer than
# _MEMO_VALUE_CHARS are validated afresh each time.
_QUERIES_KEPT = 1024
_MEMO_VALUE_CHARS = 100


def load_query(schema: Schema, args, *, strict: bool) -> dict:
    """Validate query parameters.

    Strict: any bad value raises BadRequest (400) naming each bad parameter.
    Lenient (legacy): a bad value falls back to the parameter's default.
    """
    # The first value of each parameter the schema knows, read off the arguments sent (asking
    # a MultiDict for each field instead raises and catches a KeyError per missing one).
    fields = schema.fields
    data = {}
    for key, value in args.items():
        if key in fields and key not in data and value is not None:
            data[key] = value
    if any(len(value) > _MEMO_VALUE_CHARS for value in data.values()):
        return _load_query(schema, data, strict)
    memo = schema.__dict__.setdefault("_validated_queries", {})
    key = (strict, *data.items())
    loaded = memo.get(key)
    if loaded is None:
        loaded = _load_query(schema, data, strict)
        if len(memo) >= _QUERIES_KEPT:
            memo.clear()
        memo[key] = loaded
    return dict(loaded)


def _load_query(schema: Schema, data: dict, strict: bool) -> dict:
    try:
        return schema.load(data)
    except ValidationError as exc:
        if strict:
            raise BadRequest(
                "Invalid query parameters",
                details=_as_field_map(exc.messages),
                reason="invalid_query",
            ) from None
        good = {k: v for k, v in data.items() if k not in exc.messages}
        return schema.load(good)


def _as_field_map(messages) -> dict:
    if isinstance(messages, dict):
        return {
            str(k): v if isinstance(v, list) else [str(m) for m in _flatten(v)]
            for k, v in messages.items()
        }
    return {"_schema": list(messages) if isinstance(messages, list) else [str(messages)]}


def _flatten(value):
    if isinstance(value, dict):
        for inner in value.values():
            yield from _flatten(inner)
    elif isinstance(value, list):
        yield from value
    else:
        yield value


class UsageQuerySchema(Schema):
    """Query parameters of a client's own usage report (contract §11)."""

    class Meta:
        unknown = EXCLUDE

    days = fields.Integer(load_default=30, strict=False, validate=validate.Range(min=1, max=90))


class VersionUsageQuerySchema(UsageQuerySchema):
    """Query parameters of the admin's per-version usage report; paged like other lists."""

    version = VersionName(load_default=None)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PER_PAGE))
