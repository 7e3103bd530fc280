"""OpenAPI 3 documents, one per version, generated from the routes and schemas the code uses.

A route declares what it takes and returns with ``@document(...)``; each version's presenter
names the response schemas of its shape. The builder walks the version's URL map, so a route
cannot exist undocumented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema

from api.representations import Timestamp
from api.versioning import lifecycle
from api.versioning.registry import Version

OPENAPI_VERSION = "3.0.3"
_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


@dataclass(frozen=True)
class Operation:
    response: str
    status: int = 200
    body: type[Schema] | Schema | None = None
    query: type[Schema] | None = None
    # None, "access", "refresh" or "access_or_key" (an access token or an X-API-Key).
    auth: str | None = None
    errors: tuple[int, ...] = ()
    unlimited: bool = False  # exempt from rate limits
    etag: bool = False  # the success response carries an ETag
    # Conditional requests: "read" (If-None-Match, 304) or "write" (If-Match, 412, 428).
    conditional: str | None = None
    # Honours Idempotency-Key (contract §13): see api.platform.idempotency.
    idempotent: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)


def document(response: str, **options) -> callable:
    """Attach an Operation to a view; put it directly under the route decorator."""

    def attach(view):
        view.__operation__ = Operation(response=response, **options)
        return view

    return attach


_HEADERS = {
    "API-Version": {
        "description": "The API version that served the response.",
        "schema": {"type": "string"},  # the served versions, per app: see build_spec
    },
    "Location": {
        "description": "Absolute URL of the created resource.",
        "schema": {"type": "string", "format": "uri"},
    },
    "Link": {
        "description": "RFC 8288 links: first, last, next, prev (and on a deprecated "
        "version, successor-version).",
        "schema": {"type": "string"},
    },
    "X-Total-Count": {
        "description": "Number of items matching the query.",
        "schema": {"type": "integer"},
    },
    "Deprecation": {
        "description": "RFC 9745: `@<unix-seconds>` when this version is deprecated.",
        "schema": {"type": "string"},
    },
    "Sunset": {
        "description": "RFC 8594: when this version stops being served (HTTP-date).",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Limit": {
        "description": "Requests allowed in the current window.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "When the window resets (Unix seconds).",
        "schema": {"type": "integer"},
    },
    "X-Request-ID": {
        "description": "The request's id: the client's X-Request-ID when well-formed, else a "
        "new one. It names the request in the server's log.",
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {
        "description": "The challenge: `Bearer`, or `ApiKey` when an API key was refused.",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true` on a replay: the stored answer to the first request with this "
        "Idempotency-Key; nothing was written again.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Allow": {"description": "The methods the resource allows.", "schema": {"type": "string"}},
    "ETag": {
        "description": "The representation's entity tag: strong for a book, weak (`W/`) for a "
        "page. It differs between versions and changes whenever the book (or anything on the "
        "page, or the total) changes. Send it back in If-None-Match or If-Match.",
        "schema": {"type": "string"},
    },
}

_CONDITIONAL_PARAMETERS = {
    "read": {
        "in": "header",
        "name": "If-None-Match",
        "required": False,
        "schema": {"type": "string"},
        "description": "ETags from earlier responses, or `*`. When one is current the answer "
        "is 304 with no body; a 304 does not count against the rate limit.",
    },
    "write": {
        "in": "header",
        "name": "If-Match",
        "required": False,
        "schema": {"type": "string"},
        "description": "The book's ETag as read through any version, or `*`. Anything else is "
        "a 412 and nothing changes. Required (428 without it) when the server runs with "
        "`REQUIRE_IF_MATCH=true`.",
    },
}

_IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "description": "A key of your choosing (1-255 visible ASCII characters) that makes a retry "
    "safe: a retry with the same key and body within `IDEMPOTENCY_TTL_HOURS` (24 by default) "
    "gets the first answer again with `Idempotent-Replayed: true`, and nothing is written "
    "twice. Keys are scoped to the client (user or API key) and to the version. Only "
    "successes are stored: after an error the key may be sent again.",
}
# What an idempotent operation adds to an error's description.
_IDEMPOTENCY_ERRORS = {
    400: " A malformed Idempotency-Key (reason `invalid_idempotency_key`).",
    409: " A request with the same Idempotency-Key is still running (reason "
    "`idempotency_in_progress`); retry later. A claim left by a request that died is taken "
    "over by a retry after `IDEMPOTENCY_LEASE_SECONDS` (60 by default).",
    422: " The Idempotency-Key was used for a different request (reason `idempotency_key_reused`).",
}

_ERROR_DESCRIPTIONS = {
    400: "Malformed JSON, a body that is not an object, invalid query parameters, or an API key "
    "in the query string (reason `api_key_in_query`).",
    401: "Missing, expired, malformed, tampered or revoked token, or an invalid or revoked API "
    "key (see the reason). Credentials that are sent are always judged: a route that needs none "
    "answers 401 to bad ones too.",
    403: "Signed in but not allowed; an API key without the needed scope has the reason "
    "`insufficient_scope`.",
    404: "Unknown id or route.",
    409: "Duplicate ISBN or email.",
    413: "Request body over the size limit.",
    410: "This version is retired (reason `version_retired`) or in a brownout window (reason "
    "`version_brownout`, see Retry-After): move to the version named by the successor-version "
    "link.",
    412: "If-Match names none of the book's current ETags (reason `precondition_failed`); "
    "nothing changed.",
    415: "The body's Content-Type is not JSON.",
    429: "Too many requests: the rate limit is spent (see Retry-After).",
    431: "Request headers are too large.",
    422: "Validation failed: `details` maps each field to its messages.",
    428: "If-Match is required (`REQUIRE_IF_MATCH=true`) and was not sent (reason "
    "`precondition_required`).",
    500: "An unexpected error occurred.",
    503: "The database is unavailable.",
}


_API_KEY_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": "X-API-Key",
    "description": "A service client's key, `bk_<prefix>_<secret>`, from an admin. Send it in "
    "this header only: a request with a key in the query string is refused (400, reason "
    "`api_key_in_query`).",
}


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def build_spec(app: Flask, spec_version: Version, base_url: str) -> dict:
    """The OpenAPI document for ``spec_version``, served under ``base_url``."""
    presenter = spec_version.presenter
    version = spec_version.number
    dates = app.extensions["api_lifecycle"][version]
    deprecated = dates.status(app.config["CLOCK"]()) != lifecycle.CURRENT
    marshmallow_plugin = MarshmallowPlugin(schema_name_resolver=schema_name)
    spec = APISpec(
        title=f"Book API v{version}",
        version=version,
        openapi_version=OPENAPI_VERSION,
        plugins=[marshmallow_plugin],
        servers=[{"url": base_url}],
        info={"description": spec_version.description},
    )
    marshmallow_plugin.map_to_openapi_type(Timestamp, "string", "date-time")
    spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    spec.components.security_scheme("apiKey", _API_KEY_SCHEME)
    # A version's document describes its own URLs, which only ever answer in that version.
    served = {"type": "string", "enum": [spec_version.number]}
    for name, header in _HEADERS.items():
        spec.components.header(
            name, {**header, "schema": served} if name == "API-Version" else header
        )
    spec.components.schema("Error", schema=presenter.schemas.ERROR)
    for schema in dict.fromkeys(presenter.schemas.RESPONSES.values()):
        if schema is not None:
            spec.components.schema(schema_name(schema), schema=schema)

    prefix = f"/api/v{version}"
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if not rule.endpoint.startswith(f"api.v{version}."):
            continue
        view = app.view_functions[rule.endpoint]
        operation = getattr(view, "__operation__", None)
        if operation is None:
            continue
        path = _PATH_PARAM.sub(r"{\2}", rule.rule[len(prefix) :]) or "/"
        method = next(iter((rule.methods or set()) - {"HEAD", "OPTIONS"})).lower()
        documented = _operation(rule, view, operation, spec_version, dates)
        if deprecated:
            documented["deprecated"] = True
        spec.path(path=path, operations={method: documented})
    return spec.to_dict()


def schema_name(schema) -> str:
    """Component name of a schema: ``BookSchema`` → ``Book``; a partial one → ``BookPatch``."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    if not isinstance(schema, type) and schema.partial:
        name += "Patch"
    return name


