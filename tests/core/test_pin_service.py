"""The pin rules without HTTP: ordering comes from the versions passed in, the window from
the last upgrade, and admins decide for keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.extensions import db
from core.models import ApiKey, User
from core.principal import Principal
from core.services import api_keys, pins
from core.services.pins import PinRules

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
RULES = PinRules(versions=("1", "2", "3"), default="1", rollback_hours=72)


def reload(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


@pytest.fixture
def person(ctx) -> User:
    user = User(email="pin@example.com", password_hash="x", role="user")
    db.session.add(user)
    db.session.commit()
    return user


def test_ordering_comes_from_the_versions_passed_in(person):
    pins.pin_user(person, "3", RULES, now=T0)
    state = pins.pin_user(person, "2", RULES, now=T0 + timedelta(hours=1))

    assert (state.pinned_version, state.effective_version, state.previous_version) == (
        "2",
        "2",
        "3",
    )
    assert state.rollback_until is None
    with pytest.raises(Conflict) as refused:
        pins.pin_user(person, "1", RULES, now=T0 + timedelta(hours=2))
    assert refused.value.reason == "rollback_window_closed"
    assert reload(person).pinned_version == "2"


def test_the_window_ends_exactly_rollback_hours_after_the_upgrade(person):
    state = pins.pin_user(person, "2", RULES, now=T0)
    end = T0 + timedelta(hours=72)

    assert state.rollback_until == end
    assert pins.pin_state(person, RULES, now=end - timedelta(microseconds=1)).rollback_until == end
    assert pins.pin_state(person, RULES, now=end).rollback_until is None
    with pytest.raises(Conflict):
        pins.pin_user(person, None, RULES, now=end)


def test_a_pin_the_rules_no_longer_list_ranks_oldest(person):
    person.pinned_version = "0"
    db.session.commit()

    state = pins.pin_user(person, "1", RULES, now=T0)

    assert (state.previous_version, state.rollback_until) == ("0", T0 + timedelta(hours=72))


def test_a_version_outside_the_rules_is_refused_naming_the_field(person):
    with pytest.raises(ValidationFailed) as refused:
        pins.pin_user(person, "4", RULES, now=T0)

    assert refused.value.details == {
        "version": ["Must be one of: 1, 2, 3 (or null for the default)."]
    }
    assert reload(person).pinned_version is None


def test_key_pins_are_for_admins(ctx, person):
    admin = User(email="root@example.com", password_hash="x", role="admin")
    db.session.add(admin)
    db.session.commit()
    key, _ = api_keys.create_key("svc", ("read",), admin)

    with pytest.raises(Forbidden):
        pins.pin_key(key.id, "2", Principal.for_user(person), RULES)
    with pytest.raises(Forbidden):
        pins.pin_key(key.id, "2", Principal.for_key(key), RULES)
    with pytest.raises(NotFound):
        pins.pin_key(key.id + 1, "2", Principal.for_user(admin), RULES)
    with pytest.raises(ValidationFailed) as refused:
        pins.pin_key(key.id, "9", Principal.for_user(admin), RULES)
    assert set(refused.value.details) == {"pinned_version"}

    pinned = pins.pin_key(key.id, "3", Principal.for_user(admin), RULES, now=T0)
    back = pins.pin_key(key.id, "1", Principal.for_operator(), RULES, now=T0 + timedelta(days=30))
    assert (back.pinned_version, back.previous_version) == ("1", "3")
    assert pinned is back and db.session.get(ApiKey, key.id).version_changed_at == T0 + timedelta(
        days=30
    )


def test_the_early_lookups_never_fail_on_odd_input(ctx, person):
    person.pinned_version = "2"
    db.session.commit()

    assert pins.user_pin(person.id) == "2"
    assert pins.user_pin(0) is None
    assert pins.user_pin(2**31) is None
    assert pins.user_pin(person.id + 1) is None
    assert pins.key_pin("bk_nothing") is None
    assert pins.key_pin("") is None
