"""Breaking changes between two OpenAPI 3 documents: what a client of OLD could notice in NEW.

    python tools/openapi_diff.py OLD.json NEW.json

Prints one line per breaking change, naming where it is (``GET /books/{book_id} response 200:
field year removed``), and exits 1 when there is one, 0 when there is none, 2 when a document
cannot be read. Standard library only; local ``$ref``s (``#/...``) are resolved (an external one
is compared by its address).

Direction decides what breaks. A request (parameters, request bodies) must accept everything
it accepted before: narrowing it breaks, widening it is additive. A response must send nothing
the old document did not promise: widening it breaks. The rules (names as in ``Change.rule``):

paths and operations
    path-removed              a path (its template, whatever its parameters are called) is gone
    operation-removed         a method of a path is gone
    operation-id-changed      generated clients name their methods after it
    server-removed            a server URL is gone (every URL under it moves)
    security-narrowed         a public operation needs credentials, or a way to authenticate
                              (a security requirement, a scope, a scheme's definition) is gone
parameters (matched by location and name; path parameters by position, since their name is
not on the wire)
    parameter-removed         a query, header or cookie parameter is gone
    parameter-moved           the same name now lives elsewhere (query → header, ...)
    parameter-required        an optional parameter became required
    parameter-added-required  a new required parameter
    parameter-style-changed   style or explode changed: the same values serialise differently
request bodies
    request-body-required     a body (none or optional before) is now required
    request-body-removed      the operation no longer reads a body
    request-media-type-removed
    request-field-required    an optional field became required, or a new required field
responses
    response-status-removed   a status the operation answered is gone (or changed: one success
                              status replaced by another is reported as one change)
    response-status-added     a new 2xx: a client does not know how to read it. A new 1xx, 3xx,
                              4xx or 5xx is additive: clients handle unknown ones by their class
                              (RFC 9110 §15), and a 304 only answers a conditional request
    response-header-removed   a header is gone, or was required and no longer is
    response-media-type-removed
    response-field-optional   a field that was always present may now be absent
schemas (request and response, recursively through $ref, allOf/oneOf/anyOf, items,
additionalProperties and nested objects)
    field-removed             a property is gone (from a request: the client's value is dropped
                              or refused; from a response: the client loses it)
    type-changed              request: a type no longer accepted (number → integer, nullable
                              dropped); response: a type the client did not expect (integer →
                              number, null now possible)
    format-changed            request: a format added or changed; response: removed or changed
    enum-changed              request: a value no longer accepted, or a new enum; response: a
                              new value (clients switch over enums: an unknown value breaks them)
                              or the enum dropped. A value a response no longer sends is not
                              reported: every value still sent is one the client handles, and
                              whether a value shows up is behaviour, which the golden responses
                              (tests/contract) pin. (Reporting it would also forbid narrowing
                              an enum that promised too much, e.g. v1's API-Version header.)
    constraint-changed        request: a bound tightened or added (minLength, maximum, minItems,
                              multipleOf, uniqueItems, pattern, ...), unknown fields refused;
                              response: a bound loosened or dropped
    default-changed           request: an omitted value now means something else

Additive, so not reported: new paths and operations, new optional parameters, headers and
request fields, new response fields (clients must ignore fields they do not know, whatever
``additionalProperties`` says of today's responses), new response headers, new non-2xx
statuses, descriptions, examples, summaries, tags, ``deprecated``. allOf is the intersection of
its parts and oneOf/anyOf the union of their branches: the fields, types and values they allow
together are compared, not branch by branch.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
REQUEST, RESPONSE = "request", "response"
MAX_DEPTH = 64
_TEMPLATE_PARAM = re.compile(r"\{([^}]*)\}")
_LOWER = {"minLength": "maxLength", "minimum": "maximum", "minItems": "maxItems"}
_LOWER["minProperties"] = "maxProperties"


@dataclass(frozen=True)
class Change:
    """One breaking change: its rule, where it is (operation and part) and what changed."""

    rule: str
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}" if self.where else self.what


def breaking_changes(old: dict, new: dict) -> list[Change]:
    """Every change a client written against ``old`` could notice in ``new``."""
    return _Comparison(old, new).run()


def report(changes: list[Change]) -> list[str]:
    """One line per change; the same change in several responses of an operation is one line
    naming every status (``GET /books response 400, 401: field code removed``)."""
    grouped: dict[tuple, list[str]] = {}
    for change in changes:
        match = re.fullmatch(r"(.*) response (\S+)(.*)", change.where)
        if match:
            key = (match.group(1), match.group(3), change.what)
            grouped.setdefault(key, []).append(match.group(2))
        else:
            grouped.setdefault((change.where, None, change.what), [])
    lines = []
    for (where, suffix, what), statuses in grouped.items():
        if suffix is None:
            lines.append(str(Change("", where, what)))
        else:
            lines.append(f"{where} response {', '.join(statuses)}{suffix}: {what}")
    return lines


class _Resolver:
    """Follows local ``$ref``s in one document."""

    def __init__(self, document: dict):
        self.document = document

    def resolve(self, node):
        seen = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen or not ref.startswith("#"):
                return {"x-unresolved-ref": ref}
            seen.add(ref)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            target = self._pointer(ref)
            node = {**target, **siblings} if siblings and isinstance(target, dict) else target
        return node

    def _pointer(self, ref: str):
        node = self.document
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return {"x-unresolved-ref": ref}
        return node


_ANY_TYPES = None  # a view's ``types`` when any type is allowed


@dataclass
class _View:
    """What one schema allows, with allOf/oneOf/anyOf folded in."""

    types: frozenset | None = _ANY_TYPES
    enum: frozenset | None = None  # JSON-encoded values; None: any value
    format: str | None = None
    properties: dict = field(default_factory=dict)
    required: frozenset = frozenset()
    additional: object = None  # None: anything; False: nothing; a dict: their schema
    items: object = None
    lower: dict = field(default_factory=dict)  # minLength, minimum, ...: (value, exclusive)
    upper: dict = field(default_factory=dict)
    multiple_of: float | None = None
    unique_items: bool = False
    patterns: frozenset = frozenset()
    default: object = None
    has_default: bool = False
    read_only: bool = False
    write_only: bool = False
    unresolved: str | None = None


def _types(schema: dict) -> frozenset | None:
    declared = schema.get("type")
    if declared is None:
        types = None
    else:
        types = set(declared if isinstance(declared, list) else [declared])
        if schema.get("nullable") is True:
            types.add("null")
        if "number" in types:
            types.add("integer")  # every integer is a number
    return frozenset(types) if types is not None else None


def _own_view(schema: dict) -> _View:
    view = _View(types=_types(schema))
    if isinstance(schema.get("enum"), list):
        view.enum = frozenset(json.dumps(v, sort_keys=True) for v in schema["enum"])
    if "const" in schema:
        view.enum = frozenset([json.dumps(schema["const"], sort_keys=True)])
    view.format = schema.get("format")
    view.properties = dict(schema.get("properties") or {})
    view.required = frozenset(schema.get("required") or ())
    additional = schema.get("additionalProperties")
    view.additional = None if additional is True else additional
    view.items = schema.get("items")
    for low, high in _LOWER.items():
        if isinstance(schema.get(low), (int, float)):
            exclusive = low == "minimum" and schema.get("exclusiveMinimum") is True
            view.lower[low] = (schema[low], exclusive)
        if isinstance(schema.get(high), (int, float)):
            exclusive = high == "maximum" and schema.get("exclusiveMaximum") is True
            view.upper[high] = (schema[high], exclusive)
    exclusive_bounds = (
        ("exclusiveMinimum", "minimum", view.lower),
        ("exclusiveMaximum", "maximum", view.upper),
    )
    for key, bound, side in exclusive_bounds:
        value = schema.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):  # OpenAPI 3.1
            side[bound] = (value, True)
    if isinstance(schema.get("multipleOf"), (int, float)):
        view.multiple_of = schema["multipleOf"]
    view.unique_items = schema.get("uniqueItems") is True
    if isinstance(schema.get("pattern"), str):
        view.patterns = frozenset([schema["pattern"]])
    if "default" in schema:
        view.default, view.has_default = schema["default"], True
    view.read_only = schema.get("readOnly") is True
    view.write_only = schema.get("writeOnly") is True
    view.unresolved = schema.get("x-unresolved-ref")
    return view


def _tighter(a, b, lower: bool):
    """The stricter of two bounds (value, exclusive); None is no bound."""
    if a is None or b is None:
        return a if b is None else b
    if a[0] != b[0]:
        return a if (a[0] > b[0]) == lower else b
    return (a[0], a[1] or b[1])


def _looser(a, b, lower: bool):
    if a is None or b is None:
        return None
    if a[0] != b[0]:
        return a if (a[0] < b[0]) == lower else b
    return (a[0], a[1] and b[1])


def _combine(parts: list, key: str):
    """Schemas of the same place in several parts: one schema (allOf or anyOf of them)."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {key: parts}


