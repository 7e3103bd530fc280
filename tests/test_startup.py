"""A refused configuration, as operators meet it: one line on stderr, once, and a failing exit."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from core.config import ConfigError, load_config
from core.startup import EXIT_STATUS, build_or_refuse, check_environment, refusal_line
from tests.live import ROOT, free_port

# Production with the development secrets, and a malformed setting.
REFUSED = {
    "production-with-dev-secrets": {
        "APP_ENV": "production",
        "SECRET_KEY": "",
        "JWT_SECRET_KEY": "",
    },
    "malformed-setting": {"JWT_ACCESS_TOKEN_EXPIRES": "soon"},
}


def expected_line(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as refused:
        load_config(environ)
    return refusal_line(refused.value)


def run(args: list[str], environ: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'books.db'}",
        "FLASK_APP": "",
        **environ,
    }
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )


def assert_refused_once(result: subprocess.CompletedProcess, line: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [line], result.stderr


def test_the_refusal_is_one_line_naming_the_problem():
    line = refusal_line(ConfigError("APP_ENV must be one of development, testing, production"))
    assert line == (
        "book-api: configuration refused: APP_ENV must be one of development, testing, production"
    )
    assert "\n" not in refusal_line(ConfigError("first\nsecond"))


def test_check_environment_accepts_a_usable_configuration():
    assert check_environment({"APP_ENV": "testing"})["APP_ENV"] == "testing"


@pytest.mark.parametrize("environ", REFUSED.values(), ids=REFUSED.keys())
def test_check_environment_refuses_with_one_line_and_a_failing_status(environ, capsys):
    with pytest.raises(SystemExit) as exited:
        check_environment(environ)
    assert exited.value.code == EXIT_STATUS != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [expected_line(environ)]


@pytest.mark.parametrize("value", ["abc", "0"])
def test_a_bad_idempotency_lease_is_refused_with_one_line(value, capsys):
    with pytest.raises(SystemExit) as exited:
        check_environment({"IDEMPOTENCY_LEASE_SECONDS": value})
    assert exited.value.code == EXIT_STATUS
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("book-api: configuration refused: IDEMPOTENCY_LEASE_SECONDS must be")


def test_a_refusal_while_building_the_app_is_one_line(capsys):
    def factory():
        raise ConfigError("V1_SUNSET_AT needs V1_DEPRECATED_AT")

    with pytest.raises(SystemExit) as exited:
        build_or_refuse(factory)
    assert exited.value.code == EXIT_STATUS
    assert capsys.readouterr().err == (
        "book-api: configuration refused: V1_SUNSET_AT needs V1_DEPRECATED_AT\n"
    )


def test_build_or_refuse_returns_what_the_factory_built():
    assert build_or_refuse(lambda: "app") == "app"


@pytest.mark.parametrize("environ", REFUSED.values(), ids=REFUSED.keys())
def test_gunicorn_with_two_workers_refuses_once_and_exits(environ, tmp_path):
    started = time.monotonic()
    result = run(
        [
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{free_port()}",
            "wsgi:app",
        ],
        environ,
        tmp_path,
    )
    assert_refused_once(result, expected_line(environ))
    assert time.monotonic() - started < 10, "the master refuses before starting workers"


@pytest.mark.parametrize("environ", REFUSED.values(), ids=REFUSED.keys())
def test_flask_db_upgrade_refuses_with_one_line(environ, tmp_path):
    result = run(["-m", "flask", "--app", "wsgi", "db", "upgrade"], environ, tmp_path)
    assert_refused_once(result, expected_line(environ))
    assert not (tmp_path / "books.db").exists(), "nothing ran against the database"
