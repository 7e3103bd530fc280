"""Version usage counting (contract §11): every request under /api counted per client, version,
endpoint and UTC day in this process's memory, flushed by a background thread every
``USAGE_FLUSH_SECONDS`` and when the process exits; ``flask version-usage`` reports it.

The request path only updates a dict: no database or Redis call of its own.
"""

from __future__ import annotations

import atexit
import csv
import io
import json
import logging
import os
import re
import threading
import weakref

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from api.platform.requestlog import principal_ids
from api.versioning import compare, is_api_path, version_of
from core.services import usage

log = logging.getLogger("bookapi.usage")

_VERSION_PREFIX = re.compile(r"^/api(?:/v\d+)?")
_PLACEHOLDER = re.compile(r"<[^>]*>")

# Every app of this process that counts, for the one flusher thread and the exit flush.
_apps: weakref.WeakSet[Flask] = weakref.WeakSet()
_flusher: dict[str, object] = {"pid": None, "thread": None, "wake": None}
_lock = threading.Lock()


_ENDPOINTS: dict[tuple[str, str | None], str] = {}


def endpoint_name(req) -> str:
    """``METHOD /route`` relative to the version root, placeholders as ``<id>``."""
    rule = req.url_rule
    method = req.method
    key = (method, rule.rule if rule is not None else None)
    name = _ENDPOINTS.get(key)
    if name is None:
        if rule is None:
            name = f"{method} (no route)"
        else:
            route = _PLACEHOLDER.sub("<id>", _VERSION_PREFIX.sub("", rule.rule) or "/")
            name = f"{method} {route}"
        if len(_ENDPOINTS) < 10_000:  # routes and methods are few; never grow without bound
            _ENDPOINTS[key] = name
    return name


def client(g) -> tuple[str, int]:
    ids = principal_ids(g)
    if ids["api_key_id"] is not None:
        return ("api_key", ids["api_key_id"])
    if ids["user_id"] is not None:
        return ("user", ids["user_id"])
    return usage.ANONYMOUS


def store() -> usage.Store:
    """The shared store of the current app (created once per app)."""
    app = current_app._get_current_object()
    found = app.extensions.get("usage_store")
    if found is None:
        uri = app.config["USAGE_STORAGE_URI"]
        if uri == "database":
            from core.extensions import db

            found = usage.DatabaseStore(db.engine)
        else:
            found = usage.RedisStore(uri, app.config["RATELIMIT_KEY_PREFIX"])
        app.extensions["usage_store"] = found
    return found


def tally(app: Flask | None = None) -> usage.Tally:
    app = app or current_app._get_current_object()
    return app.extensions["usage_tally"]


def flush(app: Flask | None = None) -> int:
    """Flush an app's counts now; returns the requests written (0 when the store failed)."""
    app = app or current_app._get_current_object()
    with app.app_context():
        try:
            return tally(app).flush(store())
        except Exception as exc:  # the store is down: the counts wait for the next flush
            log.warning("usage flush failed (%s); counts kept for the next one", type(exc).__name__)
            return 0


def flush_all() -> None:
    """Flush every counting app of this process (the flusher's tick, and process exit)."""
    for app in list(_apps):
        if app.extensions["usage_tally"].counts:
            flush(app)


def count(req, g, app, response):
    """Response step (api.platform.pipeline): one more request for this client, version and
    endpoint today."""
    path = req.path
    if compare.comparing() or not is_api_path(path):
        return response
    if path.startswith("/api/docs"):
        return response  # the docs page's assets are not API calls
    version = version_of(g, app)
    tally(app).add(client(g), version, endpoint_name(req), app.config["CLOCK"]())
    _ensure_flusher(app)
    return response


def _ensure_flusher(app: Flask) -> None:
    """One flusher thread per process, started by the first counted request (after a fork)."""
    if _flusher["pid"] == os.getpid():
        return
    with _lock:
        if _flusher["pid"] == os.getpid():
            return
        wake = threading.Event()
        thread = threading.Thread(
            target=_run_flusher,
            args=(wake, app.config["USAGE_FLUSH_SECONDS"]),
            name="usage-flusher",
            daemon=True,
        )
        _flusher.update(pid=os.getpid(), thread=thread, wake=wake)
        thread.start()


def _run_flusher(wake: threading.Event, seconds: int) -> None:
    while not wake.wait(seconds):
        flush_all()


def init_app(app: Flask) -> None:
    app.extensions["usage_tally"] = usage.Tally()
    app.cli.add_command(version_usage_command)
    if not app.config["USAGE_COUNTING"]:
        return
    _apps.add(app)


atexit.register(flush_all)  # a worker's exit flushes what it counted (gunicorn: worker_exit too)


@click.command("version-usage")
@with_appcontext
@click.option("--version", "version", default=None, help="Only this version (e.g. 1).")
@click.option("--days", default=usage.DEFAULT_DAYS, show_default=True, help="1 to 90 UTC days.")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
def version_usage_command(version: str | None, days: int, output: str):
    """Which clients called which version, per endpoint, over the last DAYS days."""
    from api.versioning import registry
    from core.errors import ValidationFailed

    wanted = None
    if version is not None:
        wanted = registry().parse(version)
        if wanted is None:
            raise click.ClickException(
                f"unknown version {version!r}; served: {', '.join(registry().numbers)}"
            )
    try:
        rows = usage.version_usage(
            store(), wanted, days, current_app.config["CLOCK"](), per_page=10**9
        ).items
    except ValidationFailed as exc:
        raise click.ClickException(" ".join(exc.details["days"])) from None
    if output == "json":
        click.echo(json.dumps([_plain(row) for row in rows], indent=2))
    elif output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["client", "requests", "versions", "endpoints", "first_seen", "last_seen"])
        for row in rows:
            plain = _plain(row)
            writer.writerow(
                [
                    _who(row["client"]),
                    row["requests"],
                    " ".join(row["versions"]),
                    "; ".join(f"{e['endpoint']} ({e['requests']})" for e in row["endpoints"]),
                    plain["first_seen"],
                    plain["last_seen"],
                ]
            )
        click.echo(buffer.getvalue(), nl=False)
    else:
        if not rows:
            click.echo(f"No requests in the last {days} days.")
        for row in rows:
            plain = _plain(row)
            click.echo(
                f"{_who(row['client'])}\t{row['requests']} requests\t"
                f"versions {', '.join(row['versions'])}\t"
                f"first {plain['first_seen']}\tlast {plain['last_seen']}"
            )
            for entry in row["endpoints"]:
                click.echo(f"    {entry['requests']:>8}  {entry['endpoint']}")


def _who(described: dict) -> str:
    if described["type"] == "user":
        return f"user {described['id']} ({described['email'] or 'deleted'})"
    if described["type"] == "api_key":
        return f"api_key {described['id']} ({described['name'] or 'deleted'})"
    return "anonymous"


def _plain(row: dict) -> dict:
    from api.representations import timestamp

    return {
        **row,
        "first_seen": timestamp(row["first_seen"]),
        "last_seen": timestamp(row["last_seen"]),
    }
