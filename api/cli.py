"""Operator commands: ``flask --app wsgi <command>``."""

from __future__ import annotations

import click
from flask import Flask
from marshmallow import ValidationError

from api.pins import ApiKeyPatchSchema, pin_rules
from api.schemas import TIMESTAMP_FORMAT
from core.errors import Conflict, NotFound, ValidationFailed
from core.principal import Principal
from core.schemas import ApiKeySchema, RegisterSchema
from core.services import api_keys, auth, catalogue, pins

# What pin-api-key takes for "no pin": the key's unversioned requests get the default.
NO_PIN = ("default", "none")


def register(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.option("--email", required=True, help="The admin's email address.")
    @click.option(
        "--password",
        envvar="ADMIN_PASSWORD",
        help="The password (8-128 characters); else ADMIN_PASSWORD, else a prompt.",
    )
    def create_admin(email: str, password: str | None):
        """Create an admin account."""
        if password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        data = _validated(RegisterSchema(), {"email": email, "password": password})
        try:
            user = auth.create_admin(data["email"], data["password"])
        except Conflict:
            raise click.ClickException(
                f"a user with the email {data['email']} already exists"
            ) from None
        click.echo(f"Created admin {user.email} (id {user.id}).")

    @app.cli.command("seed")
    @click.option("--if-empty", is_flag=True, help="Only when the catalogue has no books.")
    def seed(if_empty: bool):
        """Load the sample books."""
        added = catalogue.load_samples(only_if_empty=if_empty)
        if added == 0:
            click.echo("No sample books added (the catalogue already has books).")
        else:
            click.echo(f"Added {added} sample books.")

    @app.cli.command("purge-revoked-tokens")
    def purge_revoked_tokens():
        """Delete revocation entries for tokens that have expired anyway."""
        click.echo(f"Removed {auth.purge_expired_revocations()} expired revocation entries.")

    @app.cli.command("create-api-key")
    @click.option("--name", required=True, help="What the key is for (1-100 characters).")
    @click.option(
        "--scope",
        "scopes",
        multiple=True,
        help="read or write; repeat for both. At least one is needed.",
    )
    @click.option("--created-by", required=True, help="The email of the admin issuing the key.")
    def create_api_key(name: str, scopes: tuple[str, ...], created_by: str):
        """Create an API key for a service client and print it, once."""
        data = _validated(ApiKeySchema(), {"name": name, "scopes": list(scopes)})
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

    @app.cli.command("list-api-keys")
    def list_api_keys():
        """List API keys (never their secrets)."""
        keys = api_keys.list_keys(Principal.for_operator(), include_revoked=True)
        if not keys:
            click.echo("No API keys.")
        for key in keys:
            status = f"revoked {_when(key.revoked_at)}" if key.is_revoked else "active"
            click.echo(
                f"{key.id}\t{key.prefix}\t{key.name}\tscopes: {key.scopes}\t"
                f"by {key.creator.email}\tcreated {_when(key.created_at)}\t"
                f"last used {_when(key.last_used_at)}\t"
                f"pin: {key.pinned_version or 'default'}\t{status}"
            )

    @app.cli.command("pin-api-key")
    @click.argument("key_id")
    @click.argument("version")
    def pin_api_key(key_id: str, version: str):
        """Pin an active API key's unversioned requests to VERSION (e.g. 2); `default` unpins."""
        try:
            number = int(key_id)
        except ValueError:
            raise click.ClickException(f"the id must be a whole number, got {key_id!r}") from None
        wanted = None if version.strip().lower() in NO_PIN else version
        data = _validated(ApiKeyPatchSchema(), {"pinned_version": wanted})
        try:
            operator = Principal.for_operator()
            key = pins.pin_key(number, data["pinned_version"], operator, pin_rules())
        except NotFound:
            raise click.ClickException(f"no active API key with the id {key_id}") from None
        except ValidationFailed as exc:
            problems = " ".join(exc.details["pinned_version"])
            raise click.ClickException(f"invalid version {version!r}: {problems}") from None
        click.echo(f"API key {key.id} ({key.name}) now gets {_pin(key)} on unversioned URLs.")

    @app.cli.command("revoke-api-key")
    @click.argument("key_id")
    def revoke_api_key(key_id: str):
        """Revoke an API key by its id; it stops working at once."""
        try:
            key = api_keys.revoke_key(int(key_id), Principal.for_operator())
        except ValueError:
            raise click.ClickException(f"the id must be a whole number, got {key_id!r}") from None
        except NotFound:
            raise click.ClickException(f"no API key with the id {key_id}") from None
        # Revoking a revoked key is not an error: the outcome the operator wants holds.
        click.echo(f"API key {key.id} ({key.name}) is revoked since {_when(key.revoked_at)}.")


def _validated(schema, data: dict) -> dict:
    """``data`` loaded by ``schema``; bad input is one line naming each problem."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{field}: {' '.join(_messages(msgs))}" for field, msgs in exc.messages.items()
        )
        raise click.ClickException(f"invalid input: {problems}") from None


def _messages(messages) -> list[str]:
    if isinstance(messages, dict):  # per-item errors of a list, e.g. one bad scope
        return [m for inner in messages.values() for m in _messages(inner)]
    return [str(m) for m in messages]


def _pin(key) -> str:
    return f"version {key.pinned_version}" if key.pinned_version else "the default version"


def _when(moment) -> str:
    return moment.strftime(TIMESTAMP_FORMAT) if moment is not None else "never"
