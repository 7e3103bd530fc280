"""The signed-in user's version pin (v2 on): read it, pin a version, clear it (contract §10).

An API key's pin is the admin's to set (``PATCH /api-keys/<id>``, ``flask pin-api-key``).
"""

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required

from api.platform.bodies import json_body
from api.platform.openapi import document
from api.versioning import present, serves
from api.versioning.pins import VersionPinSchema, pin_rules
from core.services import pins
from core.validation import load

_pin_schema = VersionPinSchema()
_TAGS = ("auth",)


@document("api_version", auth="access", tags=_TAGS)
@serves("api_version")
@jwt_required()
def get_api_version():
    """The version the signed-in user's unversioned requests get, and the rollback window."""
    return present().api_version(pins.pin_state(current_user, pin_rules()))


@document("api_version", body=VersionPinSchema, auth="access", errors=(409,), tags=_TAGS)
@serves("api_version")
@jwt_required()
def pin_api_version():
    """Pin a version (null: the default); moving back is allowed only within the window."""
    data = load(_pin_schema, json_body())
    return present().api_version(pins.pin_user(current_user, data["version"], pin_rules()))


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/auth/me/api-version", view_func=get_api_version, methods=["GET"])
    bp.add_url_rule("/auth/me/api-version", view_func=pin_api_version, methods=["PUT"])
