"""GET /health."""

from flask import Blueprint

from api.errors import DATABASE_UNAVAILABLE
from api.openapi import document
from api.ratelimit import exempt
from api.versioning import present
from core.errors import ServiceUnavailable
from core.services.health import database_ok


@document("health", tags=("health",), unlimited=True)
@exempt  # load balancers poll it
def health():
    """Report whether the API and its database are usable."""
    if not database_ok():
        raise ServiceUnavailable(**DATABASE_UNAVAILABLE)
    return present().healthy({"status": "ok", "database": "ok"})


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/health", view_func=health, methods=["GET"])
