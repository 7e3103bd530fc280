"""Operator commands for API keys: create-api-key, list-api-keys and revoke-api-key."""

import re

import pytest
from sqlalchemy import func, select

from core.extensions import db
from core.models import ApiKey
from core.principal import Principal
from core.services import api_keys

OPERATOR = Principal.for_operator()  # the command line: may manage keys

KEY_FORMAT = re.compile(r"^bk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$")
BOOK = {"title": "Dune", "author": "Frank Herbert"}


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def create(runner, admin):
    """Run create-api-key as ``admin`` with these extra arguments."""

    def run(*args: str, created_by: str | None = None):
        return runner.invoke(
            args=["create-api-key", "--created-by", created_by or admin.email, *args]
        )

    return run


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def key_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ApiKey))


def assert_one_line_error(result, mentions: str) -> None:
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    output = lines(result.output)
    assert len(output) == 1, result.output
    assert mentions in output[0].lower()
    assert "Traceback" not in result.output


# create-api-key


def test_create_prints_the_key_once_on_stdout_with_a_note(app, create, client, admin):
    result = create("--name", "catalogue-sync", "--scope", "write", "--scope", "read")
    assert result.exit_code == 0, result.output
    # stdout is the key alone, so a script can capture it; the notes go to stderr.
    (plaintext,) = lines(result.stdout)
    assert KEY_FORMAT.match(plaintext)
    notes = lines(result.stderr)
    assert len(notes) == 2
    assert "catalogue-sync" in notes[0] and "read write" in notes[0]
    assert "cannot be shown again" in notes[1]
    with app.app_context():
        (key,) = api_keys.list_keys(OPERATOR)
        assert (key.name, key.scope_list, key.created_by) == (
            "catalogue-sync",
            ["read", "write"],
            admin.id,
        )
        assert key.prefix in notes[0]
        assert plaintext not in (key.key_hash, key.prefix)

    response = client.post("/api/v2/books", json=BOOK, headers={"X-API-Key": plaintext})
    assert response.status_code == 201
    assert response.get_json()["data"]["created_by"] == admin.id


def test_create_accepts_the_admins_email_in_any_case(app, create, admin):
    result = create("--name", "x", "--scope", "read", created_by=f"  {admin.email.upper()} ")
    assert result.exit_code == 0, result.output
    assert key_count(app) == 1


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["--name", "x"], "scopes"),
        (["--name", "x", "--scope", "admin"], "scopes"),
        (["--name", "x", "--scope", "read", "--scope", "read"], "scopes"),
        (["--name", "", "--scope", "read"], "name"),
        (["--name", "x" * 101, "--scope", "read"], "name"),
    ],
    ids=["no-scope", "unknown-scope", "duplicate-scope", "empty-name", "long-name"],
)
def test_create_rejects_bad_input_with_one_clear_line(app, create, args, mentions):
    assert_one_line_error(create(*args), mentions)
    assert key_count(app) == 0


def test_create_for_an_unknown_user_fails(app, create):
    assert_one_line_error(
        create("--name", "x", "--scope", "read", created_by="ghost@example.com"), "no user"
    )
    assert key_count(app) == 0


def test_create_for_a_non_admin_fails(app, create, user):
    assert_one_line_error(
        create("--name", "x", "--scope", "read", created_by=user.email), "not an admin"
    )
    assert key_count(app) == 0


def test_create_requires_a_name_and_a_creator(app, runner):
    result = runner.invoke(args=["create-api-key", "--scope", "read"])
    assert result.exit_code != 0
    assert "--name" in result.output or "--created-by" in result.output
    assert key_count(app) == 0


# list-api-keys


def test_list_without_keys_says_so(runner):
    result = runner.invoke(args=["list-api-keys"])
    assert result.exit_code == 0, result.output
    assert lines(result.output) == ["No API keys."]


