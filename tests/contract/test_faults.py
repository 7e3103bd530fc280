"""Faults against the real server (`gunicorn --config gunicorn.conf.py wsgi:app`) on every test
database: a `kill -9` in the middle of writes, a database outage, reloads and a graceful stop
under load.

What each test holds the server to:

* no write it acknowledged (201) is lost when it is killed, and the database it leaves is
  served as usual by the next server;
* while PostgreSQL cannot be reached every route answers a JSON 503 in its version's shape, at
  once and with Retry-After, and the server serves again shortly after the database is back;
  a database that accepts connections but never answers is a 503 within the connect timeout;
* a SIGHUP replaces the workers without failing a single request;
* a SIGTERM lets a request in flight finish before the server exits 0.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from itertools import count
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.config import DATABASE_CONNECT_TIMEOUT
from tests.conftest import PASSWORD
from tests.live import (
    PROCESSES,
    crash,
    free_port,
    gunicorn,
    listening,
    parse_answer,
    server_env,
    server_log,
    workers,
)

pytestmark = pytest.mark.gunicorn

# Seconds an answer may take while the database is away: a 503 comes at once, not after a
# hang. Elsewhere a client waits up to PATIENCE, which only a hang exceeds, even on a busy
# machine (a reload holds new requests for as long as new workers take to load the app).
TIMEOUT = 5
PATIENCE = 30
RECOVERY_SECONDS = 5  # from the database's return to serving again
LOG_FAULTS = (
    "Traceback",
    "unhandled error",
    "Error handling request",
    "Worker graceful timeout",
    "WORKER TIMEOUT",
)


@pytest.fixture
def environment(database_url, tmp_path):
    """The environment of a server on the test database (or on ``DATABASE_URL`` given)."""

    def build(**extra: str) -> dict[str, str]:
        return server_env(database_url, tmp_path, **{"REQUEST_LOG": "true", **extra})

    return build


def send(
    url: str,
    method: str = "GET",
    body: dict | None = None,
    headers: dict | None = None,
    timeout: float = PATIENCE,
):
    """(status, headers, JSON body) of one request; a connection failure raises OSError."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, json.loads(error.read() or b"null")


def sign_in(base: str, email: str) -> dict[str, str]:
    status, _, body = send(
        f"{base}/api/v1/auth/login", "POST", {"email": email, "password": PASSWORD}
    )
    assert status == 200, body
    return {"Authorization": f"Bearer {body['access_token']}"}


_isbns = count(9780000000001)


def new_book() -> dict:
    isbn = str(next(_isbns))
    return {"title": f"Fault {isbn}", "author": "Fault Tester", "isbn": isbn}


def created_id(version: str, body: dict) -> int:
    return body["data"]["id"] if version == "2" else body["id"]


def wait_for(condition, seconds: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.02)


def isbns_in(database_url: str) -> list[str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT isbn FROM books")).scalars())
    finally:
        engine.dispose()


def assert_clean_log(base: str, env: dict[str, str]) -> None:
    log = server_log(base, env)
    for fault in LOG_FAULTS:
        assert fault not in log, log[-3000:]


class Writers:
    """Client threads creating books (v1 and v2 in turn) until stopped or the server is gone.

    ``acknowledged`` maps the ISBN of every 201 to (version, id); ``sent`` holds every ISBN a
    request carried, answered or not; ``answers`` every status received; ``failures`` when and
    how a request got no answer."""

    def __init__(self, base: str, auth: dict[str, str], threads: int, reads: bool = False):
        self.base, self.auth, self.reads = base, auth, reads
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acknowledged: dict[str, tuple[str, int]] = {}
        self.sent: set[str] = set()
        self.answers: list[int] = []
        self.failures: list[tuple[float, str]] = []
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=PATIENCE + 5)

    def _run(self, n: int) -> None:
        for turn in count(n):
            if self.stop.is_set():
                return
            version = "1" if turn % 2 else "2"
            try:
                if self.reads and turn % 4 < 2:
                    status, _, _ = send(f"{self.base}/api/v{version}/books?per_page=5")
                    with self.lock:
                        self.answers.append(status)
                    continue
                book = new_book()
                with self.lock:
                    self.sent.add(book["isbn"])
                status, _, body = send(f"{self.base}/api/v{version}/books", "POST", book, self.auth)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                # Refused, reset, timed out, or cut off in the middle of the answer.
                with self.lock:
                    self.failures.append((time.monotonic(), f"{type(exc).__name__}: {exc}"))
                if self.reads:
                    continue  # counted as a failure; the server is meant to be up
                return
            with self.lock:
                self.answers.append(status)
                if status == 201:
                    self.acknowledged[book["isbn"]] = (version, created_id(version, body))

    def answered(self) -> int:
        with self.lock:
            return len(self.answers)


