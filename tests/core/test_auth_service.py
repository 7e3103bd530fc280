"""The auth service without HTTP: registration, login, refresh rotation, logout and purging."""

from datetime import UTC, datetime, timedelta

import pytest
from flask_jwt_extended import decode_token
from sqlalchemy import func, select

from core import passwords
from core.errors import Conflict, Unauthorized, ValidationFailed
from core.extensions import db
from core.models import ROLE_ADMIN, ROLE_USER, RevokedToken, User
from core.services import auth
from tests.conftest import PASSWORD


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def revoked_jtis() -> set[str]:
    return set(db.session.scalars(select(RevokedToken.jti)))


def claims_of(token: str) -> dict:
    return decode_token(token)


def revocation(jti: str, user: User, expires_at: datetime) -> RevokedToken:
    return RevokedToken(jti=jti, token_type="access", user_id=user.id, expires_at=expires_at)


# Registration


def test_register_normalises_the_email_and_defaults_to_role_user(ctx):
    user = auth.register("  Alice@Example.COM ", PASSWORD)
    assert user.email == "alice@example.com"
    assert user.role == ROLE_USER
    assert user.created_at is not None


def test_register_stores_a_hash_not_the_password(ctx):
    user = auth.register("alice@example.com", PASSWORD)
    assert user.password_hash != PASSWORD
    assert PASSWORD not in user.password_hash


def test_register_raises_conflict_for_the_same_email_in_another_case(ctx):
    auth.register("bob@example.com", PASSWORD)
    with pytest.raises(Conflict) as caught:
        auth.register("  BOB@Example.com", "another-password")
    assert caught.value.reason == "duplicate_email"
    assert "email" in caught.value.details
    assert user_count() == 1


def test_create_admin_gives_the_admin_role(ctx):
    assert auth.create_admin("Root@Example.com", PASSWORD).role == ROLE_ADMIN


def test_find_user_by_email_ignores_case_and_spaces(ctx):
    user = auth.register("carol@example.com", PASSWORD)
    assert auth.find_user_by_email(" CAROL@example.COM ").id == user.id
    assert auth.find_user_by_email("nobody@example.com") is None


# Login


def test_authenticate_returns_the_user_for_correct_credentials(ctx):
    user = auth.register("dave@example.com", PASSWORD)
    assert auth.authenticate("Dave@Example.com", PASSWORD).id == user.id


def test_authenticate_raises_invalid_credentials_for_an_unknown_email(ctx):
    with pytest.raises(Unauthorized) as caught:
        auth.authenticate("ghost@example.com", PASSWORD)
    assert caught.value.reason == "invalid_credentials"
    assert caught.value.status == 401


def test_authenticate_raises_invalid_credentials_for_a_wrong_password(ctx):
    auth.register("erin@example.com", PASSWORD)
    with pytest.raises(Unauthorized) as caught:
        auth.authenticate("erin@example.com", PASSWORD + "x")
    assert caught.value.reason == "invalid_credentials"


@pytest.mark.parametrize("method", ["argon2id", "pbkdf2:sha256:1000"])
def test_an_unknown_email_is_checked_against_a_hash_in_the_configured_method(
    make_app, monkeypatch, method
):
    checked = []
    real_verify = passwords.verify_password

    def verify(stored, password):
        checked.append(stored)
        return real_verify(stored, password)

    monkeypatch.setattr(passwords, "verify_password", verify)
    app = make_app(PASSWORD_HASH_METHOD=method)
    with app.app_context(), pytest.raises(Unauthorized):
        auth.authenticate("ghost@example.com", PASSWORD)
    assert len(checked) == 1
    assert not passwords.needs_rehash(checked[0], method)


def test_unknown_email_and_wrong_password_give_the_same_message(ctx):
    auth.register("frank@example.com", PASSWORD)
    with pytest.raises(Unauthorized) as unknown:
        auth.authenticate("ghost@example.com", PASSWORD)
    with pytest.raises(Unauthorized) as wrong:
        auth.authenticate("frank@example.com", "wrong-password")
    assert unknown.value.message == wrong.value.message


# Tokens


def test_issue_tokens_gives_an_access_and_a_refresh_token_for_the_user(ctx):
    user = auth.register("gina@example.com", PASSWORD)
    tokens = auth.issue_tokens(user)
    access, refresh = claims_of(tokens.access_token), claims_of(tokens.refresh_token)
    assert access["sub"] == refresh["sub"] == str(user.id)
    assert access["type"] == "access"
    assert refresh["type"] == "refresh"
    assert tokens.expires_in == ctx.config["JWT_ACCESS_TOKEN_EXPIRES"]


def test_refresh_with_rotation_revokes_the_presented_token(ctx):
    user = auth.register("hank@example.com", PASSWORD)
    presented = claims_of(auth.issue_tokens(user).refresh_token)
    tokens = auth.refresh(user, presented, rotate=True)
    assert auth.is_revoked(presented["jti"])
    new_refresh = claims_of(tokens.refresh_token)
    assert new_refresh["type"] == "refresh"
    assert new_refresh["jti"] != presented["jti"]
    assert not auth.is_revoked(new_refresh["jti"])
    assert claims_of(tokens.access_token)["sub"] == str(user.id)


