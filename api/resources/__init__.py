"""Route code shared by every version; each version passes in its presenter."""

from flask import Blueprint, current_app, jsonify

from api.openapi import openapi_document
from api.presenters import Presenter
from api.resources import auth, books, health


def version_blueprint(presenter: Presenter) -> Blueprint:
    """A blueprint serving every resource in ``presenter``'s shape at ``/v<version>``."""
    bp = Blueprint(f"v{presenter.version}", __name__, url_prefix=f"/v{presenter.version}")
    for module in (health, books, auth):
        module.register(bp, presenter)

    @bp.get("/openapi.json")
    def openapi():
        """This version's OpenAPI document."""
        return jsonify(openapi_document(current_app, presenter))

    return bp
