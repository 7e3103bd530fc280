"""Which API version serves a request: the path, else the API-Version header, else the default."""

from __future__ import annotations

import re
from email.utils import format_datetime
from functools import wraps

from flask import Flask, current_app, g, request, url_for

from api.pins import client_pin
from api.presenters import Presenter
from api.v1.presenter import V1Presenter
from api.v2.presenter import V2Presenter
from core.config import SUPPORTED_VERSIONS, parse_version
from core.errors import BadRequest, NotFound

VERSION_HEADER = "API-Version"
PRESENTERS: dict[str, Presenter] = {"1": V1Presenter(), "2": V2Presenter()}
_PATH_VERSION = re.compile(r"^/api/v(\d+)(?:/|$)")


class UnsupportedVersion(BadRequest):
    reason = "unsupported_version"

    def __init__(self, value: str):
        supported = ", ".join(SUPPORTED_VERSIONS)
        super().__init__(
            f"Unsupported API version {value!r}; supported versions: {supported}",
            details={VERSION_HEADER: [f"Must be one of: {supported}."]},
        )


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def path_version(path: str) -> str | None:
    match = _PATH_VERSION.match(path)
    if match and match.group(1) in SUPPORTED_VERSIONS:
        return match.group(1)
    return None


def resolve_version() -> tuple[str, bool]:
    """Return (version, chosen_without_path) for the current request.

    Raises UnsupportedVersion for an unsupported or malformed API-Version header on an
    unversioned URL; a version in the path always wins over the header.
    """
    version = path_version(request.path)
    if version is not None:
        return version, False
    header = request.headers.get(VERSION_HEADER)
    if header is None:
        return client_pin() or current_app.config["API_DEFAULT_VERSION"], True
    version = parse_version(header)
    if version is None:
        raise UnsupportedVersion(header)
    return version, True


def current_version() -> str:
    """The serving version; falls back to the default when the header was unusable."""
    if "api_version" not in g:
        try:
            g.api_version, g.api_unversioned = resolve_version()
        except UnsupportedVersion:
            g.api_version = current_app.config["API_DEFAULT_VERSION"]
            g.api_unversioned = True
    return g.api_version


def present() -> Presenter:
    """The presenter of the version serving this request."""
    return PRESENTERS[current_version()]


def since(version: str):
    """Serve a view only from ``version`` on; earlier versions answer 404, as for any route
    they do not have (the unversioned URL reaches the view whatever the header says)."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if int(current_version()) < int(version):
                raise NotFound("Resource not found")
            return view(*args, **kwargs)

        return wrapper

    return decorate


def _select_version():
    if not is_api_path(request.path):
        return None
    g.api_version, g.api_unversioned = resolve_version()
    return None


def _version_headers(response):
    if not is_api_path(request.path):
        return response
    version = current_version()
    response.headers[VERSION_HEADER] = version
    if g.get("api_unversioned", False):
        response.vary.add(VERSION_HEADER)
    if version == "1":
        _add_deprecation_headers(response)
    return response


def _add_deprecation_headers(response) -> None:
    deprecated_at = current_app.config.get("V1_DEPRECATED_AT")
    if deprecated_at is None:
        return
    response.headers["Deprecation"] = f"@{int(deprecated_at.timestamp())}"
    sunset_at = current_app.config.get("V1_SUNSET_AT")
    if sunset_at is not None:
        response.headers["Sunset"] = format_datetime(sunset_at, usegmt=True)
    successor = f'<{successor_url()}>; rel="successor-version"'
    existing = response.headers.get("Link")
    response.headers["Link"] = f"{existing}, {successor}" if existing else successor


def successor_url() -> str:
    """The absolute v2 URL of the resource this request addressed (the v2 index otherwise)."""
    name = (request.endpoint or "").rsplit(".", 1)[-1]
    target = f"api.v2.{name}"
    if target in current_app.view_functions:
        url = url_for(target, _external=True, **(request.view_args or {}))
    else:
        # No route matched (404, 405): the same path under v2.
        version = path_version(request.path)
        rest = request.path[len(f"/api/v{version}") if version else len("/api") :]
        url = url_for("api.v2.index", _external=True).rstrip("/") + rest
    query = request.query_string.decode("latin-1")
    return f"{url}?{query}" if query else url


def version_status(version: str) -> tuple[str, str | None]:
    """(status, sunset HTTP-date or None) of ``version``, from the configuration."""
    if version == "1" and current_app.config.get("V1_DEPRECATED_AT") is not None:
        sunset = current_app.config.get("V1_SUNSET_AT")
        return "deprecated", format_datetime(sunset, usegmt=True) if sunset else None
    return "current", None


def init_app(app: Flask) -> None:
    app.before_request(_select_version)
    app.after_request(_version_headers)
