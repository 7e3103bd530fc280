"""How requests authenticate: JWT access tokens or service API keys, errors in the version's shape.

``authenticated()`` turns either credential into a ``core.principal.Principal`` on ``g``; the
flask-jwt-extended callbacks below answer token problems. Credentials that are sent are always
judged (contract §3): ``judge_sent_credentials`` does it on the routes that do not require them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Flask, g, request
from flask_jwt_extended import get_current_user, verify_jwt_in_request

from api.platform.errors import render_error
from api.versioning import is_api_path
from core.errors import BadRequest, Unauthorized
from core.extensions import jwt
from core.principal import Principal
from core.services import api_keys, auth

API_KEY_HEADER = "X-API-Key"
# Query parameters that would put a key in URLs, and so in logs, histories and Referer headers.
KEY_QUERY_PARAMS = frozenset({"api_key", "apikey", "api-key", "key", "x-api-key"})
_BEARER = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
_API_KEY_CHALLENGE = {"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'}


def authenticated(scope: str | None = None, *, admin: bool = False) -> Callable:
    """Require an API key (``X-API-Key``) or else a JWT access token; store the principal on ``g``.

    A request with ``X-API-Key`` is judged by its key alone, never also by a token. ``scope``
    and ``admin`` refuse early, before the body is read; the services check again, as the
    authority on what a principal may do.
    """

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            principal = (
                _key_principal() if API_KEY_HEADER in request.headers else _token_principal()
            )
            g.principal = principal
            if scope is not None:
                principal.require_scope(scope)
            if admin:
                principal.require_admin("Only an admin may do this")
            return view(*args, **kwargs)

        return wrapper

    return decorate


def current_principal() -> Principal:
    """The principal ``authenticated()`` stored for this request."""
    return g.principal


def _key_principal() -> Principal:
    try:
        key = api_keys.authenticate_key(request.headers[API_KEY_HEADER])
    except Unauthorized as exc:
        raise Unauthorized(exc.message, reason=exc.reason, headers=_API_KEY_CHALLENGE) from None
    return Principal.for_key(key)


def _token_principal() -> Principal:
    # Token problems answer through the flask-jwt-extended callbacks registered below.
    verify_jwt_in_request()
    return Principal.for_user(get_current_user())


def judge_sent_credentials(req, g, app) -> None:
    """Judge a token or API key sent to a route that does not require one: a bad one is a 401
    there too, with the reason and challenge a protected route gives, so a misconfigured
    client learns it at once. No credentials: the route stays public.

    Every route under /api (the directory and unknown URLs included) but the documentation
    (the OpenAPI documents and the docs pages, which tools fetch with whatever header they
    hold); routes that require credentials judge them themselves.
    """
    environ = req.environ
    if "HTTP_X_API_KEY" not in environ and "HTTP_AUTHORIZATION" not in environ:
        return
    if req.method == "OPTIONS" or not is_api_path(req.path):
        return
    endpoint = req.endpoint or ""
    if endpoint.startswith("docs.") or endpoint.rsplit(".", 1)[-1] == "openapi":
        return
    if _route_authenticates(req, app):
        return
    g.principal = _key_principal() if "HTTP_X_API_KEY" in environ else _token_principal()


def _route_authenticates(req, app) -> bool:
    view = app.view_functions.get(req.endpoint) if req.url_rule else None
    operation = getattr(view, "__operation__", None)
    return operation is not None and operation.auth is not None


def refuse_keys_in_query(req, g, app) -> None:
    """Request step (api.platform.pipeline): an API key in the URL is a 400, never used."""
    if not req.environ.get("QUERY_STRING") or not is_api_path(req.path):
        return
    if any(name.lower() in KEY_QUERY_PARAMS for name in req.args):
        raise BadRequest(
            f"API keys are accepted only in the {API_KEY_HEADER} header, never in the URL",
            reason="api_key_in_query",
        )


def _unauthorized(message: str, reason: str):
    headers = {"WWW-Authenticate": "Bearer"} if reason == "token_missing" else _BEARER
    return render_error(401, message, reason=reason, headers=headers)


def init_app(app: Flask) -> None:
    # The callbacks live on the shared JWTManager.
    # The revocation check runs first and loads the user in the same query; the user lookup
    # then takes it from ``g``.
    @jwt.token_in_blocklist_loader
    def token_revoked(_header, claims):
        try:
            user_id = int(claims["sub"])
        except (TypeError, ValueError):
            return auth.is_revoked(claims["jti"])
        user, revoked = auth.token_holder(user_id, claims["jti"])
        g.token_user = (claims["jti"], user)
        return revoked

    @jwt.user_lookup_loader
    def load_user(_header, claims):
        loaded = g.get("token_user")
        if loaded is not None and loaded[0] == claims["jti"]:
            return loaded[1]
        try:
            return auth.get_user(int(claims["sub"]))
        except (TypeError, ValueError):
            return None

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
