"""How tokens are checked: flask-jwt-extended callbacks answering in the version's shape."""

from __future__ import annotations

from flask import Flask

from api.errors import render_error
from core.extensions import jwt
from core.services import auth

_BEARER = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def _unauthorized(message: str, reason: str):
    headers = {"WWW-Authenticate": "Bearer"} if reason == "token_missing" else _BEARER
    return render_error(401, message, reason=reason, headers=headers)


def init_app(app: Flask) -> None:  # noqa: ARG001 - callbacks live on the shared JWTManager
    @jwt.user_lookup_loader
    def load_user(_header, claims):
        try:
            return auth.get_user(int(claims["sub"]))
        except (TypeError, ValueError):
            return None

    @jwt.token_in_blocklist_loader
    def token_revoked(_header, claims):
        return auth.is_revoked(claims["jti"])

    @jwt.unauthorized_loader
    def missing_token(_reason):
        return _unauthorized("Missing or malformed Authorization header", "token_missing")

    @jwt.invalid_token_loader
    def invalid_token(_reason):
        # Covers bad signatures, alg=none, malformed tokens and the wrong token type.
        return _unauthorized("Invalid token", "token_invalid")

    @jwt.expired_token_loader
    def expired_token(_header, _claims):
        return _unauthorized("Token has expired", "token_expired")

    @jwt.revoked_token_loader
    def revoked_token(_header, _claims):
        return _unauthorized("Token has been revoked", "token_revoked")

    @jwt.user_lookup_error_loader
    def unknown_user(_header, _claims):
        return _unauthorized("Invalid token", "token_invalid")
