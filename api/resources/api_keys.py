"""API keys for service clients: create, list, read, pin and revoke; admin users only.

Served by the versions whose registry entry lists the ``api_keys`` resource (v2 on)."""

import click
from flask import Blueprint
from flask.cli import with_appcontext

from api.platform.authentication import authenticated, current_principal
from api.platform.bodies import json_body
from api.platform.cli import validated, when
from api.platform.idempotency import idempotent
from api.platform.openapi import document
from api.versioning import present, serves
from api.versioning.pins import ApiKeyPatchSchema, pin_rules
from core.errors import NotFound, ValidationFailed
from core.principal import Principal
from core.services import api_keys, auth, pins
from core.validation import ApiKeySchema, load

_api_key_schema = ApiKeySchema()
_api_key_patch_schema = ApiKeyPatchSchema()
_TAGS = ("api-keys",)


@document(
    "api_key_created",
    status=201,
    body=ApiKeySchema,
    auth="access",
    errors=(403,),
    idempotent=True,
    tags=_TAGS,
)
@serves("api_keys")
@authenticated(admin=True)
@idempotent
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


# Operator commands: ``flask --app wsgi <command>``.

# What pin-api-key takes for "no pin": the key's unversioned requests get the default.
NO_PIN = ("default", "none")


@click.command("create-api-key")
@with_appcontext
@click.option("--name", required=True, help="What the key is for (1-100 characters).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="read or write; repeat for both. At least one is needed.",
)
@click.option("--created-by", required=True, help="The email of the admin issuing the key.")
def create_api_key_command(name: str, scopes: tuple[str, ...], created_by: str):
    """Create an API key for a service client and print it, once."""
    data = validated(ApiKeySchema(), {"name": name, "scopes": list(scopes)})
    creator = auth.find_user_by_email(created_by)
    if creator is None:
        raise click.ClickException(f"no user with the email {created_by.strip()}")
    if not creator.is_admin:
        raise click.ClickException(f"{creator.email} is not an admin")
    key, plaintext = api_keys.create_key(data["name"], data["scopes"], creator)
    # The key alone on stdout, so `KEY=$(flask create-api-key ...)` captures just the key.
    click.echo(
        f"Created API key {key.id} ({key.name}, scopes: {key.scopes}, prefix {key.prefix}).",
        err=True,
    )
    click.echo(plaintext)
    click.echo("Store this key now: it cannot be shown again.", err=True)


@click.command("list-api-keys")
@with_appcontext
def list_api_keys_command():
    """List API keys (never their secrets)."""
    keys = api_keys.list_keys(Principal.for_operator(), include_revoked=True)
    if not keys:
        click.echo("No API keys.")
    for key in keys:
        status = f"revoked {when(key.revoked_at)}" if key.is_revoked else "active"
        click.echo(
            f"{key.id}\t{key.prefix}\t{key.name}\tscopes: {key.scopes}\t"
            f"by {key.creator.email}\tcreated {when(key.created_at)}\t"
            f"last used {when(key.last_used_at)}\t"
            f"pin: {key.pinned_version or 'default'}\t{status}"
        )


@click.command("pin-api-key")
@with_appcontext
@click.argument("key_id")
@click.argument("version")
def pin_api_key_command(key_id: str, version: str):
    """Pin an active API key's unversioned requests to VERSION (e.g. 2); `default` unpins."""
    try:
        number = int(key_id)
    except ValueError:
        raise click.ClickException(f"the id must be a whole number, got {key_id!r}") from None
    wanted = None if version.strip().lower() in NO_PIN else version
    data = validated(ApiKeyPatchSchema(), {"pinned_version": wanted})
    try:
        operator = Principal.for_operator()
        key = pins.pin_key(number, data["pinned_version"], operator, pin_rules())
    except NotFound:
        raise click.ClickException(f"no active API key with the id {key_id}") from None
    except ValidationFailed as exc:
        problems = " ".join(exc.details["pinned_version"])
        raise click.ClickException(f"invalid version {version!r}: {problems}") from None
    click.echo(f"API key {key.id} ({key.name}) now gets {_pin(key)} on unversioned URLs.")


@click.command("revoke-api-key")
@with_appcontext
@click.argument("key_id")
def revoke_api_key_command(key_id: str):
    """Revoke an API key by its id; it stops working at once."""
    try:
        key = api_keys.revoke_key(int(key_id), Principal.for_operator())
    except ValueError:
        raise click.ClickException(f"the id must be a whole number, got {key_id!r}") from None
    except NotFound:
        raise click.ClickException(f"no API key with the id {key_id}") from None
    # Revoking a revoked key is not an error: the outcome the operator wants holds.
    click.echo(f"API key {key.id} ({key.name}) is revoked since {when(key.revoked_at)}.")


def _pin(key) -> str:
    return f"version {key.pinned_version}" if key.pinned_version else "the default version"


COMMANDS = (
    create_api_key_command,
    list_api_keys_command,
    pin_api_key_command,
    revoke_api_key_command,
)
