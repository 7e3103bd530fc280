"""Live servers for tests that need real processes: gunicorn on a loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 30
# The running servers' processes by base URL, for tests that crash one on purpose.
PROCESSES: dict[str, subprocess.Popen] = {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url: str, tmp_dir, **settings: str) -> dict[str, str]:
    """The environment of a live server on ``database_url`` (its log in ``tmp_dir``): a
    development app with a cheap password hash, no rate limits and no request log unless
    ``settings`` say otherwise."""
    return {
        "APP_ENV": "development",
        "DATABASE_URL": database_url,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "RATELIMIT_ENABLED": "false",
        "REQUEST_LOG": "false",
        "TMPDIR": str(tmp_dir),
        **settings,
    }


def parse_answer(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    """A raw HTTP response's status, headers (lower-case names) and the bytes after its head."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def call(url: str, method: str = "GET", body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _answers(base: str) -> bool:
    try:
        # /health: never rate limited, so probing spends no client's budget.
        with urllib.request.urlopen(f"{base}/api/v1/health", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@contextmanager
def gunicorn(env: dict[str, str], workers: int = 1, app_module: str = "wsgi:app"):
    """A gunicorn (one worker unless told) serving ``app_module``, in its own process group;
    yields its base URL and stops it (SIGTERM) afterwards."""
    port = free_port()
    log_path = Path(env["TMPDIR"]) / f"gunicorn-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "gunicorn.conf.py",  # the limits and settings production runs with
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            app_module,
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=log,  # a file, not a pipe: a full pipe would stall the server
        start_new_session=True,  # so that crash() can kill the master and its workers at once
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _answers(base):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start: " + log_path.read_text()[-2000:])
            time.sleep(0.05)  # waiting for the server to come up, not for a result
        PROCESSES[base] = process
        yield base
    finally:
        PROCESSES.pop(base, None)
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)
        log.close()


def server_log(base: str, env: dict[str, str]) -> str:
    """What the server at ``base`` (started by ``gunicorn(env)``) wrote to stderr so far."""
    port = base.rsplit(":", 1)[1]
    return (Path(env["TMPDIR"]) / f"gunicorn-{port}.log").read_text()


def crash(base: str) -> None:
    """``kill -9`` the server at ``base``: its master and every worker, with no clean-up."""
    process = PROCESSES[base]
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def workers(base: str) -> set[int]:
    """The pids of the live workers of the server at ``base``: its master's children, from
    /proc (zombies, already exited, excluded)."""
    master = PROCESSES[base].pid
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue  # the process went away meanwhile
        if int(ppid) == master and state != "Z":
            pids.add(int(stat.parent.name))
    return pids


def listening(base: str) -> bool:
    """Whether anything accepts connections at ``base`` (a refused connect: nothing does)."""
    host, port = base.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False