def _all_of(views: list[_View]) -> _View:
    """What every one of ``views`` allows at once."""
    out = _View()
    for view in views:
        if view.types is not None:
            out.types = view.types if out.types is None else out.types & view.types
        if view.enum is not None:
            out.enum = view.enum if out.enum is None else out.enum & view.enum
        out.format = out.format or view.format
        out.required |= view.required
        out.patterns |= view.patterns
        out.unique_items = out.unique_items or view.unique_items
        out.read_only = out.read_only or view.read_only
        out.write_only = out.write_only or view.write_only
        out.multiple_of = out.multiple_of or view.multiple_of
        out.unresolved = out.unresolved or view.unresolved
        if view.has_default and not out.has_default:
            out.default, out.has_default = view.default, True
        for side, lower in ((out.lower, True), (out.upper, False)):
            source = view.lower if lower else view.upper
            for name, bound in source.items():
                side[name] = _tighter(side.get(name), bound, lower)
    for name in {n for view in views for n in view.properties}:
        out.properties[name] = _combine([v.properties.get(name) for v in views], "allOf")
    if any(view.additional is False for view in views):
        out.additional = False
    else:
        out.additional = _combine([v.additional for v in views], "allOf")
    out.items = _combine([v.items for v in views], "allOf")
    return out


