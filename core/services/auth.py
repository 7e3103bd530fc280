"""Account and token rules: registration, login, refresh rotation and revocation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from core import passwords
from core.config import utc_now
from core.errors import Conflict, Unauthorized, ValidationFailed
from core.extensions import db
from core.models import ROLE_ADMIN, ROLE_USER, RevokedToken, User

DUPLICATE_EMAIL = "A user with this email already exists"
INVALID_CREDENTIALS = "Invalid email or password"
_dummy_hashes: dict[str, str] = {}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str | None
    expires_in: int


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    return passwords.hash_password(password, current_app.config["PASSWORD_HASH_METHOD"])


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


# Built once: every authenticated request runs it, and building it costs more than running it.
_TOKEN_HOLDER = select(
    User, select(RevokedToken.jti).where(RevokedToken.jti == bindparam("jti")).exists()
).where(User.id == bindparam("user_id"))


def token_holder(user_id: int, jti: str) -> tuple[User | None, bool]:
    """(the token's user or None, whether the token is revoked), in one query when the user
    exists (every authenticated request asks both)."""
    row = db.session.execute(_TOKEN_HOLDER, {"user_id": user_id, "jti": jti}).first()
    if row is None:
        return None, is_revoked(jti)
    return row[0], bool(row[1])


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def register(email: str, password: str, role: str = ROLE_USER) -> User:
    """Create a user. Raises Conflict when the email is taken (compared case-insensitively)."""
    email = normalize_email(email)
    if find_user_by_email(email) is not None:
        raise Conflict(
            DUPLICATE_EMAIL, details={"email": [DUPLICATE_EMAIL]}, reason="duplicate_email"
        )
    user = User(email=email, password_hash=hash_password(password), role=role)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(
            DUPLICATE_EMAIL, details={"email": [DUPLICATE_EMAIL]}, reason="duplicate_email"
        ) from None
    return user


def create_admin(email: str, password: str) -> User:
    """Create an admin account. Raises Conflict when the email is taken."""
    return register(email, password, role=ROLE_ADMIN)


def authenticate(email: str, password: str) -> User:
    """Return the user for these credentials. Raises Unauthorized(invalid_credentials).

    An unknown email costs the same password check as a wrong password, so timing does not
    tell which one it was. On a correct password, a stored hash made by another method (or
    with other parameters) than the configured one is replaced and committed; if that commit
    fails, the login still succeeds and the old hash, still valid, is upgraded next time.
    """
    user = find_user_by_email(email)
    if user is None:
        passwords.verify_password(_dummy_hash(), password)
        raise Unauthorized(INVALID_CREDENTIALS, reason="invalid_credentials")
    if not passwords.verify_password(user.password_hash, password):
        raise Unauthorized(INVALID_CREDENTIALS, reason="invalid_credentials")
    if passwords.needs_rehash(user.password_hash, current_app.config["PASSWORD_HASH_METHOD"]):
        _upgrade_hash(user, password)
    return user


def _upgrade_hash(user: User, password: str) -> None:
    user_id = user.id
    user.password_hash = hash_password(password)
    try:
        db.session.commit()
    except SQLAlchemyError as exc:
        # The password was right and the old hash still verifies: refusing the login because
        # an upgrade could not be saved (database locked, read-only, ...) would help nobody.
        db.session.rollback()
        log.warning(
            "could not save the upgraded password hash of user %s (%s); kept the old one",
            user_id,
            type(exc).__name__,
        )


def prepare() -> None:
    """Compute the dummy hash now, at start-up, not during some client's first login."""
    _dummy_hash()


def _dummy_hash() -> str:
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in _dummy_hashes:
        _dummy_hashes[method] = passwords.hash_password("not-a-real-password", method)
    return _dummy_hashes[method]


def issue_tokens(user: User, *, with_refresh: bool = True) -> TokenPair:
    identity = str(user.id)
    return TokenPair(
        access_token=create_access_token(identity=identity),
        refresh_token=create_refresh_token(identity=identity) if with_refresh else None,
        expires_in=current_app.config["JWT_ACCESS_TOKEN_EXPIRES"],
    )


def refresh(user: User, presented: dict, *, rotate: bool) -> TokenPair:
    """Issue a new access token for a valid refresh token's claims.

    With ``rotate``, also issue a new refresh token and revoke the presented one; if another
    request already rotated it, raises Unauthorized(token_revoked).
    """
    if rotate:
        try:
            _revoke(presented)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            raise Unauthorized("Token has been revoked", reason="token_revoked") from None
    return issue_tokens(user, with_refresh=rotate)


def logout(user: User, access_claims: dict, refresh_token: str | None = None) -> None:
    """Revoke the presented access token and, when given, the user's refresh token.

    Raises ValidationFailed when ``refresh_token`` is not a valid refresh token of this user.
    """
    refresh_claims = None
    if refresh_token:
        refresh_claims = _decode_refresh_token(refresh_token)
        if refresh_claims is None or refresh_claims.get("sub") != str(user.id):
            raise ValidationFailed(
                details={"refresh_token": ["Not a valid refresh token for this user."]}
            )
    try:
        for claims in (access_claims, refresh_claims):
            if claims is not None and not is_revoked(claims["jti"]):
                _revoke(claims)
        db.session.commit()
    except IntegrityError:
        # A concurrent request revoked one of these first; the outcome is the same.
        db.session.rollback()


def is_revoked(jti: str) -> bool:
    return db.session.scalar(select(RevokedToken.jti).where(RevokedToken.jti == jti)) is not None


def purge_expired_revocations(now: datetime | None = None) -> int:
    """Delete revocation entries whose tokens have expired anyway; returns how many."""
    result = db.session.execute(
        delete(RevokedToken).where(RevokedToken.expires_at < (now or utc_now()))
    )
    db.session.commit()
    return result.rowcount


def _revoke(claims: dict) -> None:
    db.session.add(
        RevokedToken(
            jti=claims["jti"],
            token_type=claims.get("type", "access"),
            user_id=int(claims["sub"]),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
    )
    db.session.flush()


def _decode_refresh_token(token: str) -> dict | None:
    try:
        claims = decode_token(token, allow_expired=True)  # revoking an expired one is harmless
    except Exception:  # any decoding failure means "not a usable refresh token"
        return None
    return claims if claims.get("type") == "refresh" else None
