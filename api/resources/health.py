"""GET /health."""

from flask import Blueprint, current_app

from api.platform.errors import DATABASE_UNAVAILABLE
from api.platform.openapi import document
from api.platform.ratelimit import exempt
from api.versioning import present
from core.errors import ServiceUnavailable
from core.services import health as health_service

DATABASE_SCHEMA_OUTDATED = {
    "message": (
        "The database schema is not at the latest migration: run `flask --app wsgi db upgrade`"
    ),
    "reason": "database_schema_outdated",
    "headers": {"Retry-After": "30"},
}


@document("health", tags=("health",), unlimited=True)
@exempt  # load balancers poll it
def health():
    """Report whether the API and its database are usable."""
    heads = health_service.migration_heads(current_app.extensions["migrate"].directory)
    status = health_service.database_status(heads)
    if status == health_service.UNAVAILABLE:
        raise ServiceUnavailable(**DATABASE_UNAVAILABLE)
    if status == health_service.SCHEMA_OUTDATED:
        raise ServiceUnavailable(**DATABASE_SCHEMA_OUTDATED)
    return present().healthy({"status": "ok", "database": "ok"})


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/health", view_func=health, methods=["GET"])
