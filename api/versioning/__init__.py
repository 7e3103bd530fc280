"""Which API version serves a request: the path, else the API-Version header, else the default.

The versions, their flags and their lifecycle come from the app's registry (``api.versions``
unless ``create_app(versions=...)`` gave another one).
"""

from __future__ import annotations

import re
from email.utils import format_datetime
from functools import wraps

import click
from flask import Flask, current_app, g, request, url_for

from api.platform import hardening
from api.versioning import lifecycle
from api.versioning.pins import client_pin
from api.versioning.presenter import Presenter
from api.versioning.registry import Registry, Version, changelog
from core.errors import BadRequest, NotFound

VERSION_HEADER = "API-Version"
_VERSION_ENVIRON = "HTTP_API_VERSION"
_PATH_VERSION = re.compile(r"^/api/v(\d+)(?:/|$)")
_OPENAPI_PATH = re.compile(r"^/api/v\d+/openapi\.json$")


class UnsupportedVersion(BadRequest):
    reason = "unsupported_version"

    def __init__(self, value: str):
        supported = ", ".join(registry().numbers)
        super().__init__(
            f"Unsupported API version {value!r}; supported versions: {supported}",
            details={VERSION_HEADER: [f"Must be one of: {supported}."]},
        )


def registry() -> Registry:
    """The versions the current app serves."""
    return current_app.extensions["api_versions"]


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def path_version(path: str, versions: Registry | None = None) -> str | None:
    match = _PATH_VERSION.match(path)
    if match and match.group(1) in (versions or registry()):
        return match.group(1)
    return None


def resolve_version(pin: str | None = None, req=None, app=None) -> tuple[str, str]:
    """Return (version, how it was chosen) for the current request: ``path``, ``header``,
    ``pin`` or ``default``.

    A version in the path wins; then the API-Version header; then ``pin`` (a client's pinned
    version, when it has one); then API_DEFAULT_VERSION. Raises UnsupportedVersion for an
    unsupported or malformed API-Version header on an unversioned URL.
    """
    req = req or request
    app = app or current_app
    versions = app.extensions["api_versions"]
    version = path_version(req.path, versions)
    if version is not None:
        return version, "path"
    header = req.environ.get(_VERSION_ENVIRON)
    if header is None:
        pinned = pin or client_pin()
        if pinned:
            return pinned, "pin"
        return app.config["API_DEFAULT_VERSION"], "default"
    version = versions.parse(header)
    if version is None:
        raise UnsupportedVersion(header)
    return version, "header"


def current_version() -> str:
    """The serving version; falls back to the default when the header was unusable."""
    if "api_version" not in g:
        try:
            _remember(*resolve_version())
        except UnsupportedVersion:
            _remember(current_app.config["API_DEFAULT_VERSION"], "default")
    return g.api_version


def version_of(g, app) -> str:
    """``current_version()`` for a request step that has ``g`` and the app at hand."""
    version = g.get("api_version")
    return current_version() if version is None else version


def _remember(version: str, source: str, store=g) -> None:
    store.api_version, store.api_version_source = version, source
    store.api_unversioned = source != "path"


def serving() -> Version:
    """The registry entry of the version serving this request (its flags, its presenter)."""
    return registry()[current_version()]


def present() -> Presenter:
    """The presenter of the version serving this request."""
    return serving().presenter


def serves(resource: str):
    """Serve a view only from versions that serve ``resource``; the others answer 404, as for
    any route they do not have (the unversioned URL reaches the view whatever the header)."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not serving().serves(resource):
                raise NotFound("Resource not found")
            return view(*args, **kwargs)

        return wrapper

    return decorate


def _exempt_from_lifecycle(req) -> bool:
    """The directory, the docs page, preflights and a version's own OpenAPI document."""
    method, path = req.method, req.path
    if method == "OPTIONS" or path in ("/api", "/api/"):
        return True
    if path.startswith("/api/docs"):
        return True
    return method in ("GET", "HEAD") and bool(_OPENAPI_PATH.match(path))


