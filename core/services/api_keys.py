"""API keys for service clients: creation, listing, revocation and authentication.

A key reads ``bk_<prefix>_<secret>``: the prefix (16 hex characters) is stored in clear and
finds the row; only the SHA-256 of the whole key is stored, so the key is shown once, when
it is created, and can never be recovered. Keys are 256-bit random values, which is why a
fast hash is enough (a slow password hash would protect nothing more).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select

from core.config import utc_now
from core.errors import Forbidden, NotFound, Unauthorized
from core.extensions import db
from core.models import MAX_ID, ApiKey, User
from core.principal import Principal

KEY_TAG = "bk"
PREFIX_BYTES = 8  # 16 hex characters
SECRET_BYTES = 32  # 256 bits, 43 URL-safe characters
_KEY_FORMAT = re.compile(r"bk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
# last_used_at is a hint for operators, not an audit log: writing it at most this often keeps
# a busy client from turning every request into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)

INVALID_KEY = "Invalid API key"
REVOKED_KEY = "API key has been revoked"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    """(prefix, whole key)."""
    prefix = secrets.token_hex(PREFIX_BYTES)
    return prefix, f"{KEY_TAG}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def create_key(name: str, scopes: Iterable[str], creator: User) -> tuple[ApiKey, str]:
    """Create a key for validated ``name`` and ``scopes``; returns it with its plaintext.

    The plaintext is not stored anywhere: the caller shows it once. Raises Forbidden unless
    ``creator`` is an admin.
    """
    if not creator.is_admin:
        raise Forbidden("Only an admin may create API keys")
    prefix, raw = _new_key()
    # 64 random bits: a prefix collision is not a practical concern, and the unique index
    # would refuse one rather than let two keys share a prefix.
    key = ApiKey(
        name=name,
        prefix=prefix,
        key_hash=hash_key(raw),
        scopes=" ".join(sorted(set(scopes))),
        created_by=creator.id,
    )
    db.session.add(key)
    db.session.commit()
    return key, raw


ADMINS_ONLY = "Only an admin may manage API keys"


def list_keys(actor: Principal, *, include_revoked: bool = False) -> list[ApiKey]:
    """The active keys (with ``include_revoked``, every key), oldest first.

    Raises Forbidden unless ``actor`` is an admin (or the operator).
    """
    actor.require_admin(ADMINS_ONLY)
    query = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(db.session.scalars(query))


def get_key(key_id: int, actor: Principal, *, include_revoked: bool = False) -> ApiKey:
    """Raises Forbidden unless ``actor`` is an admin, then NotFound for an unknown key, and for
    a revoked one unless ``include_revoked``.

    Over HTTP a revoked key is gone (its DELETE succeeded); operators still see it in the CLI.
    """
    actor.require_admin(ADMINS_ONLY)
    key = db.session.get(ApiKey, key_id) if 0 < key_id <= MAX_ID else None
    if key is None or (key.revoked_at is not None and not include_revoked):
        raise NotFound("API key not found")
    return key


def revoke_key(key_id: int, actor: Principal, *, only_active: bool = False) -> ApiKey:
    """Revoke a key from now on; revoking a revoked key changes nothing.

    Raises Forbidden unless ``actor`` is an admin, NotFound for an unknown key, and with
    ``only_active`` for a revoked one.
    """
    key = get_key(key_id, actor, include_revoked=not only_active)
    if key.revoked_at is None:
        key.revoked_at = utc_now()
        db.session.commit()
    return key


def find_active_key(raw: str) -> ApiKey | None:
    """The active key ``raw`` names, or None for a malformed, unknown, wrong or revoked key."""
    key = _matching_key(raw)
    return key if key is not None and key.revoked_at is None else None


def _matching_key(raw: str) -> ApiKey | None:
    match = _KEY_FORMAT.fullmatch(raw)
    if match is None:
        return None
    key = db.session.scalar(select(ApiKey).where(ApiKey.prefix == match.group(1)))
    if key is None or not hmac.compare_digest(key.key_hash, hash_key(raw)):
        return None
    return key


def authenticate_key(raw: str) -> ApiKey:
    """The key ``raw`` names. Raises Unauthorized(api_key_invalid) for a malformed, unknown or
    wrong key, Unauthorized(api_key_revoked) for a revoked one.

    A key is only said to be revoked when the whole key matches, so probing prefixes tells
    nothing.
    """
    key = _matching_key(raw)
    if key is None:
        raise Unauthorized(INVALID_KEY, reason="api_key_invalid")
    if key.revoked_at is not None:
        raise Unauthorized(REVOKED_KEY, reason="api_key_revoked")
    _touch(key)
    return key


def _touch(key: ApiKey) -> None:
    now = utc_now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
        db.session.commit()
