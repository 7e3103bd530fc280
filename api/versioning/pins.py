"""Version pins at the edge: the pin of the client a request's credentials name, read before
the request is routed to a version, and the rules the pin routes apply (contract §10)."""

from __future__ import annotations

from flask import current_app, g, request
from flask_jwt_extended import decode_token
from sqlalchemy.exc import SQLAlchemyError

from core.extensions import db
from core.services import pins
from core.services.pins import PinRules
from core.validation import BodySchema, VersionName

API_KEY_HEADER = "X-API-Key"
# Which pin serves an unversioned request depends on who sends it.
CREDENTIAL_HEADERS = ("Authorization", API_KEY_HEADER)


def servable_versions() -> tuple[str, ...]:
    """The versions a client may pin, oldest first: every registered one not retired."""
    from api.versioning import lifecycle, registry

    return tuple(n for n in registry().numbers if lifecycle.status(n) != "retired")


def _version_field(description: str) -> VersionName:
    # The documents list what may be pinned; `v2` and `V2 ` are read as `2` all the same.
    from api.versions import REGISTRY

    enum = [*REGISTRY.numbers, None]
    return VersionName(
        required=True, allow_none=True, metadata={"description": description, "enum": enum}
    )


class VersionPinSchema(BodySchema):
    version = _version_field("The version to pin, e.g. `2`; null clears the pin.")


class ApiKeyPatchSchema(BodySchema):
    pinned_version = _version_field("The key's pinned version, e.g. `2`; null clears the pin.")


def pin_rules() -> PinRules:
    return PinRules(
        versions=servable_versions(),
        default=current_app.config["API_DEFAULT_VERSION"],
        rollback_hours=current_app.config["VERSION_ROLLBACK_HOURS"],
    )


def client_pin() -> str | None:
    """The pinned version of the client this request's credentials name, or None.

    An API key counts when it is active and whole; a token when its signature holds (an
    expired or revoked one still names its user, so its 401 comes in the user's version).
    Credentials are judged later (``api.platform.authentication``): here a bad one only names no
    pin, and a
    database problem is left to the route. One indexed lookup, once per request.
    """
    if "client_pin" not in g:
        g.client_pin = _lookup()
    return g.client_pin


def _lookup() -> str | None:
    try:
        if API_KEY_HEADER in request.headers:
            pin = pins.key_pin(request.headers[API_KEY_HEADER])
        else:
            user_id = _token_user_id()
            pin = pins.user_pin(user_id) if user_id is not None else None
    except SQLAlchemyError:
        db.session.rollback()
        return None
    from api.versioning import registry

    return pin if pin in registry() else None


def _token_user_id() -> int | None:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        claims = decode_token(token.strip(), allow_expired=True)
    except Exception:  # any decoding failure: no identity, so no pin
        return None
    # An access token names its user everywhere; a refresh token only where it is taken.
    wanted = "refresh" if request.endpoint == "api.refresh" else "access"
    subject = claims.get("sub")
    if claims.get("type") != wanted or not isinstance(subject, str):
        return None
    return int(subject) if subject.isascii() and subject.isdigit() else None


def vary_on_credentials(req, g, app, response):
    """Response step (api.platform.pipeline), after API-Version's: an unversioned answer
    varies on the credentials, which may name a pin."""
    if g.get("api_unversioned", False):
        response.vary.update(CREDENTIAL_HEADERS)
    return response