def select_version(req, g, app) -> None:
    """Request step (api.platform.pipeline): which version serves it; 410 for a retired one."""
    if not is_api_path(req.path):
        return
    version, source = resolve_version(req=req, app=app)
    _remember(version, source, g)
    if not _exempt_from_lifecycle(req):
        lifecycle.check(version, app)  # a retired version never falls forward


def version_headers(req, g, app, response):
    """Response step (api.platform.pipeline): API-Version, and Deprecation, Sunset and Link."""
    if not is_api_path(req.path):
        return response
    version = version_of(g, app)
    response.headers[VERSION_HEADER] = version
    if g.get("api_unversioned", False):
        response.vary.add(VERSION_HEADER)
    if app.extensions["api_lifecycle"][version].announced:
        _add_lifecycle_headers(response, version)
    return response


def _add_lifecycle_headers(response, version: str) -> None:
    dates = lifecycle.of(version)
    if not dates.announced:
        return
    response.headers["Deprecation"] = f"@{int(dates.deprecated_at.timestamp())}"
    if dates.sunset_at is not None:
        response.headers["Sunset"] = format_datetime(dates.sunset_at, usegmt=True)
    url = None if hardening.host_refused() else successor_url(version)
    if url is not None:
        successor = f'<{url}>; rel="successor-version"'
        existing = response.headers.get("Link")
        response.headers["Link"] = f"{existing}, {successor}" if existing else successor


def successor(version: str) -> str | None:
    """The version clients of ``version`` should move to: the latest current one, else the
    latest newer one still served; None when there is none."""
    moment = lifecycle.now()
    newer = [v.number for v in registry() if int(v.number) > int(version)]
    statuses = {n: lifecycle.of(n).status(moment) for n in newer}
    for wanted in ((lifecycle.CURRENT,), (lifecycle.CURRENT, lifecycle.DEPRECATED)):
        candidates = [n for n in newer if statuses[n] in wanted]
        if candidates:
            return candidates[-1]
    return None


def successor_url(version: str) -> str | None:
    """The absolute URL, in the successor of ``version``, of the resource this request
    addressed (the successor's index otherwise)."""
    target_version = successor(version)
    if target_version is None:
        return None
    name = (request.endpoint or "").rsplit(".", 1)[-1]
    target = f"api.v{target_version}.{name}"
    if target in current_app.view_functions:
        url = url_for(target, _external=True, **(request.view_args or {}))
    else:
        # No route matched (404, 405): the same path under the successor.
        served = path_version(request.path)
        rest = request.path[len(f"/api/v{served}") if served else len("/api") :]
        url = url_for(f"api.v{target_version}.index", _external=True).rstrip("/") + rest
    query = request.query_string.decode("latin-1")
    return f"{url}?{query}" if query else url


def version_status(version: str) -> tuple[str, str | None]:
    """(status, sunset HTTP-date or None) of ``version`` now."""
    dates = lifecycle.of(version)
    sunset = format_datetime(dates.sunset_at, usegmt=True) if dates.sunset_at else None
    return dates.status(lifecycle.now()), sunset


def init_app(app: Flask, versions: Registry) -> None:
    from core.config import ConfigError

    app.extensions["api_versions"] = versions
    configured = app.config["API_DEFAULT_VERSION"]
    default = versions.parse(configured)
    if default is None:
        served = ", ".join(versions.numbers)
        raise ConfigError(f"API_DEFAULT_VERSION must be one of {served}, got {configured!r}")
    app.config["API_DEFAULT_VERSION"] = default
    lifecycle.init_app(app, versions)

    @app.cli.command("changelog")
    @click.option("--markdown", is_flag=True, help="As the migration guide's tables.")
    def print_changelog(markdown: bool):
        """Print each API version's declared changes from its predecessor."""
        for line in changelog(registry(), markdown):
            click.echo(line)
