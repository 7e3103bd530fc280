"""GET /api: the version directory."""

from __future__ import annotations

from email.utils import format_datetime

from flask import Blueprint, current_app, jsonify, url_for

from core.config import SUPPORTED_VERSIONS


def version_status(version: str) -> tuple[str, str | None]:
    """(status, sunset HTTP-date or None) for ``version``."""
    if version == "1" and current_app.config.get("V1_DEPRECATED_AT") is not None:
        sunset = current_app.config.get("V1_SUNSET_AT")
        return "deprecated", format_datetime(sunset, usegmt=True) if sunset else None
    return "current", None


def register(bp: Blueprint) -> None:
    @bp.get("")
    def directory():
        """The versions this API serves and where each one lives."""
        root = url_for("api.directory", _external=True)
        versions = []
        for version in SUPPORTED_VERSIONS:
            status, sunset = version_status(version)
            versions.append(
                {
                    "version": version,
                    "status": status,
                    "base_url": f"{root}/v{version}",
                    "openapi_url": f"{root}/v{version}/openapi.json",
                    "sunset": sunset,
                }
            )
        return jsonify(
            {"default_version": current_app.config["API_DEFAULT_VERSION"], "versions": versions}
        )
