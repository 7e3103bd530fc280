"""Request parsing and response helpers shared by every version."""

from __future__ import annotations

import json

from flask import request

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
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("Malformed JSON in the request body", reason="malformed_json") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object", reason="invalid_body")
    return data


def link_header(links: dict[str, str]) -> str:
    """An RFC 8288 Link header value from relation → URL."""
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
