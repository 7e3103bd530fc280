"""Stored password hashes through HTTP: argon2id for new users, upgrades on a successful login."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, Type, extract_parameters
from werkzeug.security import generate_password_hash

from core import passwords
from core.extensions import db
from core.models import User
from tests.conftest import PASSWORD, Api

EMAIL = "legacy@example.com"
WERKZEUG_HASHES = ["scrypt", "pbkdf2:sha256:1000"]


@pytest.fixture
def argon2_app(make_app):
    return make_app(PASSWORD_HASH_METHOD="argon2id")


@pytest.fixture
def argon2_api(argon2_app, version) -> Api:
    return Api(argon2_app.test_client(), version)


def store_user(app, password_hash: str, email: str = EMAIL) -> None:
    with app.app_context():
        db.session.add(User(email=email, password_hash=password_hash))
        db.session.commit()


def stored_hash(app, email: str = EMAIL) -> str:
    with app.app_context():
        return db.session.scalar(sa.select(User.password_hash).where(User.email == email))


def login(api: Api, password: str = PASSWORD, email: str = EMAIL):
    return api.post("/auth/login", json={"email": email, "password": password})


def assert_owasp_argon2id(password_hash: str) -> None:
    params = extract_parameters(password_hash)
    assert params.type is Type.ID
    assert (params.memory_cost, params.time_cost, params.parallelism) == (7168, 5, 1)
    assert passwords.verify_password(password_hash, PASSWORD)


def test_a_new_user_is_stored_with_argon2id_at_owasp_parameters(argon2_api, argon2_app):
    response = argon2_api.post("/auth/register", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 201
    assert_owasp_argon2id(stored_hash(argon2_app))
    assert login(argon2_api).status_code == 200


def test_argon2id_is_the_default_method(make_app):
    app = make_app(PASSWORD_HASH_METHOD="")
    response = app.test_client().post(
        "/api/v1/auth/register", json={"email": EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 201
    assert_owasp_argon2id(stored_hash(app))


@pytest.mark.parametrize("method", WERKZEUG_HASHES)
def test_a_werkzeug_hash_logs_in_and_is_replaced_by_argon2id(argon2_api, argon2_app, method):
    old = generate_password_hash(PASSWORD, method=method)
    store_user(argon2_app, old)

    response = login(argon2_api)

    assert response.status_code == 200
    upgraded = stored_hash(argon2_app)
    assert upgraded != old
    assert_owasp_argon2id(upgraded)
    # A current hash is left alone on the next login.
    assert login(argon2_api).status_code == 200
    assert stored_hash(argon2_app) == upgraded


@pytest.mark.parametrize("method", WERKZEUG_HASHES)
def test_a_failed_login_leaves_the_old_hash_untouched(argon2_api, argon2_app, method):
    old = generate_password_hash(PASSWORD, method=method)
    store_user(argon2_app, old)

    response = login(argon2_api, password=PASSWORD + "-wrong")

    assert response.status_code == 401
    assert argon2_api.error(response)["reason"] == "invalid_credentials"
    assert stored_hash(argon2_app) == old


@pytest.mark.parametrize(
    "hasher",
    [
        PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1),
        PasswordHasher(time_cost=5, memory_cost=7168, parallelism=2),
        PasswordHasher(time_cost=5, memory_cost=7168, parallelism=1, type=Type.I),
        PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1),  # the former setting
    ],
    ids=["weaker", "other-parallelism", "argon2i", "former-m19-t2"],
)
def test_an_argon2_hash_with_other_parameters_is_upgraded(argon2_api, argon2_app, hasher):
    old = hasher.hash(PASSWORD)
    store_user(argon2_app, old)

    assert login(argon2_api).status_code == 200

    assert_owasp_argon2id(stored_hash(argon2_app))


def test_an_argon2id_hash_is_replaced_when_a_werkzeug_method_is_configured(api, app):
    # The suite's apps use pbkdf2:sha256:1000: the configured method wins, whatever it is.
    store_user(app, passwords.hash_password(PASSWORD, "argon2id"))

    assert login(api).status_code == 200

    new = stored_hash(app)
    assert new.startswith("pbkdf2:sha256:1000$")
    assert passwords.verify_password(new, PASSWORD)


def test_a_login_succeeds_when_the_upgraded_hash_cannot_be_saved(argon2_api, argon2_app, caplog):
    old = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    store_user(argon2_app, old)

    def refuse_updates(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE USERS"):
            raise sa.exc.OperationalError(statement, parameters, Exception("disk is full"))

    with argon2_app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", refuse_updates)
    try:
        with caplog.at_level(logging.WARNING, logger="core.services.auth"):
            response = login(argon2_api)
    finally:
        sa.event.remove(engine, "before_cursor_execute", refuse_updates)

    assert response.status_code == 200
    assert argon2_api.data(response)["access_token"]
    assert stored_hash(argon2_app) == old
    assert "could not save the upgraded password hash" in caplog.text
    assert PASSWORD not in caplog.text
    # Once saving works again, the next login upgrades the hash.
    assert login(argon2_api).status_code == 200
    assert_owasp_argon2id(stored_hash(argon2_app))


@pytest.mark.parametrize(
    "broken",
    ["", "not-a-hash", "bcrypt$salt$digest", "scrypt:many$salt$digest", "$argon2id$garbage"],
    ids=["empty", "no-dollar", "unknown-method", "bad-parameters", "bad-argon2"],
)
def test_a_malformed_stored_hash_is_a_401_not_a_500(argon2_api, argon2_app, broken):
    store_user(argon2_app, broken)

    response = login(argon2_api)

    assert response.status_code == 401
    assert argon2_api.error(response)["reason"] == "invalid_credentials"
    assert stored_hash(argon2_app) == broken
