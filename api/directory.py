"""GET /api: the version directory."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, url_for

from api.versioning import version_status
from core.config import SUPPORTED_VERSIONS


def directory():
    """The versions this API serves and where each one lives."""
    versions = []
    for version in SUPPORTED_VERSIONS:
        status, sunset = version_status(version)
        versions.append(
            {
                "version": version,
                "status": status,
                "base_url": url_for(f"api.v{version}.index", _external=True).rstrip("/"),
                "openapi_url": url_for(f"api.v{version}.openapi", _external=True),
                "sunset": sunset,
            }
        )
    return jsonify(
        {"default_version": current_app.config["API_DEFAULT_VERSION"], "versions": versions}
    )


def register(bp: Blueprint) -> None:
    bp.add_url_rule("", view_func=directory, methods=["GET"])