def _operation(rule, view, op: Operation, spec_version: Version, dates) -> dict:
    presenter = spec_version.presenter
    summary = (view.__doc__ or "").strip().splitlines()[0] if view.__doc__ else ""
    operation = {
        "operationId": view.__name__,
        "summary": summary,
        "tags": list(op.tags) or [rule.rule.split("/")[3]],
        "responses": {},
    }
    parameters = []
    for _converter, name in _PATH_PARAM.findall(rule.rule):
        parameters.append(
            {
                "in": "path",
                "name": name,
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        )
    if op.query is not None:
        query = presenter.request_schema(op.query)
        if spec_version.strict_query:
            parameters.append({"in": "query", "schema": query})
        else:
            parameters += _lenient_query_parameters(query)
    if op.conditional:
        parameters.append(_CONDITIONAL_PARAMETERS[op.conditional])
    if op.idempotent:
        parameters.append(_IDEMPOTENCY_KEY_PARAMETER)
    if parameters:
        operation["parameters"] = parameters
    if op.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _request_schema(presenter, op.body)}},
        }
    if op.auth:
        operation["security"] = [{"bearerAuth": []}]
        if op.auth == "access_or_key":
            operation["security"].append({"apiKey": []})

    status, schema = presenter.documented_response(op.response, op.status)
    success = {
        "description": summary or "Success",
        "headers": _response_headers(dates, status, op),
    }
    if schema is not None:
        success["content"] = {"application/json": {"schema": schema_name(schema)}}
    operation["responses"][str(status)] = success
    if op.conditional == "read":
        operation["responses"]["304"] = {
            "description": "Not modified: If-None-Match names the current ETag. No body.",
            "headers": _response_headers(dates, 304, op),
        }

    # Every route answers 400 to an API key in the query string, 431 to oversized headers,
    # and (unless exempt, like /health) 429 once the client's rate limit is spent.
    errors = set(op.errors) | {400, 431, 500, 503}
    if not op.unlimited:
        errors.add(429)
    if op.body is not None:
        errors |= {413, 415, 422}
    if op.conditional == "write":
        errors |= {412, 428}
    if op.idempotent:
        errors |= set(_IDEMPOTENCY_ERRORS)
    errors.add(401)  # credentials that are sent are judged on every route
    if _PATH_PARAM.search(rule.rule):
        errors.add(404)
    if dates.sunset_at is not None or dates.brownouts:
        errors.add(410)
    for code in sorted(errors):
        headers = _response_headers(dates, code, op)
        if code == 401:
            headers["WWW-Authenticate"] = _ref("headers", "WWW-Authenticate")
        if code in (410, 429, 503) and (code != 410 or dates.brownouts):
            headers["Retry-After"] = _ref("headers", "Retry-After")
        description = _ERROR_DESCRIPTIONS[code]
        if op.idempotent:
            description += _IDEMPOTENCY_ERRORS.get(code, "")
        operation["responses"][str(code)] = {
            "description": description,
            "headers": headers,
            "content": {"application/json": {"schema": "Error"}},
        }
    return operation


