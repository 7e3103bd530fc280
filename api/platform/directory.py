"""GET /api: the version directory."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, url_for

from api.versioning import lifecycle, registry, version_status


def directory():
    """The versions this API serves, their status and where each one lives."""
    versions = []
    for version in registry().numbers:
        status, sunset = version_status(version)
        entry = {
            "version": version,
            "status": status,
            "base_url": url_for(f"api.v{version}.index", _external=True).rstrip("/"),
            "openapi_url": url_for(f"api.v{version}.openapi", _external=True),
            "sunset": sunset,
        }
        brownouts = lifecycle.of(version).brownouts
        if brownouts:
            entry["brownouts"] = [
                {"start": lifecycle.timestamp(start), "end": lifecycle.timestamp(end)}
                for start, end in brownouts
            ]
        versions.append(entry)
    return jsonify(
        {"default_version": current_app.config["API_DEFAULT_VERSION"], "versions": versions}
    )


def register(bp: Blueprint) -> None:
    bp.add_url_rule("", view_func=directory, methods=["GET"])
