"""Idempotent retries (contract §13): a client's key, the request it names, the stored answer.

A key is claimed with a *pending* row committed in its own short transaction, so the unique
constraint on (client, key) decides between racing requests on every database; the response
is then stored in the same transaction as the write (see ``core.extensions.one_transaction``).
Only successes are stored: a refused first request (4xx) or a failure (5xx) wrote nothing, so
its pending row is deleted and the key may be sent again, with the same body or a fixed one.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from core.errors import Conflict, DomainError
from core.extensions import db
from core.models import IdempotencyKey
from core.principal import Principal

KEY_REUSED = "idempotency_key_reused"
IN_PROGRESS = "idempotency_in_progress"


class KeyReused(DomainError):
    status = 422
    reason = KEY_REUSED
    default_message = "This Idempotency-Key was already used for a different request"


class KeyInProgress(Conflict):
    reason = IN_PROGRESS
    default_message = "A request with this Idempotency-Key is still being processed; retry later"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def client_of(actor: Principal) -> tuple[str, int]:
    """The scope keys live in: the API key itself, else the signed-in user."""
    if actor.client[0] == "anonymous":
        raise ValueError("idempotency keys need a user or an API key")
    return actor.client


def fingerprint(method: str, operation: str, version: str, body) -> str:
    """What identifies a request: its method, operation, API version and canonical JSON body."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = "\n".join((method.upper(), operation, version, canonical))
    return hashlib.sha256(text.encode()).hexdigest()


def claim(
    actor: Principal, key: str, print_: str, now: datetime, ttl: timedelta
) -> StoredResponse | None:
    """Claim ``key`` for a new request (None), or return the answer a retry gets.

    An expired row is deleted and the key claimed anew. Raises KeyReused when the key was used
    for another request (another ``print_``), KeyInProgress while its first request runs.
    Commits.
    """
    client_type, client_id = client_of(actor)
    record = _find(client_type, client_id, key)
    if record is not None and record.expires_at <= now:
        db.session.delete(record)
        db.session.commit()
        record = None
    if record is None:
        db.session.add(
            IdempotencyKey(
                client_type=client_type,
                client_id=client_id,
                key=key,
                fingerprint=print_,
                created_at=now,
                expires_at=now + ttl,
            )
        )
        try:
            db.session.commit()
            return None
        except IntegrityError:
            # Another request claimed it first: judge this one against that one.
            db.session.rollback()
            record = _find(client_type, client_id, key)
            if record is None:  # and it failed meanwhile: retrying is the client's call
                raise KeyInProgress() from None
    if record.fingerprint != print_:
        raise KeyReused()
    if record.is_pending:
        raise KeyInProgress()
    try:
        body = _unseal(record.body)
    except ValueError:
        # Sealed under a SECRET_KEY since rotated: the answer is lost, so the key starts over.
        db.session.delete(record)
        db.session.commit()
        return claim(actor, key, print_, now, ttl)
    db.session.commit()  # end the read: nothing is held while the replay is sent
    return StoredResponse(status=record.status, headers=json.loads(record.headers), body=body)


def complete(actor: Principal, key: str, response: StoredResponse) -> None:
    """Store ``response`` on the claimed key, in the caller's transaction (no commit)."""
    client_type, client_id = client_of(actor)
    record = _find(client_type, client_id, key)
    if record is None:  # purged under the request (a TTL shorter than the request): store anew
        raise KeyInProgress()
    record.status = response.status
    record.headers = json.dumps(response.headers, sort_keys=True)
    record.body = _seal(response.body)
    db.session.flush()


def release(actor: Principal, key: str) -> None:
    """Forget a pending claim whose request stored nothing, so the key may be sent again."""
    client_type, client_id = client_of(actor)
    db.session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.client_type == client_type,
            IdempotencyKey.client_id == client_id,
            IdempotencyKey.key == key,
            IdempotencyKey.status.is_(None),
        )
    )
    db.session.commit()


def purge_expired(now: datetime) -> int:
    """Delete every key expired at ``now``; returns how many went."""
    result = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))
    db.session.commit()
    return result.rowcount


def _find(client_type: str, client_id: int, key: str) -> IdempotencyKey | None:
    return db.session.scalar(
        select(IdempotencyKey)
        .where(
            IdempotencyKey.client_type == client_type,
            IdempotencyKey.client_id == client_id,
            IdempotencyKey.key == key,
        )
        .execution_options(populate_existing=True)
    )


# Stored bodies are sealed: an API key's creation answer holds its plaintext, which is
# otherwise never stored. Fernet (AES-128-CBC with HMAC-SHA256, from the cryptography library)
# with a key derived from SECRET_KEY by HKDF.
def _fernet() -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"book-api idempotent responses"
    ).derive(current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _seal(plain: bytes) -> str:
    return _fernet().encrypt(plain).decode()


def _unseal(sealed: str) -> bytes:
    """Raises ValueError when the body cannot be opened (SECRET_KEY was rotated)."""
    try:
        return _fernet().decrypt(sealed.encode())
    except InvalidToken:
        raise ValueError("the stored response was sealed with another SECRET_KEY") from None