def _any_of(views: list[_View]) -> _View:
    """What at least one of ``views`` allows."""
    out = _View(
        required=frozenset.intersection(*(v.required for v in views)),
        patterns=frozenset.intersection(*(v.patterns for v in views)),
    )
    if all(v.types is not None for v in views):
        out.types = frozenset().union(*(v.types for v in views))
    if all(v.enum is not None for v in views):
        out.enum = frozenset().union(*(v.enum for v in views))
    formats = {v.format for v in views}
    out.format = formats.pop() if len(formats) == 1 else None
    out.unique_items = all(v.unique_items for v in views)
    out.read_only = all(v.read_only for v in views)
    out.write_only = all(v.write_only for v in views)
    multiples = {v.multiple_of for v in views}
    out.multiple_of = multiples.pop() if len(multiples) == 1 else None
    for name in set(views[0].lower).union(*(v.lower for v in views)):
        bound = views[0].lower.get(name)
        for v in views[1:]:
            bound = _looser(bound, v.lower.get(name), True)
        if bound is not None:
            out.lower[name] = bound
    for name in set(views[0].upper).union(*(v.upper for v in views)):
        bound = views[0].upper.get(name)
        for v in views[1:]:
            bound = _looser(bound, v.upper.get(name), False)
        if bound is not None:
            out.upper[name] = bound
    for name in {n for view in views for n in view.properties}:
        out.properties[name] = _combine([v.properties.get(name) for v in views], "anyOf")
    if all(view.additional is False for view in views):
        out.additional = False
    elif any(view.additional is None for view in views):
        out.additional = None
    else:
        out.additional = _combine([v.additional for v in views if v.additional], "anyOf")
    out.items = _combine([v.items for v in views], "anyOf")
    return out


def _show_types(types: frozenset | None) -> str:
    if types is None:
        return "any"
    shown = sorted(types - {"integer"} if "number" in types else types)
    return "|".join(shown) or "nothing"


def _show_values(values) -> str:
    return ", ".join(sorted(values))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _normalised_template(path: str) -> str:
    return _TEMPLATE_PARAM.sub("{}", path)


def _template_names(path: str) -> list[str]:
    return _TEMPLATE_PARAM.findall(path)


