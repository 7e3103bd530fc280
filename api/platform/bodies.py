"""JSON request bodies, read the same way by every version: 415 for another media type, 400
for broken JSON or a truncated body."""

from __future__ import annotations

import json

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from core.errors import BadRequest, DomainError


class UnsupportedMediaType(DomainError):
    status = 415
    reason = "unsupported_media_type"
    default_message = "Content-Type must be application/json"


def json_body(*, optional: bool = False) -> dict:
    """The request body as a JSON object.

    Raises UnsupportedMediaType (415) when it is not declared as JSON and BadRequest (400) when
    it is malformed or not an object. An ``optional`` body may be absent altogether.
    """
    if optional and not request.content_length and not request.headers.get("Transfer-Encoding"):
        return {}
    if not request.is_json:
        raise UnsupportedMediaType()
    raw = request.get_data(cache=True)
    _refuse_truncated(raw)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("Malformed JSON in the request body", reason="malformed_json") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object", reason="invalid_body")
    if not _encodable(data):
        # JSON escapes can spell lone UTF-16 surrogates, which no UTF-8 text may hold.
        raise BadRequest("Malformed JSON in the request body", reason="malformed_json")
    return data


def _refuse_truncated(raw: bytes) -> None:
    """A chunked body (no Content-Length) is cut at the limit without a word: if more waits
    behind the limit, the body was too large."""
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        if request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()


def _encodable(value) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_encodable(k) and _encodable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_encodable(item) for item in value)
    return True
