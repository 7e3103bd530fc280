"""The Book API application factory."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, Flask
from flask.sessions import SessionInterface

from api import versioning
from api.platform.encoding import FastJSONProvider
from api.versioning.registry import Registry
from core import checkpoints
from core.config import load_config
from core.extensions import db, jwt, migrate
from core.services import auth as auth_service


class NoCookieSessions(SessionInterface):
    """Clients authenticate with tokens and keys: no request opens or sends a cookie session."""

    def open_session(self, app, request):
        return None  # Flask then uses its read-only null session

    def save_session(self, app, session, response):
        return None


class BookApi(Flask):
    """Flask, with the answer to "is this hook or view a coroutine?" kept per function: Flask
    asks it for every hook of every request (``inspect`` each time), and the answer never
    changes. JSON responses are encoded by orjson (api.platform.encoding)."""

    json_provider_class = FastJSONProvider

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync_callables: dict = {}

    def ensure_sync(self, func):
        try:
            return self._sync_callables[func]
        except KeyError:
            sync = self._sync_callables[func] = super().ensure_sync(func)
            return sync
        except TypeError:  # an unhashable callable
            return super().ensure_sync(func)


def create_app(
    overrides: Mapping | None = None,
    environ: Mapping[str, str] | None = None,
    versions: Registry | None = None,
) -> Flask:
    """Build the app from the environment (``environ``, default ``os.environ``) and overrides,
    serving ``versions`` (default: ``api.versions.REGISTRY``)."""
    from api.versions import REGISTRY

    app = BookApi(__name__, instance_relative_config=True, static_folder=None)
    app.config.update(load_config(environ))
    if overrides:
        app.config.update(overrides)
    app.json.sort_keys = False
    app.session_interface = NoCookieSessions()
    register_extensions(app)
    register_blueprints(app, versions or REGISTRY)
    register_error_handlers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir(), render_as_batch=True, compare_type=True)
    jwt.init_app(app)
    from api.platform import authentication, pipeline, usage

    authentication.init_app(app)
    with app.app_context():
        auth_service.prepare()
        checkpoints.watch(db.engine)  # SQLite: checkpoints off the request path
    usage.init_app(app)
    pipeline.init_app(app)  # every request's steps, the limiter and CORS among them


def register_blueprints(app: Flask, versions: Registry) -> None:
    from api import resources
    from api.platform import directory

    versioning.init_app(app, versions)
    api_bp = Blueprint("api", __name__, url_prefix="/api")
    directory.register(api_bp)
    resources.register(api_bp)  # unversioned: the API-Version header picks the version
    for version in versions:
        api_bp.register_blueprint(resources.version_blueprint(version))
    app.register_blueprint(api_bp)

    from api.platform import docs

    docs.init_app(app)


def register_error_handlers(app: Flask) -> None:
    from api.platform.errors import register_error_handlers as register

    register(app)


def register_commands(app: Flask) -> None:
    """Operator commands, each defined beside the code it drives (``changelog`` beside the
    registry, in ``api.versioning``)."""
    from api.platform import idempotency
    from api.resources import accounts, api_keys, compare_traffic
    from core import samples

    commands = (
        *accounts.COMMANDS,
        *api_keys.COMMANDS,
        *compare_traffic.COMMANDS,
        *idempotency.COMMANDS,
        samples.seed,
    )
    for command in commands:
        app.cli.add_command(command)


def _migrations_dir() -> str:
    import os

    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")
