"""Accounts and tokens: register, login, refresh, logout, me."""

import click
from flask import Blueprint
from flask.cli import with_appcontext
from flask_jwt_extended import current_user, get_jwt, jwt_required

from api.platform.bodies import json_body
from api.platform.cli import validated
from api.platform.openapi import document
from api.platform.ratelimit import login_email_limit, login_limit, register_limit
from api.versioning import present, serving
from core.errors import Conflict
from core.services import auth
from core.validation import LoginSchema, LogoutSchema, RegisterSchema, load


@document("registered", status=201, body=RegisterSchema, errors=(409,), tags=("auth",))
@register_limit
def register_user():
    """Create an account; new accounts always have the role ``user``."""
    data = load(present().body_schema(RegisterSchema), json_body())
    return present().registered(auth.register(data["email"], data["password"]))


@document("tokens", body=LoginSchema, errors=(401,), tags=("auth",))
@login_limit
@login_email_limit
def login():
    """Exchange email and password for an access and a refresh token."""
    data = load(present().body_schema(LoginSchema), json_body())
    user = auth.authenticate(data["email"], data["password"])
    return present().tokens(auth.issue_tokens(user))


@document("refreshed", auth="refresh", tags=("auth",))
@jwt_required(refresh=True)
def refresh():
    """Exchange a refresh token for a new access token (v2 also rotates the refresh token)."""
    tokens = auth.refresh(current_user, get_jwt(), rotate=serving().rotate_refresh_tokens)
    return present().refreshed(tokens)


@document("logged_out", auth="access", tags=("auth",))
@jwt_required()
def logout():
    """Revoke the presented access token and, when sent, the refresh token."""
    data = load(present().body_schema(LogoutSchema), json_body(optional=True))
    auth.logout(current_user, get_jwt(), data.get("refresh_token"))
    return present().logged_out()


@document("user", auth="access", tags=("auth",))
@jwt_required()
def me():
    """The signed-in user."""
    return present().user(current_user)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/auth/register", view_func=register_user, methods=["POST"])
    bp.add_url_rule("/auth/login", view_func=login, methods=["POST"])
    bp.add_url_rule("/auth/refresh", view_func=refresh, methods=["POST"])
    bp.add_url_rule("/auth/logout", view_func=logout, methods=["POST"])
    bp.add_url_rule("/auth/me", view_func=me, methods=["GET"])


# Operator commands: ``flask --app wsgi <command>``.


@click.command("create-admin")
@with_appcontext
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
    data = validated(RegisterSchema(), {"email": email, "password": password})
    try:
        user = auth.create_admin(data["email"], data["password"])
    except Conflict:
        raise click.ClickException(
            f"a user with the email {data['email']} already exists"
        ) from None
    click.echo(f"Created admin {user.email} (id {user.id}).")


@click.command("purge-revoked-tokens")
@with_appcontext
def purge_revoked_tokens():
    """Delete revocation entries for tokens that have expired anyway."""
    click.echo(f"Removed {auth.purge_expired_revocations()} expired revocation entries.")


COMMANDS = (create_admin, purge_revoked_tokens)