class _Comparison:
    def __init__(self, old: dict, new: dict):
        self.old_doc, self.new_doc = old, new
        self.old, self.new = _Resolver(old), _Resolver(new)
        self.changes: list[Change] = []
        self._seen: set[Change] = set()
        self._active: set = set()
        self._schemes: set[str] = set()  # security schemes the old operations use

    def add(self, rule: str, where: str, what: str) -> None:
        change = Change(rule, where, what)
        if change not in self._seen:
            self._seen.add(change)
            self.changes.append(change)

    def run(self) -> list[Change]:
        self._servers()
        old_paths = self.old_doc.get("paths") or {}
        new_paths = self.new_doc.get("paths") or {}
        new_by_template = {}
        for path in new_paths:
            new_by_template.setdefault(_normalised_template(path), path)
        old_templates = {_normalised_template(p) for p in old_paths}
        added = [p for p in new_paths if _normalised_template(p) not in old_templates]
        for path in sorted(old_paths):
            new_path = new_by_template.get(_normalised_template(path))
            if new_path is None:
                hint = f" (renamed to {added[0]}?)" if len(added) == 1 else ""
                self.add("path-removed", "", f"path {path} removed{hint}")
                continue
            self._path(path, new_path, old_paths[path], new_paths[new_path])
        self._security_schemes()
        return self.changes

    # -- document level --------------------------------------------------------------------

    def _servers(self) -> None:
        old = [s.get("url") for s in self.old_doc.get("servers") or [] if isinstance(s, dict)]
        new = {s.get("url") for s in self.new_doc.get("servers") or [] if isinstance(s, dict)}
        for url in old:
            if url not in new:
                now = f" (now {', '.join(sorted(u for u in new if u))})" if new else ""
                self.add("server-removed", "servers", f"server {url} removed{now}")

    # -- paths and operations --------------------------------------------------------------

    def _path(self, path: str, new_path: str, old_item, new_item) -> None:
        old_item, new_item = self.old.resolve(old_item), self.new.resolve(new_item)
        for method in METHODS:
            if method not in old_item:
                continue
            where = f"{method.upper()} {path}"
            if method not in new_item:
                self.add("operation-removed", where, "operation removed")
                continue
            old_op, new_op = self.old.resolve(old_item[method]), self.new.resolve(new_item[method])
            old_id, new_id = old_op.get("operationId"), new_op.get("operationId")
            if old_id is not None and old_id != new_id:
                self.add("operation-id-changed", where, f"operationId {old_id} changed to {new_id}")
            self._security(where, old_op, new_op)
            self._parameters(where, path, new_path, old_item, new_item, old_op, new_op)
            self._request_body(where, old_op.get("requestBody"), new_op.get("requestBody"))
            self._responses(where, old_op.get("responses") or {}, new_op.get("responses") or {})

    def _security(self, where: str, old_op: dict, new_op: dict) -> None:
        def alternatives(doc, op):
            requirements = op.get("security", doc.get("security")) or []
            return [
                {name: frozenset(scopes or ()) for name, scopes in req.items()}
                for req in requirements
                if isinstance(req, dict)
            ]

        old, new = alternatives(self.old_doc, old_op), alternatives(self.new_doc, new_op)
        old_public = not old or {} in old
        new_public = not new or {} in new
        if old_public:
            if not new_public:
                self.add("security-narrowed", where, "authentication now required")
            return
        for alternative in old:
            still = any(
                set(candidate) <= set(alternative)
                and all(candidate[name] <= alternative[name] for name in candidate)
                for candidate in new
            )
            if new_public or still:
                continue
            shown = " + ".join(
                f"{name}{'[' + ', '.join(sorted(s)) + ']' if s else ''}"
                for name, s in sorted(alternative.items())
            )
            self.add("security-narrowed", where, f"security {shown} no longer accepted")
        self._schemes.update(name for alternative in old for name in alternative)

    def _security_schemes(self) -> None:
        """A scheme the old operations use, defined differently: credentials sent as before
        (the same header, the same kind of token) no longer work."""
        old_schemes = (self.old_doc.get("components") or {}).get("securitySchemes") or {}
        new_schemes = (self.new_doc.get("components") or {}).get("securitySchemes") or {}
        for name in sorted(self._schemes & set(new_schemes)):
            old_scheme = self.old.resolve(old_schemes.get(name)) or {}
            new_scheme = self.new.resolve(new_schemes.get(name)) or {}
            for key in ("type", "in", "name", "scheme", "openIdConnectUrl", "flows"):
                if old_scheme.get(key) != new_scheme.get(key):
                    self.add(
                        "security-narrowed",
                        f"security scheme {name}",
                        f"{key} changed from {json.dumps(old_scheme.get(key))} "
                        f"to {json.dumps(new_scheme.get(key))}",
                    )

    # -- parameters ------------------------------------------------------------------------

    def _collect(self, resolver, template: str, item: dict, op: dict) -> dict:
        names = _template_names(template)
        found = {}
        for parameter in list(item.get("parameters") or []) + list(op.get("parameters") or []):
            parameter = resolver.resolve(parameter)
            if not isinstance(parameter, dict) or "name" not in parameter:
                continue
            location, name = parameter.get("in"), parameter["name"]
            if location == "path" and name in names:
                key = ("path", names.index(name))
            elif location == "header":
                key = ("header", name.lower())
            else:
                key = (location, name)
            found[key] = parameter
        return found

    def _parameters(self, where, path, new_path, old_item, new_item, old_op, new_op) -> None:
        old = self._collect(self.old, path, old_item, old_op)
        new = self._collect(self.new, new_path, new_item, new_op)
        for key, parameter in old.items():
            location, name = parameter.get("in"), parameter["name"]
            label = f"{location} parameter {name}"
            if key not in new:
                moved = [p for k, p in new.items() if str(k[1]).lower() == str(key[1]).lower()]
                if moved:
                    self.add("parameter-moved", where, f"{label} moved to {moved[0].get('in')}")
                    continue
                fresh = [p["name"] for k, p in new.items() if k not in old and k[0] == location]
                hint = f" (renamed to {fresh[0]}?)" if len(fresh) == 1 else ""
                self.add("parameter-removed", where, f"{label} removed{hint}")
                continue
            counterpart = new[key]
            part = f"{where} {label}"
            if not parameter.get("required") and counterpart.get("required"):
                self.add("parameter-required", where, f"{label} became required")
            if self._style(parameter) != self._style(counterpart):
                old_style, new_style = self._style(parameter), self._style(counterpart)
                self.add(
                    "parameter-style-changed",
                    part,
                    f"serialisation changed from style={old_style[0]}, explode={old_style[1]} "
                    f"to style={new_style[0]}, explode={new_style[1]}",
                )
            self.schema(
                self._parameter_schema(parameter),
                self._parameter_schema(counterpart),
                part,
                "",
                "value",
                REQUEST,
            )
        for key, parameter in new.items():
            if key not in old and parameter.get("required"):
                label = f"{parameter.get('in')} parameter {parameter['name']}"
                self.add("parameter-added-required", where, f"new required {label}")

    @staticmethod
    def _style(parameter: dict) -> tuple:
        default = "form" if parameter.get("in") in ("query", "cookie") else "simple"
        style = parameter.get("style", default)
        return style, parameter.get("explode", style == "form")

    @staticmethod
    def _parameter_schema(parameter: dict):
        if "schema" in parameter:
            return parameter["schema"]
        for media in (parameter.get("content") or {}).values():
            return (media or {}).get("schema")
        return None

    # -- request bodies --------------------------------------------------------------------

    def _request_body(self, where: str, old, new) -> None:
        old, new = self.old.resolve(old), self.new.resolve(new)
        if not old:
            if new and new.get("required"):
                self.add("request-body-required", where, "request body now required")
            return
        if not new:
            self.add("request-body-removed", where, "request body removed")
            return
        if not old.get("required") and new.get("required"):
            self.add("request-body-required", where, "request body became required")
        old_content, new_content = old.get("content") or {}, new.get("content") or {}
        for media, entry in old_content.items():
            counterpart = _media_match(media, new_content)
            if counterpart is None:
                self.add("request-media-type-removed", where, f"request media type {media} removed")
                continue
            part = f"{where} request body" + _media_label(media, old_content)
            self.schema(
                (entry or {}).get("schema"),
                (new_content[counterpart] or {}).get("schema"),
                part,
                "",
                "body",
                REQUEST,
            )

    # -- responses -------------------------------------------------------------------------

    def _responses(self, where: str, old: dict, new: dict) -> None:
        old_codes = [str(code) for code in old]
        new_codes = {str(code): code for code in new}
        removed, matched = [], []
        for code, key in zip(old_codes, old, strict=True):
            counterpart = _status_match(code, new_codes)
            if counterpart is None:
                removed.append(code)
            else:
                matched.append((code, old[key], new[new_codes[counterpart]]))
        added_success = [
            code
            for code in new_codes
            if code.startswith("2") and _status_match(code, dict.fromkeys(old_codes)) is None
        ]
        removed_success = [code for code in removed if code.startswith("2")]
        if len(removed_success) == 1 and len(added_success) == 1:
            self.add(
                "response-status-removed",
                where,
                f"success status changed from {removed_success[0]} to {added_success[0]}",
            )
            removed.remove(removed_success[0])
            added_success = []
        for code in removed:
            self.add("response-status-removed", where, f"response {code} removed")
        for code in added_success:
            self.add("response-status-added", where, f"new success status {code}")
        for code, old_response, new_response in matched:
            self._response(f"{where} response {code}", old_response, new_response)

    def _response(self, part: str, old, new) -> None:
        old, new = self.old.resolve(old) or {}, self.new.resolve(new) or {}
        old_headers = {k.lower(): (k, v) for k, v in (old.get("headers") or {}).items()}
        new_headers = {k.lower(): (k, v) for k, v in (new.get("headers") or {}).items()}
        for lowered, (name, header) in old_headers.items():
            if lowered == "content-type":
                continue
            if lowered not in new_headers:
                self.add("response-header-removed", part, f"header {name} removed")
                continue
            header = self.old.resolve(header) or {}
            counterpart = self.new.resolve(new_headers[lowered][1]) or {}
            if header.get("required") and not counterpart.get("required"):
                self.add("response-header-removed", part, f"header {name} no longer required")
            self.schema(
                self._parameter_schema(header),
                self._parameter_schema(counterpart),
                part,
                "",
                f"header {name}",
                RESPONSE,
            )
        old_content, new_content = old.get("content") or {}, new.get("content") or {}
        for media, entry in old_content.items():
            counterpart = _media_match(media, new_content)
            if counterpart is None:
                self.add("response-media-type-removed", part, f"media type {media} removed")
                continue
            self.schema(
                (entry or {}).get("schema"),
                (new_content[counterpart] or {}).get("schema"),
                part + _media_label(media, old_content),
                "",
                "body",
                RESPONSE,
            )

    # -- schemas ---------------------------------------------------------------------------

    def _view(self, resolver, schema, depth: int = 0) -> _View:
        schema = resolver.resolve(schema)
        if not isinstance(schema, dict):
            return _View(additional=False) if schema is False else _View()
        if depth > MAX_DEPTH:
            return _View()
        views = [_own_view(schema)]
        views += [self._view(resolver, part, depth + 1) for part in schema.get("allOf") or []]
        for key in ("oneOf", "anyOf"):
            branches = schema.get(key) or []
            if branches:
                views.append(_any_of([self._view(resolver, b, depth + 1) for b in branches]))
        return views[0] if len(views) == 1 else _all_of(views)

    def schema(self, old, new, part: str, path: str, root: str, direction: str, depth=0):
        """Compare the schemas at one place; ``path`` names the field (``books[].year``)."""
        if old is None or depth > MAX_DEPTH:
            return
        key = (_ref_key(old), _ref_key(new), direction)
        if key[0] is not None and key in self._active:
            return  # a recursive schema: this pair is already being compared further up
        self._active.add(key)
        try:
            self._compare(old, new, part, path, root, direction, depth)
        finally:
            self._active.discard(key)

    def _compare(self, old, new, part, path, root, direction, depth):
        o = self._view(self.old, old)
        n = self._view(self.new, new if new is not None else {})
        subject = f"field {path}" if path else root
        say = (subject + " ") if subject else ""
        request = direction == REQUEST

        if o.unresolved or n.unresolved:
            if o.unresolved != n.unresolved:
                self.add("type-changed", part, f"{say}external schema changed".strip())
            return
        self._types(o, n, part, say, request)
        self._enum(o, n, part, say, request)
        self._format(o, n, part, say, request)
        self._bounds(o, n, part, say, request)
        if request and o.has_default and (not n.has_default or o.default != n.default):
            shown = json.dumps(n.default) if n.has_default else "none"
            self.add(
                "default-changed",
                part,
                f"{say}default changed from {json.dumps(o.default)} to {shown}",
            )
        self._properties(o, n, part, path, direction, depth)
        if o.items is not None or n.items is not None:
            self.schema(
                o.items if o.items is not None else {},
                n.items if n.items is not None else {},
                part,
                f"{path}[]" if path else "[]",
                root,
                direction,
                depth + 1,
            )

    def _types(self, o: _View, n: _View, part, say, request):
        if o.types == n.types:
            return
        if request:
            broken = n.types is not None and (o.types is None or not o.types <= n.types)
        else:
            broken = o.types is not None and (n.types is None or not n.types <= o.types)
        if not broken:
            return
        if not request and o.types is not None and n.types is not None:
            if n.types - o.types == {"null"}:
                self.add("type-changed", part, f"{say}may now be null")
                return
        if request and o.types is not None and n.types is not None:
            if o.types - n.types == {"null"}:
                self.add("type-changed", part, f"{say}no longer accepts null")
                return
        verb = "changed"
        if o.types is not None and n.types is not None:
            verb = "narrowed" if n.types < o.types else "widened" if o.types < n.types else verb
        elif o.types is None:
            verb = "narrowed"
        else:
            verb = "widened"
        self.add(
            "type-changed",
            part,
            f"{say}type {verb} from {_show_types(o.types)} to {_show_types(n.types)}",
        )

    def _enum(self, o: _View, n: _View, part, say, request):
        if o.enum == n.enum:
            return
        if request:
            if n.enum is not None and o.enum is None:
                self.add(
                    "enum-changed", part, f"{say}now limited to {_show_values(n.enum)}".strip()
                )
            elif n.enum is not None:
                for value in sorted(o.enum - n.enum):
                    self.add("enum-changed", part, f"{say}value {value} no longer accepted")
            return
        if o.enum is not None and n.enum is None:
            self.add("enum-changed", part, f"{say}no longer limited to {_show_values(o.enum)}")
            return
        if o.enum is None:
            return
        for value in sorted(n.enum - o.enum):
            self.add("enum-changed", part, f"{say}new value {value} may be returned")

    def _format(self, o: _View, n: _View, part, say, request):
        if o.format == n.format:
            return
        if o.format is not None and n.format is not None:
            self.add("format-changed", part, f"{say}format changed from {o.format} to {n.format}")
        elif request and n.format is not None:
            self.add("format-changed", part, f"{say}format {n.format} now required")
        elif not request and o.format is not None:
            self.add("format-changed", part, f"{say}format {o.format} no longer guaranteed")

    def _bounds(self, o: _View, n: _View, part, say, request):
        def describe(name, bound):
            return "none" if bound is None else f"{bound[0]}{' (exclusive)' if bound[1] else ''}"

        for lower, sides in ((True, (o.lower, n.lower)), (False, (o.upper, n.upper))):
            for name in sorted(set(sides[0]) | set(sides[1])):
                before, after = sides[0].get(name), sides[1].get(name)
                if before == after:
                    continue
                stricter = _tighter(before, after, lower) == after
                if stricter == request:  # request: tightened breaks; response: loosened breaks
                    verb = "tightened" if request else "loosened"
                    self.add(
                        "constraint-changed",
                        part,
                        f"{say}{name} {verb} from {describe(name, before)} "
                        f"to {describe(name, after)}",
                    )
        if o.multiple_of != n.multiple_of:
            narrow, wide = (o, n) if not request else (n, o)
            # broken when values allowed by ``wide``'s side are no longer allowed by ``narrow``'s
            if narrow.multiple_of is not None and (
                wide.multiple_of is None or (wide.multiple_of / narrow.multiple_of) % 1
            ):
                self.add(
                    "constraint-changed",
                    part,
                    f"{say}multipleOf changed from {o.multiple_of} to {n.multiple_of}",
                )
        if request and n.unique_items and not o.unique_items:
            self.add("constraint-changed", part, f"{say}items must now be unique")
        if not request and o.unique_items and not n.unique_items:
            self.add("constraint-changed", part, f"{say}items no longer unique")
        if request:
            for pattern in sorted(n.patterns - o.patterns):
                self.add("constraint-changed", part, f"{say}pattern {pattern} now required")
        else:
            for pattern in sorted(o.patterns - n.patterns):
                self.add("constraint-changed", part, f"{say}pattern {pattern} no longer holds")

    def _properties(self, o: _View, n: _View, part, path, direction, depth):
        request = direction == REQUEST

        def visible(view, name):
            schema = view.properties[name]
            own = self._view(self.old if view is o else self.new, schema)
            return not (own.read_only if request else own.write_only)

        old_names = [name for name in o.properties if visible(o, name)]
        new_names = [name for name in n.properties if visible(n, name)]
        removed = [name for name in old_names if name not in n.properties]
        added = [name for name in new_names if name not in o.properties]
        for name in old_names:
            where = _join(path, name)
            if name in removed:
                hint = f" (renamed to {_join(path, added[0])}?)" if len(added) == 1 else ""
                if len(removed) > 1:
                    hint = ""
                self.add("field-removed", part, f"field {where} removed{hint}")
                continue
            if request and name in n.required and name not in o.required:
                self.add("request-field-required", part, f"field {where} became required")
            if not request and name in o.required and name not in n.required:
                self.add("response-field-optional", part, f"field {where} may now be absent")
            self.schema(
                o.properties[name], n.properties[name], part, where, "", direction, depth + 1
            )
        if request:
            for name in added:
                if name in n.required:
                    where = _join(path, name)
                    self.add("request-field-required", part, f"new required field {where}")
        # additionalProperties: a request that could carry other fields may no longer; the
        # values of a map (``links``) are compared like a field's.
        extra = f"{path}.*" if path else "*"
        if request and o.additional is not False:
            if n.additional is False:
                where = f"field {path}: " if path else ""
                self.add("constraint-changed", part, f"{where}unknown fields now refused")
            elif o.additional is not None or n.additional is not None:
                self.schema(
                    o.additional or {}, n.additional or {}, part, extra, "", direction, depth + 1
                )
        elif not request and o.additional not in (None, False) and n.additional is not False:
            self.schema(o.additional, n.additional or {}, part, extra, "", direction, depth + 1)


