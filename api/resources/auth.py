"""Accounts and tokens: register, login, refresh, logout, me."""

from flask import Blueprint
from flask_jwt_extended import current_user, get_jwt, jwt_required

from api.http import json_body
from api.openapi import document
from api.ratelimit import login_email_limit, login_limit, register_limit
from api.versioning import present, serving
from core.schemas import LoginSchema, LogoutSchema, RegisterSchema, load
from core.services import auth


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
