"""The API key service and the principal without HTTP: hashing, authentication, revocation,
scopes, and what a key may do to books."""

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.config import utc_now
from core.errors import Forbidden, NotFound, Unauthorized
from core.extensions import db
from core.models import ROLE_ADMIN, ApiKey, Book
from core.principal import Principal
from core.services import api_keys, auth, books
from tests.conftest import PASSWORD

OPERATOR = Principal.for_operator()  # the command line: may manage keys

KEY_FORMAT = re.compile(r"^bk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$")


@pytest.fixture
def admin(ctx):
    return auth.register("admin@example.com", PASSWORD, role=ROLE_ADMIN)


@pytest.fixture
def member(ctx):
    return auth.register("member@example.com", PASSWORD)


def issue(admin, scopes=("read", "write"), name="service"):
    return api_keys.create_key(name, scopes, admin)


def key_principal(admin, scopes=("read", "write")) -> Principal:
    key, _ = issue(admin, scopes)
    return Principal.for_key(key)


# Creating


def test_create_key_returns_the_key_once_and_stores_only_its_hash(admin):
    key, plaintext = issue(admin, ["write", "read"], name="sync")
    assert KEY_FORMAT.match(plaintext)
    assert plaintext.startswith(f"bk_{key.prefix}_")
    db.session.expire_all()
    row = db.session.get(ApiKey, key.id)
    assert row.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in (row.name, row.prefix, row.key_hash, row.scopes)
    assert (row.name, row.scopes, row.scope_list) == ("sync", "read write", ["read", "write"])
    assert row.created_by == admin.id
    assert row.created_at is not None
    assert (row.last_used_at, row.revoked_at) == (None, None)


def test_every_key_is_different(admin):
    issued = [issue(admin) for _ in range(5)]
    assert len({key.prefix for key, _ in issued}) == 5
    assert len({plaintext for _, plaintext in issued}) == 5


def test_only_an_admin_may_create_a_key(member):
    with pytest.raises(Forbidden):
        issue(member)
    assert db.session.scalar(select(func.count()).select_from(ApiKey)) == 0


# Listing and revoking


def test_list_keys_returns_active_keys_oldest_first(admin):
    first, _ = issue(admin, name="one")
    second, _ = issue(admin, name="two")
    third, _ = issue(admin, name="three")
    api_keys.revoke_key(second.id, OPERATOR)
    assert [key.name for key in api_keys.list_keys(OPERATOR)] == ["one", "three"]
    assert [key.name for key in api_keys.list_keys(OPERATOR, include_revoked=True)] == [
        "one",
        "two",
        "three",
    ]


def test_a_revoked_key_is_only_found_on_request(admin):
    key, _ = issue(admin)
    api_keys.revoke_key(key.id, OPERATOR)
    with pytest.raises(NotFound):
        api_keys.get_key(key.id, OPERATOR)
    with pytest.raises(NotFound):
        api_keys.revoke_key(key.id, OPERATOR, only_active=True)
    assert api_keys.get_key(key.id, OPERATOR, include_revoked=True).revoked_at is not None


def test_revoke_key_sets_the_time_once(admin):
    key, _ = issue(admin)
    revoked_at = api_keys.revoke_key(key.id, OPERATOR).revoked_at
    assert revoked_at is not None
    assert api_keys.revoke_key(key.id, OPERATOR).revoked_at == revoked_at


@pytest.mark.parametrize("key_id", [0, -1, 999_999, 2**40])
def test_unknown_keys_are_not_found(ctx, key_id):
    with pytest.raises(NotFound):
        api_keys.revoke_key(key_id, OPERATOR)
    with pytest.raises(NotFound):
        api_keys.get_key(key_id, OPERATOR)


def test_deleting_the_admin_deletes_their_keys(admin):
    issue(admin)
    db.session.delete(admin)
    db.session.commit()
    assert api_keys.list_keys(OPERATOR) == []


# Authenticating


def test_authenticate_key_returns_the_key(admin):
    key, plaintext = issue(admin)
    assert api_keys.authenticate_key(plaintext).id == key.id


def test_authenticate_key_with_a_wrong_secret_is_invalid(admin):
    _, plaintext = issue(admin)
    secret = plaintext[-43:]
    wrong = plaintext[:-43] + ("A" if secret[0] != "A" else "B") + secret[1:]
    with pytest.raises(Unauthorized) as caught:
        api_keys.authenticate_key(wrong)
    assert caught.value.reason == "api_key_invalid"


@pytest.mark.parametrize(
    "raw",
    ["", "bk_", "bk_0123456789abcdef_" + "a" * 43, "bk_0123456789abcdef_" + "a" * 43 + "\n"],
    ids=["empty", "tag-only", "unknown-prefix", "trailing-newline"],
)
def test_authenticate_key_with_a_malformed_or_unknown_key_is_invalid(ctx, raw):
    with pytest.raises(Unauthorized) as caught:
        api_keys.authenticate_key(raw)
    assert caught.value.reason == "api_key_invalid"


def test_authenticate_key_with_a_trailing_newline_on_a_real_key_is_invalid(admin):
    _, plaintext = issue(admin)
    with pytest.raises(Unauthorized):
        api_keys.authenticate_key(plaintext + "\n")


