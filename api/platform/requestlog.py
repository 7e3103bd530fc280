"""One JSON line per request on stderr, and the X-Request-ID that ties a response to it.

A line holds the time, request id, method, path (never the query string), status, duration,
API version and who made the request (user id or API key id) - never a token, password or key.

Lines are written straight to whatever ``sys.stderr`` is at the time (servers and test runners
swap it), one ``write`` each under a lock, not through ``logging``: a LogRecord and its handler
chain cost more than the rest of the line. REQUEST_LOG=false turns them off.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time

import orjson
from flask import g, request

from api.versioning import is_api_path, version_of

REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

_write_lock = threading.Lock()


def write_line(fields: dict) -> None:
    """One JSON line on the current stderr; a line that cannot be written is dropped (a closed
    pipe or no stderr never fails the request). Lines are ASCII whatever stderr's encoding:
    text beyond it is escaped, as ``json.dumps`` does."""
    try:
        line = orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE).decode()
    except TypeError:  # orjson.JSONEncodeError: a value it cannot encode
        line = ""
    if not line or not line.isascii():
        line = json.dumps(fields, separators=(",", ":"), default=str) + "\n"
    with _write_lock:
        try:
            stream = sys.stderr
            stream.write(line)
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


_clock = (0, "")  # the last whole second a line was written in, and its text


def now_text() -> str:
    """The time in UTC to the millisecond, as ISO 8601 with a Z: 2026-12-04T18:42:49.123Z."""
    global _clock
    now = time.time()
    second = int(now)
    if _clock[0] != second:
        _clock = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_clock[1]}.{int((now - second) * 1000):03d}Z"


def request_id() -> str:
    """This request's id: the client's X-Request-ID when well-formed, else a new one."""
    if "request_id" not in g:
        g.request_id = _id_for(request.environ)
    return g.request_id


def _id_for(environ) -> str:
    offered = environ.get("HTTP_X_REQUEST_ID", "")
    return offered if _WELL_FORMED.match(offered) else os.urandom(16).hex()  # 128 random bits


def start(req, g, app) -> None:
    """First step of every request (api.platform.pipeline): its clock and its id."""
    g.request_started = time.perf_counter()
    g.request_id = _id_for(req.environ)


def principal_ids(g) -> dict:
    """The user and API key this request was made as (None: anonymous or not yet known)."""
    principal = g.get("principal")
    if principal is not None:
        return {
            "user_id": principal.user_id,
            "api_key_id": principal.api_key.id if principal.api_key else None,
        }
    claims = g.get("_jwt_extended_jwt")  # set by flask-jwt-extended once a token is verified
    user_id = claims.get("sub") if isinstance(claims, dict) else None
    return {"user_id": int(user_id) if user_id and user_id.isdigit() else None, "api_key_id": None}


def finish(req, g, app, response):
    """The X-Request-ID header, and the request's line (api.platform.pipeline)."""
    rid = g.get("request_id") or request_id()
    response.headers[REQUEST_ID_HEADER] = rid
    if not app.config["REQUEST_LOG"]:
        return response
    started = g.get("request_started")
    path = req.path
    api = is_api_path(path)
    fields = {
        "time": now_text(),
        "request_id": rid,
        "method": req.method,
        "path": path,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
        "api_version": version_of(g, app) if api else None,
        "version_source": g.get("api_version_source") if api else None,
        **principal_ids(g),
    }
    write_line(fields)
    return response
