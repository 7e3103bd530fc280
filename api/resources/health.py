"""GET /health."""

from flask import Blueprint

from api.presenters import Presenter
from core.errors import ServiceUnavailable
from core.services.health import database_ok


def register(bp: Blueprint, present: Presenter) -> None:
    @bp.get("/health")
    def health():
        """Report whether the API and its database are usable."""
        if not database_ok():
            raise ServiceUnavailable("The database is unreachable", reason="database_unavailable")
        return present.healthy({"status": "ok", "database": "ok"})
