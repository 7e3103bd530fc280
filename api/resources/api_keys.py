"""API keys for service clients: create, list, read, pin and revoke; admin users only.

Served by the versions whose registry entry lists the ``api_keys`` resource (v2 on)."""

from flask import Blueprint

from api.auth import authenticated, current_principal
from api.http import json_body
from api.openapi import document
from api.pins import ApiKeyPatchSchema, pin_rules
from api.versioning import present, serves
from core.schemas import ApiKeySchema, load
from core.services import api_keys, pins

_api_key_schema = ApiKeySchema()
_api_key_patch_schema = ApiKeyPatchSchema()
_TAGS = ("api-keys",)


@document(
    "api_key_created", status=201, body=ApiKeySchema, auth="access", errors=(403,), tags=_TAGS
)
@serves("api_keys")
@authenticated(admin=True)
def create_api_key():
    """Create an API key; the response is the only one that ever shows the key."""
    data = load(present().body_schema(ApiKeySchema), json_body())
    key, plaintext = api_keys.create_key(data["name"], data["scopes"], current_principal().user)
    return present().api_key_created(key, plaintext)


@document("api_key_list", auth="access", errors=(403,), tags=_TAGS)
@serves("api_keys")
@authenticated(admin=True)
def list_api_keys():
    """List the active API keys, without secrets."""
    return present().api_key_list(api_keys.list_keys(current_principal()))


@document("api_key", auth="access", errors=(403,), tags=_TAGS)
@serves("api_keys")
@authenticated(admin=True)
def get_api_key(key_id: int):
    """Get one API key, without its secret."""
    return present().api_key(api_keys.get_key(key_id, current_principal()))


@document("api_key", body=ApiKeyPatchSchema, auth="access", errors=(403,), tags=_TAGS)
@serves("api_keys")
@authenticated(admin=True)
def update_api_key(key_id: int):
    """Pin an API key to a version for its unversioned requests (null: the default)."""
    data = load(_api_key_patch_schema, json_body())
    key = pins.pin_key(key_id, data["pinned_version"], current_principal(), pin_rules())
    return present().api_key(key)


@document("api_key_revoked", auth="access", errors=(403,), tags=_TAGS)
@serves("api_keys")
@authenticated(admin=True)
def revoke_api_key(key_id: int):
    """Revoke an API key from now on; it is gone from the API afterwards."""
    api_keys.revoke_key(key_id, current_principal(), only_active=True)
    return present().api_key_revoked()


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/api-keys", view_func=create_api_key, methods=["POST"])
    bp.add_url_rule("/api-keys", view_func=list_api_keys, methods=["GET"])
    bp.add_url_rule("/api-keys/<int:key_id>", view_func=get_api_key, methods=["GET"])
    bp.add_url_rule("/api-keys/<int:key_id>", view_func=update_api_key, methods=["PATCH"])
    bp.add_url_rule("/api-keys/<int:key_id>", view_func=revoke_api_key, methods=["DELETE"])