def _lenient_query_parameters(schema: type[Schema]) -> list[dict]:
    """Query parameters of a version that accepts any value and falls back to the default."""
    parameters = []
    for name, declared in schema().fields.items():
        expected = type(declared).__name__.lower()
        default = declared.load_default if declared.load_default is not None else "none"
        parameters.append(
            {
                "in": "query",
                "name": name,
                "required": False,
                "schema": {"type": "string"},
                "description": f"Read as {expected}; a value that cannot be used means the "
                f"default ({default}).",
            }
        )
    return parameters


def _request_schema(presenter, body):
    """The serving version's schema for a declared body (a class, or a partial instance)."""
    if isinstance(body, type):
        return presenter.request_schema(body)
    return presenter.request_schema(type(body))(partial=body.partial)


def _response_headers(dates, status: int, op: Operation) -> dict:
    headers = {"API-Version": _ref("headers", "API-Version")}
    if dates.announced:
        headers["Deprecation"] = _ref("headers", "Deprecation")
        headers["Sunset"] = _ref("headers", "Sunset")
        headers["Link"] = _ref("headers", "Link")
    if status == 201:
        headers["Location"] = _ref("headers", "Location")
    if op.etag and status in (200, 201, 304):
        headers["ETag"] = _ref("headers", "ETag")
    if op.idempotent and status == 201:
        headers["Idempotent-Replayed"] = _ref("headers", "Idempotent-Replayed")
    if op.response == "book_page" and status == 200:
        headers["Link"] = _ref("headers", "Link")
        headers["X-Total-Count"] = _ref("headers", "X-Total-Count")
    if not op.unlimited:
        for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            headers[name] = _ref("headers", name)
    headers["X-Request-ID"] = _ref("headers", "X-Request-ID")
    return headers


def openapi_document(app: Flask, version: Version) -> dict:
    """The version's document, built once per app and lifecycle status."""
    cache = app.extensions.setdefault("openapi", {})
    key = (
        version.number,
        app.extensions["api_lifecycle"][version.number].status(app.config["CLOCK"]()),
    )
    if key not in cache:
        cache[key] = build_spec(app, version, f"/api/v{version.number}")
    return cache[key]
