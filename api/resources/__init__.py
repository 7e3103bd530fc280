"""Route code shared by every version.

Each view is one module-level function registered three times: under ``/api/v1``,
``/api/v2`` and the unversioned ``/api`` (whose version comes from the API-Version header).
The view asks ``present()`` for the serving version's presenter, so versions differ only in
presentation. A version serves the resources its registry entry lists: API key management
(``api_keys``), version pins (``api_version``), usage reports (``usage``) and the version
comparison (``compare``) came after v1 was frozen, so v1 never serves them.
"""

from flask import Blueprint, current_app, jsonify, url_for

from api.platform.openapi import document, openapi_document
from api.resources import accounts, api_keys, api_version, books, compare, health, usage
from api.versioning import present, serving, version_status
from api.versioning.registry import Version

RESOURCES = {
    "health": health,
    "books": books,
    "auth": accounts,
    "api_keys": api_keys,
    "api_version": api_version,
    "usage": usage,
    "compare": compare,
}


def register(bp: Blueprint, version: Version | None = None) -> None:
    """Add the resource routes of ``version`` (every version's when None) to ``bp``."""
    for name, module in RESOURCES.items():
        if version is None or version.serves(name):
            module.register(bp)
    bp.add_url_rule("/openapi.json", view_func=openapi)


def openapi():
    """This version's OpenAPI document."""
    return jsonify(openapi_document(current_app, serving()))


@document("index", tags=("index",))
def index():
    """This version's entry point: its status and where its resources are."""
    presenter = present()
    status, sunset = version_status(presenter.version)
    links = {
        "self": presenter.url("index").rstrip("/"),  # the base URL, as the directory gives it
        "books": presenter.url("list_books"),
        "health": presenter.url("health"),
        "openapi": presenter.url("openapi"),
        "docs": url_for("docs.show", _external=True),
    }
    info = {"version": presenter.version, "status": status, "sunset": sunset}
    return presenter.index(info, links)


def version_blueprint(version: Version) -> Blueprint:
    """A blueprint serving every resource of ``version`` at ``/v<number>``."""
    bp = Blueprint(f"v{version.number}", __name__, url_prefix=f"/v{version.number}")
    # /api/v2/ and /api/v2 alike (the OpenAPI document's "/" is the former).
    bp.add_url_rule("/", view_func=index, methods=["GET"], strict_slashes=False)
    register(bp, version)
    return bp
