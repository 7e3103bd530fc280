"""JSON request bodies, read the same way by every version: 415 for another media type, 400
for broken JSON, a truncated body or one whose framing (chunked encoding, length) is broken."""

from __future__ import annotations

import json
from functools import cache

from flask import g, request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from core.errors import BadRequest, DomainError


class UnsupportedMediaType(DomainError):
    status = 415
    reason = "unsupported_media_type"
    default_message = "Content-Type must be application/json"


class UnreadableBody(BadRequest):
    reason = "malformed_body"
    default_message = "The request body could not be read (broken chunked encoding or length)"


class BodyTimedOut(DomainError):
    status = 408
    reason = "request_timeout"
    default_message = "The request body did not arrive in time"


@cache
def _server_timeouts() -> tuple[type[BaseException], ...]:
    # The project's gunicorn worker (serving.py) raises its ClientTimeout from wsgi.input when
    # a body read waits longer than REQUEST_READ_TIMEOUT. Imported lazily, as gunicorn's.
    try:
        from serving import ClientTimeout
    except ImportError:
        return ()
    return (ClientTimeout,)


@cache
def _server_parse_errors() -> tuple[type[BaseException], ...]:
    # gunicorn raises its parse errors (InvalidChunkSize, ChunkMissingTerminator, ...) from
    # wsgi.input while the app reads the body. Imported lazily: other servers have none.
    try:
        from gunicorn.http.errors import ParseException
    except ImportError:
        return ()
    return (ParseException,)


def is_body_timeout(error: BaseException) -> bool:
    """Whether ``error`` is the server giving up on a body that did not arrive in time."""
    return isinstance(error, _server_timeouts())


def is_body_read_error(error: BaseException) -> bool:
    """Whether ``error`` came from reading a request body the client framed badly (or left)."""
    return isinstance(error, (ClientDisconnected, *_server_parse_errors()))


def read_body() -> bytes:
    """The raw request body (at most MAX_CONTENT_LENGTH, else 413).

    Raises UnreadableBody (400) when the server cannot read it: a malformed chunked encoding,
    a body shorter than its length, a client gone. Once raised, it is raised again on every
    later read in the request (the stream is then in an unknown state); so is BodyTimedOut (408)
    when the server gave up waiting for the body.
    """
    failure = g.get("body_failure")
    if failure is not None:
        raise failure()
    try:
        raw = request.get_data(cache=True)
        _refuse_truncated(raw)
        if request.content_length is not None and len(raw) < request.content_length:
            # The client closed before sending what it declared (gunicorn hands over the rest).
            raise ClientDisconnected()
    except RequestEntityTooLarge:
        raise
    except _server_timeouts():
        g.body_failure = BodyTimedOut
        raise BodyTimedOut() from None
    except Exception as error:
        if not (is_body_read_error(error) or isinstance(error, OSError)):
            raise
        g.body_failure = UnreadableBody
        raise UnreadableBody() from None
    return raw


def json_body(*, optional: bool = False) -> dict:
    """The request body as a JSON object.

    Raises UnsupportedMediaType (415) when it is not declared as JSON and BadRequest (400) when
    it is malformed or not an object. An ``optional`` body may be absent altogether.
    """
    if optional and not request.content_length and not request.headers.get("Transfer-Encoding"):
        return {}
    if not request.is_json:
        raise UnsupportedMediaType()
    raw = read_body()
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
