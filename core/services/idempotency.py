"""Idempotent retries (contract §13): a client's key, the request it names, the stored answer.

A key is claimed with a *pending* row committed in its own short transaction, so the unique
constraint on (client, key) decides between racing requests on every database; the response
is then stored in the same transaction as the write (see ``core.extensions.one_transaction``).
Only successes are stored: a refused first request (4xx) or a failure (5xx) wrote nothing, so
its pending row is deleted and the key may be sent again, with the same body or a fixed one.

A claim is a lease: a process killed between its claim and its write's commit leaves the row
pending, and once the claim is ``lease`` old a retry with the same request takes it over. Each
claim is named by its row and the instant it was taken (``created_at``); taking over and
storing the answer are conditional updates on both, so of two requests that both believe they
hold a key, one stores its answer and the other's write is rolled back.
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
from sqlalchemy import delete, select, update
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


class ClaimLost(KeyInProgress):
    """The request's claim was taken over (its lease ran out) or is gone: it must not store
    an answer, and its write is undone."""

    default_message = (
        "Another request with this Idempotency-Key took it over while this one ran; retry later"
    )


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Claim:
    """A key this request holds: its row and the instant the request claimed it."""

    id: int
    claimed_at: datetime


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
    actor: Principal,
    key: str,
    print_: str,
    now: datetime,
    ttl: timedelta,
    lease: timedelta,
) -> Claim | StoredResponse:
    """Claim ``key`` for a new request (a Claim), or return the answer a retry gets.

    An expired row is deleted and the key claimed anew; a pending claim at least ``lease`` old
    is taken over. Raises KeyReused when the key was used for another request (another
    ``print_``), KeyInProgress while its first request runs. Commits.
    """
    client_type, client_id = client_of(actor)
    record = _find(client_type, client_id, key)
    if record is not None and record.expires_at <= now:
        db.session.delete(record)
        db.session.commit()
        record = None
    if record is None:
        row = IdempotencyKey(
            client_type=client_type,
            client_id=client_id,
            key=key,
            fingerprint=print_,
            created_at=now,
            expires_at=now + ttl,
        )
        db.session.add(row)
        try:
            db.session.commit()
            return Claim(row.id, now)
        except IntegrityError:
            # Another request claimed it first: judge this one against that one.
            db.session.rollback()
            record = _find(client_type, client_id, key)
            if record is None:  # and it failed meanwhile: retrying is the client's call
                raise KeyInProgress() from None
    if record.fingerprint != print_:
        raise KeyReused()
    if record.is_pending:
        if now - record.created_at < lease:
            raise KeyInProgress()
        if _take_over(record, now, ttl):
            return Claim(record.id, now)
        # Another retry took it over first, or the holder finished meanwhile.
        record = _find(client_type, client_id, key)
        if record is None or record.is_pending or record.fingerprint != print_:
            raise KeyInProgress()
    try:
        body = _unseal(record.body)
    except ValueError:
        # Sealed under a SECRET_KEY since rotated: the answer is lost, so the key starts over.
        db.session.delete(record)
        db.session.commit()
        return claim(actor, key, print_, now, ttl, lease)
    db.session.commit()  # end the read: nothing is held while the replay is sent
    return StoredResponse(status=record.status, headers=json.loads(record.headers), body=body)


def _take_over(record: IdempotencyKey, now: datetime, ttl: timedelta) -> bool:
    """Move the abandoned claim ``record`` (as read) to this request; False when someone
    else moved or finished it first. Commits."""
    result = db.session.execute(
        update(IdempotencyKey)
        .where(*_holding(Claim(record.id, record.created_at)))
        .values(created_at=now, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def complete(held: Claim, response: StoredResponse) -> None:
    """Store ``response`` on the claimed key, in the caller's transaction (no commit).

    Raises ClaimLost when the request no longer holds the claim (taken over after its lease,
    or purged): the caller's transaction must then be rolled back, so the write is not made
    twice."""
    result = db.session.execute(
        update(IdempotencyKey)
        .where(*_holding(held))
        .values(
            status=response.status,
            headers=json.dumps(response.headers, sort_keys=True),
            body=_seal(response.body),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ClaimLost()


def release(held: Claim) -> None:
    """Forget a pending claim whose request stored nothing, so the key may be sent again; a
    claim taken over by another request is that request's, and stays."""
    db.session.execute(
        delete(IdempotencyKey).where(*_holding(held)).execution_options(synchronize_session=False)
    )
    db.session.commit()


def _holding(held: Claim) -> tuple:
    return (
        IdempotencyKey.id == held.id,
        IdempotencyKey.status.is_(None),
        IdempotencyKey.created_at == held.claimed_at,
    )


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
