"""Route code shared by every version.

Each view is one module-level function registered three times: under ``/api/v1``,
``/api/v2`` and the unversioned ``/api`` (whose version comes from the API-Version header).
The view asks ``present()`` for the serving version's presenter, so versions differ only in
presentation. API key management (``api_keys``) is the exception: only ``/api/v2`` serves it.
"""

from flask import Blueprint, current_app, jsonify

from api.openapi import openapi_document
from api.resources import api_keys, auth, books, health
from api.versioning import present


def register(bp: Blueprint) -> None:
    """Add every resource route to ``bp``."""
    for module in (health, books, auth):
        module.register(bp)
    bp.add_url_rule("/openapi.json", view_func=openapi)


def openapi():
    """This version's OpenAPI document."""
    return jsonify(openapi_document(current_app, present()))


def version_blueprint(version: str) -> Blueprint:
    """A blueprint serving every resource at ``/v<version>``."""
    bp = Blueprint(f"v{version}", __name__, url_prefix=f"/v{version}")
    register(bp)
    if version == "2":
        # Added after v1 was frozen: legacy clients get no new endpoints. v1 and unversioned
        # URLs still accept keys on the book routes.
        api_keys.register(bp)
    return bp
