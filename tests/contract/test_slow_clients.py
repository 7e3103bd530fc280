"""Slow and idle clients against the real server (`gunicorn -c gunicorn.conf.py wsgi:app`, whose
worker is serving.Worker): they never starve a legitimate request, and what does not arrive in
time is closed with a JSON 408 in the version's shape."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.request

import pytest

from tests.conftest import _prepare_database
from tests.live import gunicorn, parse_answer, server_env, server_log

pytestmark = pytest.mark.gunicorn

READ_TIMEOUT = 2  # REQUEST_READ_TIMEOUT for this module's server, seconds
KEEPALIVE = 1


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slow")
    url = f"sqlite:///{tmp / 'books.db'}"
    _prepare_database(url)
    env = server_env(
        url,
        tmp,
        RATELIMIT_ENABLED="true",
        REQUEST_LOG="true",
        REQUEST_READ_TIMEOUT=str(READ_TIMEOUT),
        KEEPALIVE_SECONDS=str(KEEPALIVE),
    )
    with gunicorn(env) as base:  # one worker: a slow client must not be able to hold it
        yield base, env
        assert "unhandled error" not in server_log(base, env)


def connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=READ_TIMEOUT + 5)


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return parse_answer(answer)


def read_one(sock: socket.socket) -> bytes:
    """One whole response (head and Content-Length body) off a kept-alive connection."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[
            1
        ]
    )
    while len(body) < length:
        body += sock.recv(65536)
    assert len(body) == length
    return head


def reason_of(body: bytes, enveloped: bool) -> str:
    payload = json.loads(body)
    return payload["error"]["reason"] if enveloped else payload["code"]


def test_fifty_slowloris_sockets_do_not_delay_a_legitimate_request(server):
    base, _ = server
    slow = [connect(base) for _ in range(50)]
    try:
        for sock in slow:
            sock.sendall(b"GET /api/v2/books HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        for _ in range(3):  # and they keep trickling header bytes
            for sock in slow:
                sock.sendall(b"a")
        started = time.monotonic()
        with urllib.request.urlopen(f"{base}/api/v1/books?per_page=1", timeout=10) as response:
            assert response.status == 200
        assert time.monotonic() - started < 2  # the goal; typically milliseconds
    finally:
        for sock in slow:
            sock.close()


@pytest.mark.parametrize(("path", "enveloped"), [("/api/v1/books", False), ("/api/v2/books", True)])
def test_a_head_that_does_not_arrive_in_time_is_a_json_408(server, path, enveloped):
    base, env = server
    with connect(base) as sock:
        started = time.monotonic()
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Never: ".encode())
        status, headers, body = read_answer(sock)  # ends when the server closes
        waited = time.monotonic() - started
    assert status == 408
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert reason_of(body, enveloped) == "request_timeout"
    assert waited >= READ_TIMEOUT - 0.5  # not refused before its time
    assert "408 request_timeout" in server_log(base, env)  # one log line says why


@pytest.mark.parametrize(
    ("path", "enveloped"), [("/api/v1/auth/login", False), ("/api/v2/auth/login", True)]
)
@pytest.mark.parametrize(
    "framing",
    [
        b"Transfer-Encoding: chunked\r\n\r\nfffffff\r\n{",
        b'Content-Length: 100\r\n\r\n{"email":',
    ],
    ids=["huge-chunk", "short-length"],
)
def test_a_body_that_stalls_is_a_json_408(server, path, enveloped, framing):
    base, _ = server
    with connect(base) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
            + b"Content-Type: application/json\r\n"
            + framing
        )
        status, headers, body = read_answer(sock)
    assert status == 408
    assert reason_of(body, enveloped) == "request_timeout"
    assert headers["connection"] == "close"  # and it is


def test_an_idle_kept_alive_connection_is_closed_quietly(server):
    base, _ = server
    with connect(base) as sock:
        sock.sendall(b"GET /api/v2/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_one(sock).startswith(b"HTTP/1.1 200")
        # Nothing more is sent: after KEEPALIVE seconds the server closes without a word.
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
    assert rest == b""


def test_kept_alive_requests_are_served_one_after_another(server):
    base, _ = server
    with connect(base) as sock:
        for _ in range(3):
            sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_one(sock).startswith(b"HTTP/1.1 200")


def test_a_pipelining_client_does_not_hold_the_worker(server):
    """A connection whose next requests are already waiting takes turns with the others: a
    request on a second connection is served long before the first one's last (the order is
    read from the server's request log)."""
    base, env = server
    pipelined = 1000
    log_before = len(server_log(base, env))
    received = []  # responses read so far on the pipelining connection
    with connect(base) as busy, connect(base) as other:
        busy.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * pipelined)

        def drain():
            stream = busy.makefile("rb")
            for _ in range(pipelined):
                head = b"".join(iter(stream.readline, b"\r\n"))
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                stream.read(int(length.group(1)))
                received.append(head)

        reader = threading.Thread(target=drain)
        reader.start()
        try:
            # Once the worker is busy with the pipelined requests, another client asks.
            while not received and reader.is_alive():
                reader.join(0.001)
            other.sendall(b"GET /api/v2/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_one(other).startswith(b"HTTP/1.1 200")
        finally:
            reader.join(timeout=60)
    assert len(received) == pipelined
    assert all(head.startswith(b"HTTP/1.1 200") for head in received)
    served = [
        json.loads(line)["path"]
        for line in server_log(base, env)[log_before:].splitlines()
        if line.startswith("{")
    ]
    assert served.count("/api/v1/health") == pipelined
    assert served.index("/api/v2/health") < pipelined // 2


def test_a_refused_body_left_unread_is_not_parsed_as_the_next_request(server):
    """401 before the body is read: the rest of the body (here a smuggled request) is dropped
    with the connection, never answered."""
    base, _ = server
    smuggled = b"GET /api/v2/books HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    body = b'{"title": "x"}' + smuggled
    with connect(base) as sock:
        sock.sendall(
            b"POST /api/v2/books HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + f"{len(body):x}\r\n".encode()
            + body
            + b"\r\n"  # and no last chunk: the body never ends
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401")
    assert answer.count(b"HTTP/1.1 ") == 1


def read_head(sock: socket.socket, pending: bytes = b"") -> tuple[bytes, bytes]:
    """A response head off a kept-alive connection and the bytes read past it."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed before the head arrived"
        pending += chunk
    head, _, rest = pending.partition(b"\r\n\r\n")
    return head, rest


def test_answers_without_body_bytes_arrive_whole_on_a_kept_alive_connection(server):
    """The worker holds a response's head until its first body bytes: a 304 and an answer to
    HEAD have none, and still arrive at once, and the connection goes on."""
    base, _ = server
    with connect(base) as sock:
        sock.sendall(b"GET /api/v2/books HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head, body = read_head(sock)
        etag = re.search(rb"(?im)^etag: *(\S+)", head).group(1)
        length = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))
        while len(body) < length:
            body += sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["success"] is True

        sock.sendall(
            b"GET /api/v2/books HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: " + etag + b"\r\n\r\n"
        )
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 304") and rest == b""

        sock.sendall(b"HEAD /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200") and rest == b""

        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_one(sock).startswith(b"HTTP/1.1 200")