def test_rotating_the_same_refresh_token_twice_raises_token_revoked(ctx):
    user = auth.register("ivy@example.com", PASSWORD)
    presented = claims_of(auth.issue_tokens(user).refresh_token)
    auth.refresh(user, presented, rotate=True)
    with pytest.raises(Unauthorized) as caught:
        auth.refresh(user, presented, rotate=True)
    assert caught.value.reason == "token_revoked"
    # The failed attempt left the session usable and the single revocation in place.
    assert revoked_jtis() == {presented["jti"]}


def test_refresh_without_rotation_issues_no_refresh_token_and_revokes_nothing(ctx):
    user = auth.register("jack@example.com", PASSWORD)
    presented = claims_of(auth.issue_tokens(user).refresh_token)
    tokens = auth.refresh(user, presented, rotate=False)
    assert tokens.refresh_token is None
    assert claims_of(tokens.access_token)["type"] == "access"
    assert not auth.is_revoked(presented["jti"])
    # Legacy clients keep their refresh token: it works again.
    assert auth.refresh(user, presented, rotate=False).access_token


def test_revocation_records_the_token_type_owner_and_expiry(ctx):
    user = auth.register("kate@example.com", PASSWORD)
    presented = claims_of(auth.issue_tokens(user).refresh_token)
    auth.refresh(user, presented, rotate=True)
    row = db.session.get(RevokedToken, presented["jti"])
    assert row.token_type == "refresh"
    assert row.user_id == user.id
    assert row.expires_at == datetime.fromtimestamp(presented["exp"], UTC)


# Logout


def test_logout_revokes_the_access_token(ctx):
    user = auth.register("liam@example.com", PASSWORD)
    access = claims_of(auth.issue_tokens(user).access_token)
    auth.logout(user, access)
    assert auth.is_revoked(access["jti"])
    assert revoked_jtis() == {access["jti"]}


def test_logout_with_a_refresh_token_revokes_both(ctx):
    user = auth.register("mia@example.com", PASSWORD)
    tokens = auth.issue_tokens(user)
    access, refresh = claims_of(tokens.access_token), claims_of(tokens.refresh_token)
    auth.logout(user, access, tokens.refresh_token)
    assert revoked_jtis() == {access["jti"], refresh["jti"]}


def test_logout_twice_is_harmless(ctx):
    user = auth.register("noah@example.com", PASSWORD)
    tokens = auth.issue_tokens(user)
    access = claims_of(tokens.access_token)
    auth.logout(user, access, tokens.refresh_token)
    auth.logout(user, access, tokens.refresh_token)
    assert len(revoked_jtis()) == 2


def test_logout_with_another_users_refresh_token_fails_and_revokes_nothing(ctx):
    user = auth.register("olga@example.com", PASSWORD)
    other = auth.register("pete@example.com", PASSWORD)
    access = claims_of(auth.issue_tokens(user).access_token)
    with pytest.raises(ValidationFailed) as caught:
        auth.logout(user, access, auth.issue_tokens(other).refresh_token)
    assert "refresh_token" in caught.value.details
    assert revoked_jtis() == set()


@pytest.mark.parametrize("bad", ["not-a-jwt", "access"], ids=["garbage", "access-token"])
def test_logout_with_something_other_than_a_refresh_token_fails(ctx, bad):
    user = auth.register("quinn@example.com", PASSWORD)
    tokens = auth.issue_tokens(user)
    presented = tokens.access_token if bad == "access" else bad
    with pytest.raises(ValidationFailed):
        auth.logout(user, claims_of(tokens.access_token), presented)
    assert revoked_jtis() == set()


# Purging


def test_purge_expired_revocations_removes_only_expired_entries(ctx):
    user = auth.register("rita@example.com", PASSWORD)
    now = datetime.now(UTC)
    db.session.add_all(
        [
            revocation("expired-1", user, now - timedelta(days=1)),
            revocation("expired-2", user, now - timedelta(seconds=5)),
            revocation("live", user, now + timedelta(days=1)),
        ]
    )
    db.session.commit()
    assert auth.purge_expired_revocations() == 2
    assert revoked_jtis() == {"live"}
    assert auth.is_revoked("live")
    assert not auth.is_revoked("expired-1")


def test_purge_expired_revocations_uses_the_given_moment(ctx):
    user = auth.register("sam@example.com", PASSWORD)
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    db.session.add_all(
        [
            revocation("before", user, moment - timedelta(minutes=1)),
            revocation("after", user, moment + timedelta(minutes=1)),
        ]
    )
    db.session.commit()
    assert auth.purge_expired_revocations(now=moment) == 1
    assert revoked_jtis() == {"after"}


def test_purge_with_nothing_expired_removes_nothing(ctx):
    user = auth.register("tess@example.com", PASSWORD)
    access = claims_of(auth.issue_tokens(user).access_token)
    auth.logout(user, access)
    assert auth.purge_expired_revocations() == 0
    assert auth.is_revoked(access["jti"])
