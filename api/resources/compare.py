"""POST /compare (contract §12, v2 on): one request run as the caller through v1 and v2, with
nothing written, and the differences after v2 is projected onto v1's fields."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from flask import Blueprint, current_app, request
from marshmallow import ValidationError, fields, validate, validates
from werkzeug.test import EnvironBuilder, run_wsgi_app

from api.platform.authentication import authenticated
from api.platform.bodies import json_body
from api.platform.openapi import document
from api.versioning import compare, present, registry, serves
from core.errors import ValidationFailed
from core.extensions import rolled_back
from core.validation import BodySchema, load

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Routes that would mint or revoke tokens: comparing them would hand out or take away real
# credentials, so they are refused.
REFUSED_ROUTES = ("/auth/login", "/auth/refresh", "/auth/logout", "/auth/register", "/compare")
# Forwarded to each run: who the caller is, and how the body is sent.
FORWARDED_HEADERS = ("Authorization", "X-API-Key")
OLDER, NEWER = "1", "2"


class CompareSchema(BodySchema):
    """A request to compare: a path relative to the version root, e.g. ``/books/7``."""

    method = fields.String(
        required=True, validate=validate.OneOf(METHODS), metadata={"example": "GET"}
    )
    path = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={
            "example": "/books/1",
            "description": "Relative to the version root; not a token route or /compare "
            "(those are a 422).",
        },
    )
    query = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        load_default=dict,
        metadata={"description": "Query parameters: a value or a list of values each."},
    )
    body = fields.Raw(
        load_default=None, allow_none=True, metadata={"description": "The JSON body, if any."}
    )

    @validates("path")
    def _check_path(self, value: str, **_kwargs) -> None:
        if not value.startswith("/") or value.startswith("//") or "://" in value:
            raise ValidationError("Must be a path relative to the version root, e.g. /books/7.")
        if "?" in value or "#" in value:
            raise ValidationError("Give query parameters in query, not in the path.")
        if any(part in ("..", ".") for part in value.split("/")):
            raise ValidationError("Must not contain . or .. segments.")
        route = value.rstrip("/").lower()
        if route in REFUSED_ROUTES:
            raise ValidationError(
                "Cannot be compared: it would mint or revoke tokens, or nest a compare."
            )

    @validates("query")
    def _check_query(self, value: dict, **_kwargs) -> None:
        for item in value.values():
            values = item if isinstance(item, list) else [item]
            if not all(isinstance(v, str | int | float | bool) for v in values):
                raise ValidationError("Each value must be a string, a number or a list of them.")


@document("compared", status=200, body=CompareSchema, auth="access_or_key", tags=("compare",))
@serves("compare")
@authenticated()
def compare_versions():
    """Run a request as the caller through v1 and v2, with nothing written, and compare."""
    data = load(CompareSchema(), json_body())
    if OLDER not in registry() or NEWER not in registry():
        raise ValidationFailed(details={"_schema": ["Both v1 and v2 must be served."]})
    with rolled_back() as connection:
        token = compare.COMPARING.set(True)
        try:
            runs = []
            for version in (OLDER, OLDER, NEWER):
                savepoint = connection.begin_nested()
                try:
                    runs.append(_run(version, data))
                finally:
                    savepoint.rollback()
        finally:
            compare.COMPARING.reset(token)
    first, second, newer = runs
    return present().compared(
        {"v1": first, "v2": newer, "differences": _differences(data, first, second, newer)}
    )


def _run(version: str, data: dict) -> dict:
    """``data``'s request through ``/api/v<version>``, as the caller, in this thread."""
    query = []
    for name, value in data["query"].items():
        for item in value if isinstance(value, list) else [value]:
            query.append((name, _text(item)))
    headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
    builder = EnvironBuilder(
        path=f"/api/v{version}{data['path']}",
        method=data["method"],
        query_string=urlencode(query),
        headers=headers,
        base_url=request.host_url,
        json=data["body"] if data["body"] is not None else None,
        environ_base={"REMOTE_ADDR": request.remote_addr or "127.0.0.1"},
    )
    app = current_app._get_current_object()
    # A fresh app context: the run gets its own ``g`` and its own session, as any request does
    # (a request pushed inside this one would otherwise share both).
    try:
        with app.app_context():
            app_iter, status, response_headers = run_wsgi_app(
                app.wsgi_app, builder.get_environ(), buffered=True
            )
            raw = b"".join(app_iter)
    finally:
        builder.close()
    return {
        "status": int(status.split(" ", 1)[0]),
        "headers": {name: value for name, value in response_headers if name != "Set-Cookie"},
        "body": _body(raw),
    }


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _body(raw: bytes):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _differences(data: dict, first: dict, second: dict, newer: dict) -> list[dict]:
    if first["status"] != newer["status"]:
        return [{"path": "", "v1": first["status"], "v2": newer["status"], "kind": "status"}]
    resource = compare.resource_of(data["method"], data["path"], newer["status"])
    projected = compare.project(registry()[NEWER], resource, newer["body"])
    noise = compare.noise_between(first["body"], second["body"])
    return compare.differences(first["body"], projected, noise)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/compare", view_func=compare_versions, methods=["POST"])