def test_list_shows_one_line_per_key_without_secrets(app, runner, create, admin):
    first = lines(create("--name", "one", "--scope", "read").stdout)[0]
    second = lines(create("--name", "two", "--scope", "write").stdout)[0]
    runner.invoke(args=["revoke-api-key", _id_of(app, "one")])

    result = runner.invoke(args=["list-api-keys"])
    assert result.exit_code == 0, result.output
    output = lines(result.output)
    assert len(output) == 2
    assert "one" in output[0] and "revoked" in output[0] and admin.email in output[0]
    assert "two" in output[1] and "active" in output[1] and "last used never" in output[1]
    with app.app_context():
        hashes = list(db.session.scalars(select(ApiKey.key_hash)))
    for secret in (first, second, first[-43:], second[-43:], *hashes):
        assert secret not in result.output


def _id_of(app, name: str) -> str:
    with app.app_context():
        return str(db.session.scalar(select(ApiKey.id).where(ApiKey.name == name)))


# revoke-api-key


def test_revoke_stops_the_key_at_once(app, runner, create, client):
    plaintext = lines(create("--name", "one", "--scope", "write").stdout)[0]
    key_id = _id_of(app, "one")
    result = runner.invoke(args=["revoke-api-key", key_id])
    assert result.exit_code == 0, result.output
    assert len(lines(result.output)) == 1
    assert "revoked" in result.output
    response = client.post("/api/v1/books", json=BOOK, headers={"X-API-Key": plaintext})
    assert response.status_code == 401
    assert response.get_json()["code"] == "api_key_revoked"


def test_revoking_twice_succeeds_and_keeps_the_first_time(app, runner, create):
    create("--name", "one", "--scope", "read")
    key_id = _id_of(app, "one")
    first = runner.invoke(args=["revoke-api-key", key_id])
    again = runner.invoke(args=["revoke-api-key", key_id])
    assert again.exit_code == 0, again.output
    assert again.output == first.output


@pytest.mark.parametrize(
    ("key_id", "mentions"),
    [("999999", "no api key"), ("abc", "whole number"), ("1.5", "whole number")],
    ids=["unknown", "word", "fraction"],
)
def test_revoke_rejects_bad_ids_with_one_clear_line(runner, key_id, mentions):
    assert_one_line_error(runner.invoke(args=["revoke-api-key", key_id]), mentions)


# pin-api-key


def _pin_of(app, key_id: str):
    with app.app_context():
        return db.session.get(ApiKey, int(key_id)).pinned_version


def test_pin_sets_and_clears_a_keys_version(app, runner, create, client):
    plaintext = lines(create("--name", "one", "--scope", "read").stdout)[0]
    key_id = _id_of(app, "one")

    pinned = runner.invoke(args=["pin-api-key", key_id, "v2"])
    assert pinned.exit_code == 0, pinned.output
    assert lines(pinned.output) == [
        f"API key {key_id} (one) now gets version 2 on unversioned URLs."
    ]
    assert _pin_of(app, key_id) == "2"
    assert "pin: 2" in runner.invoke(args=["list-api-keys"]).output
    response = client.get("/api/books", headers={"X-API-Key": plaintext})
    assert response.headers["API-Version"] == "2"

    cleared = runner.invoke(args=["pin-api-key", key_id, "default"])
    assert cleared.exit_code == 0, cleared.output
    assert "the default version" in cleared.output
    assert _pin_of(app, key_id) is None
    assert "pin: default" in runner.invoke(args=["list-api-keys"]).output


@pytest.mark.parametrize(
    ("args", "mentions"),
    [(["9999", "2"], "no active api key"), (["x", "2"], "whole number"), (None, "invalid version")],
)
def test_pin_refuses_bad_input_in_one_line(app, runner, create, args, mentions):
    create("--name", "one", "--scope", "read")
    key_id = _id_of(app, "one")

    result = runner.invoke(args=["pin-api-key", *(args or [key_id, "3"])])

    assert_one_line_error(result, mentions)
    assert _pin_of(app, key_id) is None


def test_pin_refuses_a_revoked_key(app, runner, create):
    create("--name", "one", "--scope", "read")
    key_id = _id_of(app, "one")
    runner.invoke(args=["revoke-api-key", key_id])

    assert_one_line_error(runner.invoke(args=["pin-api-key", key_id, "2"]), "no active api key")
    assert _pin_of(app, key_id) is None