# 1. kill -9 while writing


def test_a_kill_9_during_writes_loses_no_acknowledged_write(environment, database_url, make_user):
    user = make_user()
    env = environment()
    with gunicorn(env, workers=2) as base:
        with Writers(base, sign_in(base, user.email), threads=6) as writers:
            wait_for(lambda: len(writers.acknowledged) >= 40, 15, "40 books created")
            crashed = time.monotonic()
            crash(base)  # master and workers, SIGKILL, in the middle of the stream
    assert set(writers.answers) == {201}, writers.answers  # until the crash, every POST was
    # Every thread was still writing: each lost its connection at the crash, not before.
    assert len(writers.failures) == len(writers.threads)
    assert all(when >= crashed for when, _ in writers.failures), writers.failures
    acknowledged = writers.acknowledged
    stored = isbns_in(database_url)
    assert len(stored) == len(set(stored))
    assert set(acknowledged) <= set(stored), set(acknowledged) - set(stored)
    assert set(stored) <= writers.sent  # nothing but what the clients sent
    if database_url.startswith("sqlite"):
        engine = sa.create_engine(database_url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
        engine.dispose()

    with gunicorn(env, workers=2) as base:
        for isbn, (version, book_id) in acknowledged.items():
            status, _, body = send(f"{base}/api/v1/books/{book_id}")
            assert status == 200, (version, book_id, body)
            assert body["isbn"] == isbn
        status, headers, body = send(f"{base}/api/v2/books?per_page=100")
        assert status == 200
        assert body["pagination"]["total_items"] == len(stored)
        status, _, body = send(f"{base}/api/v1/books?per_page=100&sort=title&order=asc")
        assert status == 200
        assert body["total"] == len(stored)
        # And it takes writes again.
        status, _, _ = send(f"{base}/api/v2/books", "POST", new_book(), sign_in(base, user.email))
        assert status == 201
        assert_clean_log(base, env)


# 2. The database goes away and comes back


def _reset(sock: socket.socket) -> None:
    """Drop a connection abruptly (RST), waking any thread blocked on it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class Proxy:
    """A TCP proxy on 127.0.0.1 in front of the database: ``cut()`` drops every connection
    and refuses new ones (nothing listens on its port), ``stall()`` drops every connection and
    accepts new ones but never answers them (a database that hangs), ``restore()`` serves
    again."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.port = free_port()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._stalled = False
        self._held: list[socket.socket] = []  # connections accepted while stalled

    def __enter__(self) -> Proxy:
        self.restore()
        return self

    def __exit__(self, *exc) -> None:
        self.cut()

    def restore(self) -> None:
        if self._stalled:
            self._stalled = False
            self.cut()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            doomed, self._connections = list(self._connections), set()
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            except OSError:
                pass
            listener.close()
            self._acceptor.join(timeout=5)
        for sock in doomed + self._held:
            _reset(sock)
        self._held = []

    def stall(self) -> None:
        with self._lock:
            self._stalled = True
            doomed, self._connections = self._connections, set()
        for sock in doomed:
            _reset(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            if self._stalled:
                self._held.append(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=TIMEOUT)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    _reset(client)
                    _reset(upstream)
                    return
                self._connections |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:
            ours = source in self._connections
            self._connections -= {source, sink}
        if ours:  # one side closed: so does the other
            _reset(source)
            _reset(sink)


def assert_database_unavailable(
    version: str | None, status, headers, body, took, within: float = TIMEOUT - 1
) -> None:
    assert took < within, f"{took:.1f} s to answer"
    assert status == 503, body
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Retry-After"]) > 0
    if version == "2":
        assert body["success"] is False
        assert body["error"]["code"] == 503
        assert body["error"]["reason"] == "database_unavailable"
    else:  # v1 and the unversioned default (v1)
        assert set(body) <= {"error", "details", "code"}, body
        assert body["code"] == "database_unavailable"
        assert body["error"]


@contextmanager
def behind_proxy(database_url: str):
    """A Proxy in front of the test's PostgreSQL and the DATABASE_URL that goes through it."""
    if database_url.startswith("sqlite"):
        pytest.skip("an outage needs a database behind a network connection: PostgreSQL only")
    real = sa.make_url(database_url)
    with Proxy((real.host or "127.0.0.1", real.port or 5432)) as proxy:
        yield (
            proxy,
            real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        )


def test_a_database_outage_is_a_json_503_and_the_server_recovers(
    environment, database_url, make_user
):
    user = make_user()
    with behind_proxy(database_url) as (proxy, proxied):
        # Usage counts are flushed every second, so the flusher meets the outage too.
        env = environment(DATABASE_URL=proxied, USAGE_FLUSH_SECONDS="1")
        with gunicorn(env, workers=2) as base:
            auth = sign_in(base, user.email)
            status, _, body = send(f"{base}/api/v2/books", "POST", new_book(), auth)
            assert status == 201
            book = body["data"]["id"]

            def requests() -> list[tuple[str | None, str, str, dict | None]]:
                """(version, method, URL, body) of each kind of request, reads and writes."""
                kinds = [(None, "GET", f"{base}/api/books", None)]  # unversioned: v1
                for version in ("1", "2"):
                    api = f"{base}/api/v{version}"
                    kinds += [
                        (version, "GET", f"{api}/health", None),
                        (version, "GET", f"{api}/books", None),
                        (version, "GET", f"{api}/books/{book}", None),
                        (version, "POST", f"{api}/books", new_book()),
                        (version, "GET", f"{api}/auth/me", None),
                    ]
                return kinds

            def timed(method, url, body):
                started = time.monotonic()
                status, headers, answer = send(url, method, body, auth, timeout=TIMEOUT)
                return status, headers, answer, time.monotonic() - started

            for _, method, url, body in requests():
                assert timed(method, url, body)[0] in (200, 201), url

            proxy.cut()
            for _ in range(3):  # enough for both workers to meet it
                for version, method, url, body in requests():
                    assert_database_unavailable(version, *timed(method, url, body))

            proxy.restore()
            restored = time.monotonic()
            streak = 0  # answers in a row that were not a 503
            while streak < 2 * len(requests()):  # every kind twice in a row
                waited = time.monotonic() - restored
                assert waited < RECOVERY_SECONDS, f"not serving {waited:.1f} s after the database"
                for _, method, url, body in requests():
                    status, _, answer, _ = timed(method, url, body)
                    assert status in (200, 201, 503), (url, status, answer)
                    streak = streak + 1 if status != 503 else 0
        log = server_log(base, env)
        assert "database unavailable: OperationalError" in log
        assert_clean_log(base, env)


def test_a_database_that_does_not_answer_is_a_503_within_the_connect_timeout(
    environment, database_url, make_user
):
    user = make_user()
    with behind_proxy(database_url) as (proxy, proxied):
        env = environment(DATABASE_URL=proxied)
        with gunicorn(env) as base:
            auth = sign_in(base, user.email)
            proxy.stall()  # connections are accepted, and never answered
            took = []
            for version, method, body in (("1", "GET", None), ("2", "POST", new_book())):
                started = time.monotonic()
                status, headers, answer = send(
                    f"{base}/api/v{version}/books", method, body, auth, timeout=PATIENCE
                )
                took.append(time.monotonic() - started)
                assert_database_unavailable(
                    version, status, headers, answer, took[-1], DATABASE_CONNECT_TIMEOUT + 2
                )
            assert max(took) > DATABASE_CONNECT_TIMEOUT - 1  # it did wait for the database

            proxy.restore()
            wait_for(
                lambda: send(f"{base}/api/v1/books", timeout=TIMEOUT)[0] == 200,
                RECOVERY_SECONDS,
                "serving again",
            )
        assert_clean_log(base, env)


# 3. SIGHUP under load


def test_sighup_replaces_the_workers_without_failing_a_request(
    environment, database_url, make_user
):
    user = make_user()
    env = environment()
    with gunicorn(env, workers=2) as base:
        master = PROCESSES[base].pid
        wait_for(lambda: len(workers(base)) == 2, 10, "two workers")
        generations = [workers(base)]
        with Writers(base, sign_in(base, user.email), threads=4, reads=True) as load:
            wait_for(lambda: load.answered() >= 20, 10, "20 answers")
            for _ in range(2):
                old = generations[-1]
                os.kill(master, signal.SIGHUP)
                wait_for(
                    lambda old=old: (now := workers(base)).isdisjoint(old) and len(now) == 2,
                    PATIENCE,
                    "the old workers replaced",
                )
                generations.append(workers(base))
                answered = load.answered()
                wait_for(lambda n=answered: load.answered() >= n + 20, PATIENCE, "20 answers more")
        assert load.failures == []
        assert load.answers and all(200 <= status < 300 for status in load.answers), sorted(
            set(load.answers)
        )
        assert len(set().union(*generations)) == 6
        booted = set(map(int, re.findall(r"Booting worker with pid: (\d+)", server_log(base, env))))
        assert booted == set().union(*generations)
        assert_clean_log(base, env)
    assert sorted(isbns_in(database_url)) == sorted(load.acknowledged)


# 4. SIGTERM with a request in flight


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response off ``sock``: its status, headers and Content-Length body."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {answer!r}"
        answer += chunk
    status, headers, body = parse_answer(answer)
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of the body"
        body += chunk
    return status, headers, body


def unread(sock: socket.socket) -> int | None:
    """How many bytes sent on ``sock`` the server has not read yet (the receive queue of its
    end of the connection, from /proc/net/tcp); None when that end is not found."""
    ours = sock.getsockname()[1]
    theirs = sock.getpeername()[1]
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, queues = fields[1], fields[2], fields[4]
        if int(local.split(":")[1], 16) == theirs and int(remote.split(":")[1], 16) == ours:
            return int(queues.split(":")[1], 16)
    return None


def test_sigterm_lets_a_request_in_flight_finish(environment, database_url, make_user):
    user = make_user()
    env = environment()
    book = new_book()
    body = json.dumps(book).encode()
    with gunicorn(env, workers=2) as base:
        process = PROCESSES[base]
        token = sign_in(base, user.email)["Authorization"]
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=PATIENCE) as sock:
            # A first request on the connection: a worker holds it from now on.
            sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_response(sock)[0] == 200
            sock.sendall(
                b"POST /api/v2/books HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: {token}\r\nContent-Type: application/json\r\n".encode()
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[: len(body) // 2]
            )
            # The worker has read the head and half the body: the request is under way.
            wait_for(lambda: unread(sock) == 0, 5, "the worker reads the request")
            os.kill(process.pid, signal.SIGTERM)
            # Master and workers have closed the listening socket: they are stopping.
            wait_for(lambda: not listening(base), 5, "the server stops listening")
            assert process.poll() is None  # waiting for the request in flight
            sock.sendall(body[len(body) // 2 :])
            status, _, answer = read_response(sock)
        assert status == 201, answer
        assert json.loads(answer)["data"]["isbn"] == book["isbn"]
        assert process.wait(timeout=10) == 0
        assert_clean_log(base, env)
    assert isbns_in(database_url) == [book["isbn"]]