def _ref_key(schema):
    return schema.get("$ref") if isinstance(schema, dict) else None


def _media_match(media: str, content: dict) -> str | None:
    if media in content:
        return media
    lowered = {key.lower().replace(" ", ""): key for key in content}
    key = media.lower().replace(" ", "")
    if key in lowered:
        return lowered[key]
    main = key.split(";")[0].split("/")[0]
    for candidate in (f"{main}/*", "*/*"):
        if candidate in lowered:
            return lowered[candidate]
    return None


def _media_label(media: str, content: dict) -> str:
    return "" if media == "application/json" and len(content) == 1 else f" ({media})"


def _status_match(code: str, codes: dict) -> str | None:
    """The entry of ``codes`` that answers for ``code``: itself, its class (``2XX``), default."""
    if code in codes:
        return code
    if code[:1].isdigit():
        for candidate in (f"{code[0]}XX", f"{code[0]}xx"):
            if candidate in codes:
                return candidate
        return "default" if "default" in codes else None
    return None


def _load(path: str) -> dict:
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return document


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0].startswith("-"):
        print("usage: python tools/openapi_diff.py OLD.json NEW.json", file=sys.stderr)
        return 2
    documents = []
    for path in args:
        try:
            documents.append(_load(path))
        except (OSError, ValueError) as exc:
            print(f"openapi_diff: cannot read {path}: {exc}", file=sys.stderr)
            return 2
    changes = breaking_changes(*documents)
    for line in report(changes):
        print(line)
    return 1 if changes else 0


if __name__ == "__main__":
    sys.exit(main())
