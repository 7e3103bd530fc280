"""Comparing two versions' answers to one request (contract §12).

The newer version's body is projected onto the older one's fields with the changes the
registry declares (the same declarations the migration guide and ``flask changelog`` come
from), then compared field by field. Fields that differ between two runs of the older version
(the id and timestamps of a created row) are noise and are not reported.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

from api.versioning.registry import Version

# Set while a compare run is being served: such requests are not rate limited or counted.
COMPARING: ContextVar[bool] = ContextVar("comparing", default=False)

_BOOK = re.compile(r"^/books/[^/]+/?$")


def comparing() -> bool:
    return COMPARING.get()


def resource_of(method: str, path: str, status: int) -> str | None:
    """Which declared resource a response of ``METHOD path`` is (None: no declared shape)."""
    if status >= 400:
        return "error"
    route = path.split("?", 1)[0].rstrip("/") or "/"
    if route == "/books":
        return "book_page" if method == "GET" else "book"
    if _BOOK.match(route) and method in ("GET", "PUT", "PATCH"):
        return "book"
    return None


def project(newer: Version, resource: str | None, body):
    """``body`` (``newer``'s answer) as ``newer``'s predecessor would shape it: through the
    declared transform of ``resource``, else, for an envelope, its ``data``."""
    declared = any(
        change.resource == resource and change.downgrade is not None for change in newer.changes
    )
    return newer.downgrade(resource, body) if declared else _unwrap(body)


def _unwrap(body):
    """An envelope without a declared transform: its ``data``, links and paging dropped."""
    if isinstance(body, dict) and "success" in body:
        return body.get("data")
    return body


def differences(older, newer, noise: set[str], path: str = "") -> list[dict]:
    """What differs between ``older`` and ``newer`` (projected), skipping ``noise`` paths."""
    if path in noise:
        return []
    if isinstance(older, dict) and isinstance(newer, dict):
        found = []
        for name in older:
            child = f"{path}.{name}" if path else name
            if name not in newer:
                if child not in noise:
                    found.append(_difference(child, older[name], None, "missing"))
                continue
            found += differences(older[name], newer[name], noise, child)
        for name in newer:
            child = f"{path}.{name}" if path else name
            if name not in older and child not in noise:
                found.append(_difference(child, None, newer[name], "added"))
        return found
    if isinstance(older, list) and isinstance(newer, list) and len(older) == len(newer):
        found = []
        for index, (a, b) in enumerate(zip(older, newer, strict=True)):
            found += differences(a, b, noise, f"{path}[{index}]")
        return found
    if older != newer or type(older) is not type(newer):
        return [_difference(path, older, newer, "changed")]
    return []


def noise_between(first, second, path: str = "") -> set[str]:
    """The paths whose values differ between two runs of the same version."""
    if isinstance(first, dict) and isinstance(second, dict):
        found = set()
        for name in set(first) | set(second):
            child = f"{path}.{name}" if path else name
            if name not in first or name not in second:
                found.add(child)
            else:
                found |= noise_between(first[name], second[name], child)
        return found
    if isinstance(first, list) and isinstance(second, list) and len(first) == len(second):
        found = set()
        for index, (a, b) in enumerate(zip(first, second, strict=True)):
            found |= noise_between(a, b, f"{path}[{index}]")
        return found
    return set() if first == second else {path}


def _difference(path: str, older, newer, kind: str) -> dict:
    return {"path": path, "v1": older, "v2": newer, "kind": kind}
