"""The Book API application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Blueprint, Flask

from api import versioning
from api.presenters import Presenter
from api.v1.presenter import V1Presenter
from api.v2.presenter import V2Presenter
from core.config import load_config
from core.extensions import cors, db, jwt, migrate

PRESENTERS: dict[str, Presenter] = {"1": V1Presenter(), "2": V2Presenter()}


def presenter_for(version: str) -> Presenter:
    return PRESENTERS[version]


def create_app(overrides: Mapping | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """Build the app from the environment (``environ``, default ``os.environ``) and overrides."""
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    app.config.update(load_config(environ))
    if overrides:
        app.config.update(overrides)
    app.json.sort_keys = False
    configure_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    return app


def configure_logging(app: Flask) -> None:  # noqa: ARG001
    # A no-op when the server (gunicorn, pytest) has configured logging already.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir(), render_as_batch=True, compare_type=True)
    jwt.init_app(app)
    cors.init_app(app, resources={r"/api/*": {"origins": app.config["CORS_ORIGINS"]}})

    from api import auth

    auth.init_app(app)


def register_blueprints(app: Flask) -> None:
    from api import directory
    from api.resources import version_blueprint

    api_bp = Blueprint("api", __name__, url_prefix="/api")
    directory.register(api_bp)
    for presenter in PRESENTERS.values():
        api_bp.register_blueprint(version_blueprint(presenter))
    app.register_blueprint(api_bp)
    versioning.register_fallback_routes(app)
    versioning.init_app(app)


def register_error_handlers(app: Flask) -> None:
    from api.errors import register_error_handlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from api.cli import register

    register(app)


def _migrations_dir() -> str:
    import os

    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")
