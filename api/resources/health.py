"""GET /health."""

from flask import Blueprint

from api.errors import DATABASE_UNAVAILABLE
from api.openapi import document
from api.presenters import Presenter
from core.errors import ServiceUnavailable
from core.services.health import database_ok


def register(bp: Blueprint, present: Presenter) -> None:
    @bp.get("/health")
    @document("health", tags=("health",))
    def health():
        """Report whether the API and its database are usable."""
        if not database_ok():
            raise ServiceUnavailable(**DATABASE_UNAVAILABLE)
        return present.healthy({"status": "ok", "database": "ok"})
