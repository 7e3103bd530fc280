"""Fuzz every API version against their own OpenAPI documents with Schemathesis.

Starts gunicorn on a fresh SQLite database, creates an admin and a user, then runs
``schemathesis run`` with its default checks on /api/v1/openapi.json and /api/v2/openapi.json,
once signed in as the user and once as the admin. Exits non-zero on any failure.

    python tools/fuzz.py [--max-examples N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.versions import REGISTRY  # noqa: E402
from tests.live import call, gunicorn  # noqa: E402

USER = ("fuzz-user@example.com", "fuzz-user-password")
ADMIN = ("fuzz-admin@example.com", "fuzz-admin-password")


def run(args: list[str], env: dict[str, str]) -> None:
    subprocess.run(args, cwd=ROOT, env={**os.environ, **env}, check=True)


def token(base: str, email: str, password: str) -> str:
    status, body = call(f"{base}/api/v1/auth/login", "POST", {"email": email, "password": password})
    if status != 200:
        raise SystemExit(f"login as {email} failed: {status} {body}")
    return body["access_token"]


def refresh_token(base: str, email: str, password: str) -> str:
    status, body = call(f"{base}/api/v1/auth/login", "POST", {"email": email, "password": password})
    return body["refresh_token"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--max-examples", type=int, default=int(os.environ.get("FUZZ_EXAMPLES", 50))
    )
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        env = {
            "TMPDIR": workdir,
            "DATABASE_URL": f"sqlite:///{workdir}/fuzz.db",
            "FLASK_APP": "wsgi",
            "RATELIMIT_ENABLED": "false",  # the fuzzer sends thousands of requests on purpose
            "REQUEST_LOG": "false",
        }
        flask = [sys.executable, "-m", "flask"]
        run([*flask, "db", "upgrade"], env)
        run([*flask, "create-admin", "--email", ADMIN[0], "--password", ADMIN[1]], env)
        run([*flask, "seed"], env)
        with gunicorn(env) as base:
            status, body = call(
                f"{base}/api/v1/auth/register", "POST", {"email": USER[0], "password": USER[1]}
            )
            assert status == 201, body
            failures = 0
            for version in REGISTRY.numbers:
                spec = f"{base}/api/v{version}/openapi.json"
                user_token = token(base, *USER)
                plans = [
                    # Everything but the two routes that spend the token they are given.
                    ("user", user_token, ["--exclude-path-regex", "^/auth/(logout|refresh)$"]),
                    (
                        "admin",
                        token(base, *ADMIN),
                        ["--exclude-path-regex", "^/auth/(logout|refresh)$"],
                    ),
                    (
                        "user, refresh token",
                        refresh_token(base, *USER),
                        ["--include-path", "/auth/refresh"],
                    ),
                    ("user, logout", token(base, *USER), ["--include-path", "/auth/logout"]),
                ]
                for who, bearer, selection in plans:
                    print(f"== v{version} as {who}", flush=True)
                    command = [
                        sys.executable,
                        "-m",
                        "schemathesis.cli",
                        "--config-file",
                        str(ROOT / "tools" / "schemathesis.toml"),
                        "run",
                        spec,
                        "--header",
                        f"Authorization: Bearer {bearer}",
                        "--max-examples",
                        str(options.max_examples),
                        "--generation-deterministic",
                        "--workers",
                        "1",
                        "--no-color",
                        *selection,
                    ]
                    # Run from the scratch directory: Schemathesis keeps its caches in the cwd.
                    result = subprocess.run(command, cwd=workdir, env={**os.environ, **env})
                    failures += result.returncode != 0
    print("fuzzing: no failures" if not failures else f"fuzzing: {failures} run(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
