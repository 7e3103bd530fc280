"""Per-client version pins: which version a user's or an API key's unversioned requests get.

The core keeps no list of versions: the API layer passes the versions a client may pin
(oldest first), the deployment default and the rollback window in ``PinRules``. Moving to a
newer version is always allowed; moving back to an older one only within the rollback window
that the last upgrade opened (contract §10).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from core import config
from core.errors import Conflict, ValidationFailed
from core.extensions import db
from core.models import MAX_ID, ApiKey, User, VersionPin
from core.principal import Principal
from core.services import api_keys

ROLLBACK_WINDOW_CLOSED = "rollback_window_closed"


@dataclass(frozen=True)
class PinRules:
    versions: Sequence[str]  # the versions a client may pin, oldest first
    default: str  # what an unpinned client gets
    rollback_hours: int  # how long after an upgrade a client may move back; 0: never


@dataclass(frozen=True)
class PinState:
    pinned_version: str | None
    effective_version: str
    previous_version: str | None
    rollback_until: datetime | None  # None: no rollback is possible now


def effective_version(pinned: str | None, rules: PinRules) -> str:
    return pinned if pinned is not None else rules.default


def _rank(version: str | None, rules: PinRules) -> int:
    # A version that can no longer be pinned ranks below every one that can.
    return rules.versions.index(version) if version in rules.versions else -1


def rollback_until(holder: VersionPin, rules: PinRules, now: datetime) -> datetime | None:
    """Until when ``holder`` may move back, or None: only the last change, when it was an
    upgrade, opens a window, and only while it lasts."""
    if rules.rollback_hours <= 0 or holder.version_changed_at is None:
        return None
    current = effective_version(holder.pinned_version, rules)
    if _rank(current, rules) <= _rank(holder.previous_version, rules):
        return None
    until = holder.version_changed_at + timedelta(hours=rules.rollback_hours)
    return until if now < until else None


def pin_state(holder: VersionPin, rules: PinRules, now: datetime | None = None) -> PinState:
    now = now or config.utc_now()
    return PinState(
        pinned_version=holder.pinned_version,
        effective_version=effective_version(holder.pinned_version, rules),
        previous_version=holder.previous_version,
        rollback_until=rollback_until(holder, rules, now),
    )


def _check_version(version: str | None, rules: PinRules, field: str) -> None:
    if version is not None and version not in rules.versions:
        allowed = ", ".join(rules.versions)
        raise ValidationFailed(
            details={field: [f"Must be one of: {allowed} (or null for the default)."]}
        )


def _change(
    holder: VersionPin,
    version: str | None,
    rules: PinRules,
    now: datetime,
    *,
    enforce_window: bool,
) -> None:
    before = effective_version(holder.pinned_version, rules)
    after = effective_version(version, rules)
    if after == before:
        # The same version either way: nothing to roll back, the window stays as it was.
        if holder.pinned_version != version:
            holder.pinned_version = version
            db.session.commit()
        return
    if enforce_window and _rank(after, rules) < _rank(before, rules):
        if rollback_until(holder, rules, now) is None:
            raise Conflict(
                f"Moving back from version {before} to {after} is no longer allowed: the "
                "rollback window after the last upgrade has closed",
                reason=ROLLBACK_WINDOW_CLOSED,
            )
    holder.previous_version = before
    holder.version_changed_at = now
    holder.pinned_version = version
    db.session.commit()


def pin_user(
    user: User, version: str | None, rules: PinRules, now: datetime | None = None
) -> PinState:
    """Pin ``user`` to ``version`` (None: the default) and return the new state.

    Raises ValidationFailed (naming ``version``) for a version that cannot be pinned and
    Conflict(rollback_window_closed) for a move back after the window; nothing changes then.
    """
    now = now or config.utc_now()
    _check_version(version, rules, "version")
    _change(user, version, rules, now, enforce_window=True)
    return pin_state(user, rules, now)


def pin_key(
    key_id: int,
    version: str | None,
    actor: Principal,
    rules: PinRules,
    now: datetime | None = None,
) -> ApiKey:
    """Pin an API key to ``version`` (None: the default); returns the key.

    An admin (or the operator) decides for the key, so no rollback window applies. Raises
    Forbidden unless ``actor`` is an admin, NotFound for an unknown or revoked key, and
    ValidationFailed (naming ``pinned_version``) for a version that cannot be pinned.
    """
    key = api_keys.get_key(key_id, actor)
    _check_version(version, rules, "pinned_version")
    _change(key, version, rules, now or config.utc_now(), enforce_window=False)
    return key


# Read before the request is routed to a version: one indexed lookup, and never an error.


def user_pin(user_id: int) -> str | None:
    """The pin of the user ``user_id`` (None for none or an unknown user)."""
    if not 0 < user_id <= MAX_ID:
        return None
    return db.session.scalar(select(User.pinned_version).where(User.id == user_id))


def key_pin(raw: str) -> str | None:
    """The pin of the active API key ``raw`` (None for none, or a wrong or revoked key)."""
    row = api_keys.find_active_key(raw)
    return row.pinned_version if row is not None else None
