"""Operator commands: create-admin, seed and purge-revoked-tokens."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.extensions import db
from core.models import ROLE_ADMIN, ROLE_USER, Book, RevokedToken, User
from core.samples import SAMPLE_BOOKS
from core.services import auth
from tests.conftest import PASSWORD, bearer

ADMIN_EMAIL = "root@example.com"


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def users(app) -> list[tuple[str, str]]:
    with app.app_context():
        return [(u.email, u.role) for u in db.session.scalars(select(User).order_by(User.id))]


def book_isbns(app) -> list[str | None]:
    with app.app_context():
        return list(db.session.scalars(select(Book.isbn).order_by(Book.id)))


def output_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.strip()]


def login(client, email: str, password: str) -> dict:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# create-admin


def test_create_admin_with_options_creates_an_admin(app, runner):
    result = runner.invoke(args=["create-admin", "--email", ADMIN_EMAIL, "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    lines = output_lines(result)
    assert len(lines) == 1
    assert ADMIN_EMAIL in lines[0]
    assert PASSWORD not in result.output
    assert users(app) == [(ADMIN_EMAIL, ROLE_ADMIN)]


def test_created_admin_can_sign_in_and_is_an_admin(app, runner, client):
    runner.invoke(args=["create-admin", "--email", ADMIN_EMAIL, "--password", PASSWORD])
    tokens = login(client, ADMIN_EMAIL, PASSWORD)
    me = client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["role"] == ROLE_ADMIN


def test_create_admin_lower_cases_the_email(app, runner):
    result = runner.invoke(
        args=["create-admin", "--email", "Root@Example.COM", "--password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    assert users(app) == [(ADMIN_EMAIL, ROLE_ADMIN)]


def test_create_admin_reads_the_password_from_the_environment(app, runner, client):
    result = runner.invoke(
        args=["create-admin", "--email", ADMIN_EMAIL], env={"ADMIN_PASSWORD": PASSWORD}
    )
    assert result.exit_code == 0, result.output
    assert len(output_lines(result)) == 1
    assert users(app) == [(ADMIN_EMAIL, ROLE_ADMIN)]
    login(client, ADMIN_EMAIL, PASSWORD)


def test_create_admin_prompts_for_the_password_twice(app, runner, client):
    result = runner.invoke(
        args=["create-admin", "--email", ADMIN_EMAIL], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert ADMIN_EMAIL in output_lines(result)[-1]
    # The prompt hides what was typed.
    assert PASSWORD not in result.output
    assert users(app) == [(ADMIN_EMAIL, ROLE_ADMIN)]
    login(client, ADMIN_EMAIL, PASSWORD)


def test_create_admin_with_mismatched_prompt_answers_creates_nothing(app, runner):
    result = runner.invoke(
        args=["create-admin", "--email", ADMIN_EMAIL], input=f"{PASSWORD}\nsomething-else\n"
    )
    assert result.exit_code != 0
    assert users(app) == []


@pytest.mark.parametrize(
    ("email", "password", "mentions"),
    [
        ("not-an-email", PASSWORD, "email"),
        ("root@", PASSWORD, "email"),
        (ADMIN_EMAIL, "short", "password"),
        (ADMIN_EMAIL, "", "password"),
        (ADMIN_EMAIL, "x" * 129, "password"),
    ],
    ids=["no-at", "no-domain", "short-password", "empty-password", "long-password"],
)
def test_create_admin_rejects_bad_input_with_one_clear_line(app, runner, email, password, mentions):
    result = runner.invoke(args=["create-admin", "--email", email, "--password", password])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = output_lines(result)
    assert len(lines) == 1, result.output
    assert mentions in lines[0].lower()
    assert "Traceback" not in result.output
    assert users(app) == []


def test_create_admin_for_an_existing_email_fails_and_changes_nothing(app, runner, user):
    result = runner.invoke(
        args=["create-admin", "--email", user.email.upper(), "--password", PASSWORD]
    )
    assert result.exit_code != 0
    lines = output_lines(result)
    assert len(lines) == 1, result.output
    assert "already exists" in lines[0]
    # The existing account is not promoted and no second account appears.
    assert users(app) == [(user.email, ROLE_USER)]


def test_create_admin_requires_an_email(app, runner):
    result = runner.invoke(args=["create-admin", "--password", PASSWORD])
    assert result.exit_code != 0
    assert "--email" in result.output
    assert users(app) == []


# seed


def test_seed_adds_the_sample_books(app, runner):
    result = runner.invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert len(output_lines(result)) == 1
    assert str(len(SAMPLE_BOOKS)) in result.output
    assert sorted(book_isbns(app)) == sorted(book["isbn"] for book in SAMPLE_BOOKS)


def test_seed_if_empty_fills_an_empty_catalogue(app, runner):
    result = runner.invoke(args=["seed", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert len(book_isbns(app)) == len(SAMPLE_BOOKS)


def test_seed_if_empty_adds_nothing_when_books_exist(app, runner, make_book):
    make_book(title="Mine", isbn="1111111111111")
    result = runner.invoke(args=["seed", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert len(output_lines(result)) == 1
    assert book_isbns(app) == ["1111111111111"]


def test_seeding_twice_does_not_duplicate_isbns(app, runner):
    runner.invoke(args=["seed"])
    result = runner.invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    isbns = book_isbns(app)
    assert len(isbns) == len(SAMPLE_BOOKS)
    assert len(set(isbns)) == len(isbns)


def test_seed_skips_only_the_sample_isbns_already_present(app, runner, make_book):
    taken = SAMPLE_BOOKS[0]["isbn"]
    make_book(title="Already here", isbn=taken)
    result = runner.invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert str(len(SAMPLE_BOOKS) - 1) in result.output
    isbns = book_isbns(app)
    assert len(isbns) == len(SAMPLE_BOOKS)
    assert isbns.count(taken) == 1


# purge-revoked-tokens


def test_purge_revoked_tokens_reports_how_many_it_removed(app, runner, user):
    now = datetime.now(UTC)
    with app.app_context():
        for jti, expires in (("old-1", -60), ("old-2", -1), ("live", 3600)):
            db.session.add(
                RevokedToken(
                    jti=jti,
                    token_type="access",
                    user_id=user.id,
                    expires_at=now + timedelta(seconds=expires),
                )
            )
        db.session.commit()
    result = runner.invoke(args=["purge-revoked-tokens"])
    assert result.exit_code == 0, result.output
    lines = output_lines(result)
    assert len(lines) == 1
    assert [int(n) for n in re.findall(r"\d+", lines[0])] == [2]
    with app.app_context():
        assert list(db.session.scalars(select(RevokedToken.jti))) == ["live"]
        assert auth.is_revoked("live")


def test_purge_revoked_tokens_with_nothing_to_purge_reports_zero(app, runner):
    result = runner.invoke(args=["purge-revoked-tokens"])
    assert result.exit_code == 0, result.output
    assert [int(n) for n in re.findall(r"\d+", result.output)] == [0]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RevokedToken)) == 0
