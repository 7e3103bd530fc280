"""Operator commands: ``flask --app wsgi <command>``."""

from __future__ import annotations

import click
from flask import Flask
from marshmallow import ValidationError

from core.errors import Conflict
from core.schemas import RegisterSchema
from core.services import auth, catalogue


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
        try:
            data = RegisterSchema().load({"email": email, "password": password})
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(msgs)}" for field, msgs in exc.messages.items()
            )
            raise click.ClickException(f"invalid input: {problems}") from None
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