def test_authenticate_key_of_a_revoked_key_is_revoked(admin):
    key, plaintext = issue(admin)
    api_keys.revoke_key(key.id, OPERATOR)
    with pytest.raises(Unauthorized) as caught:
        api_keys.authenticate_key(plaintext)
    assert caught.value.reason == "api_key_revoked"


def test_a_revoked_key_with_a_wrong_secret_is_only_invalid(admin):
    # Whether a prefix was revoked is told only to someone who holds the whole key.
    key, plaintext = issue(admin)
    api_keys.revoke_key(key.id, OPERATOR)
    with pytest.raises(Unauthorized) as caught:
        api_keys.authenticate_key(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"))
    assert caught.value.reason == "api_key_invalid"


def test_authenticate_key_records_use_at_most_once_a_minute(admin, monkeypatch):
    key, plaintext = issue(admin)
    start = utc_now()
    monkeypatch.setattr(api_keys, "utc_now", lambda: start)
    assert api_keys.authenticate_key(plaintext).last_used_at == start
    monkeypatch.setattr(api_keys, "utc_now", lambda: start + timedelta(seconds=59))
    assert api_keys.authenticate_key(plaintext).last_used_at == start
    later = start + api_keys.LAST_USED_RESOLUTION
    monkeypatch.setattr(api_keys, "utc_now", lambda: later)
    assert api_keys.authenticate_key(plaintext).last_used_at == later
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).last_used_at == later


# The principal


def test_a_user_has_every_scope_and_their_own_role(admin, member):
    for user in (admin, member):
        principal = Principal.for_user(user)
        assert principal.has_scope("read") and principal.has_scope("write")
        assert principal.user_id == user.id
        assert not principal.is_api_key
    assert Principal.for_user(admin).is_admin
    assert not Principal.for_user(member).is_admin


def test_a_key_has_its_scopes_acts_for_its_creator_and_is_never_admin(admin):
    principal = key_principal(admin, ["read"])
    assert principal.has_scope("read") and not principal.has_scope("write")
    assert principal.user_id == admin.id
    assert principal.is_api_key
    assert not principal.is_admin


def test_a_missing_scope_is_forbidden_with_its_reason(admin):
    with pytest.raises(Forbidden) as caught:
        key_principal(admin, ["read"]).require_scope("write")
    assert caught.value.reason == "insufficient_scope"
    assert "write" in caught.value.message


def test_nobody_has_no_scope_and_no_role(ctx):
    nobody = Principal()
    assert not nobody.has_scope("read")
    assert nobody.user_id is None and not nobody.is_admin
    with pytest.raises(Forbidden):
        nobody.require_scope("read")


# What a key may do to books


def test_a_write_key_creates_a_book_credited_to_its_creator(admin):
    book = books.create_book({"title": "Dune", "author": "Frank Herbert"}, key_principal(admin))
    assert book.created_by == admin.id


def test_a_read_only_key_cannot_create_or_update(admin, member):
    reader = key_principal(admin, ["read"])
    with pytest.raises(Forbidden) as caught:
        books.create_book({"title": "Dune", "author": "Frank Herbert"}, reader)
    assert caught.value.reason == "insufficient_scope"
    book = books.create_book({"title": "Mine", "author": "X"}, Principal.for_user(member))
    with pytest.raises(Forbidden) as caught:
        books.update_book(book.id, {"title": "Changed"}, reader)
    assert caught.value.reason == "insufficient_scope"
    db.session.rollback()
    assert books.count_books() == 1
    assert books.get_book(book.id).title == "Mine"


def test_the_scope_is_checked_before_the_book_exists(admin):
    with pytest.raises(Forbidden) as caught:
        books.update_book(999_999, {"title": "X"}, key_principal(admin, ["read"]))
    assert caught.value.reason == "insufficient_scope"


def test_a_write_key_updates_anyones_book(admin, member):
    book = books.create_book({"title": "Mine", "author": "X"}, Principal.for_user(member))
    updated = books.update_book(book.id, {"title": "Fixed"}, key_principal(admin, ["write"]))
    assert updated.title == "Fixed"
    assert updated.created_by == member.id


def test_no_key_may_delete_a_book(admin):
    book = books.create_book({"title": "Dune", "author": "X"}, Principal.for_user(admin))
    with pytest.raises(Forbidden) as caught:
        books.delete_book(book.id, key_principal(admin))
    assert caught.value.reason == "forbidden"
    assert db.session.scalar(select(func.count()).select_from(Book)) == 1


def test_an_anonymous_principal_may_not_change_a_book_without_a_creator(ctx):
    book = Book(title="Orphan", author="X")
    db.session.add(book)
    db.session.commit()
    with pytest.raises(Forbidden):
        books.update_book(book.id, {"title": "Taken"}, Principal())
    assert not books.may_change(book, Principal())


@pytest.mark.parametrize("role", ["user", "key"])
def test_only_admins_and_the_operator_manage_keys(admin, member, role):
    from core.errors import Forbidden

    key, _ = issue(admin)
    actor = Principal.for_user(member) if role == "user" else Principal.for_key(key)
    for attempt in (
        lambda: api_keys.list_keys(actor),
        lambda: api_keys.get_key(key.id, actor),
        lambda: api_keys.revoke_key(key.id, actor),
    ):
        with pytest.raises(Forbidden):
            attempt()
    assert api_keys.get_key(key.id, OPERATOR).revoked_at is None
    assert api_keys.get_key(key.id, Principal.for_user(admin)).id == key.id
