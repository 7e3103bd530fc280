"""Protocol garbage against the real server: `gunicorn wsgi:app -c gunicorn.conf.py`, spoken to
over raw sockets, since no HTTP client library sends broken chunked bodies or bad Hosts.

Every answer is a 4xx; up to gunicorn's hard caps it is the app's JSON in the version's shape.
"""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import _prepare_database
from tests.live import gunicorn, parse_answer, server_env, server_log

pytestmark = pytest.mark.gunicorn

JSON_POST = b"Content-Type: application/json\r\nConnection: close\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One gunicorn (one worker) for the module, on its own SQLite database."""
    tmp = tmp_path_factory.mktemp("garbage")
    url = f"sqlite:///{tmp / 'books.db'}"
    _prepare_database(url)
    env = server_env(
        url,
        tmp,
        RATELIMIT_ENABLED="true",  # the login limiter reads the body before the route
        REQUEST_LOG="true",
        TRUSTED_HOSTS="127.0.0.1,localhost",
    )
    with gunicorn(env) as base:
        yield base, env
        # Nothing reached the app's last-resort handler.
        assert "unhandled error" not in server_log(base, env)


def exchange(base: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` on a new connection, close our side, read the whole answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return parse_answer(answer)


def json_error(status: int, headers: dict, body: bytes, enveloped: bool) -> str:
    """The reason of a JSON error in v1's flat shape or v2's envelope."""
    assert headers["content-type"] == "application/json", body[:300]
    payload = json.loads(body)
    if enveloped:
        assert payload["success"] is False and payload["error"]["code"] == status
        return payload["error"]["reason"]
    assert set(payload) <= {"error", "code", "details"}
    return payload["code"]


def host(base: str) -> bytes:
    return b"Host: " + base.removeprefix("http://").encode() + b"\r\n"


BODIES = {
    "bad-chunk-size": b"zz\r\n{}\r\n0\r\n\r\n",
    "chunk-longer-than-declared": b'2\r\n{"email": "a@example.com"}\r\n0\r\n\r\n',
    "chunk-without-terminator": b"2\r\n{}xx0\r\n\r\n",
    "ends-inside-a-chunk": b'20\r\n{"email"',
}
ROUTES = [
    ("/api/v1/auth/login", False),
    ("/api/v2/auth/login", True),
    ("/api/v1/auth/register", False),
    ("/api/v2/auth/register", True),
    ("/api/auth/register", False),  # unversioned: the default version, v1
]


@pytest.mark.parametrize("body", list(BODIES.values()), ids=list(BODIES))
@pytest.mark.parametrize(("path", "enveloped"), ROUTES, ids=[p for p, _ in ROUTES])
def test_a_malformed_chunked_body_is_a_json_400(server, body, path, enveloped):
    base, _ = server
    request = (
        f"POST {path} HTTP/1.1\r\n".encode()
        + host(base)
        + JSON_POST
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + body
    )
    status, headers, payload = exchange(base, request)
    assert status == 400, payload[:300]
    assert json_error(status, headers, payload, enveloped) == "malformed_body"


@pytest.mark.parametrize(("path", "enveloped"), ROUTES, ids=[p for p, _ in ROUTES])
def test_a_body_shorter_than_its_content_length_is_a_json_400(server, path, enveloped):
    base, _ = server
    request = (
        f"POST {path} HTTP/1.1\r\n".encode()
        + host(base)
        + JSON_POST
        + b'Content-Length: 100\r\n\r\n{"email": "a@example.com"'
    )
    status, headers, payload = exchange(base, request)
    assert status == 400, payload[:300]
    assert json_error(status, headers, payload, enveloped) == "malformed_body"


def get_books(base: str, extra: bytes) -> bytes:
    return b"GET /api/v2/books HTTP/1.1\r\n" + host(base) + b"Connection: close\r\n" + extra


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(b"X-Padding: " + b"a" * 20_000 + b"\r\n", id="one-20k-header"),
        pytest.param(b"X-Padding: " + b"a" * 60_000 + b"\r\n", id="one-60k-header"),
        pytest.param(
            b"".join(b"X-%d: %s\r\n" % (n, b"a" * 90) for n in range(200)), id="200-headers-20k"
        ),
    ],
)
def test_oversized_headers_are_the_apps_json_431(server, headers):
    base, _ = server
    status, response_headers, payload = exchange(base, get_books(base, headers) + b"\r\n")
    assert status == 431
    assert json_error(status, response_headers, payload, True) == "headers_too_large"


@pytest.mark.parametrize(("path", "enveloped"), [("/api/v1/books", False), ("/api/v2/books", True)])
def test_headers_beyond_the_hard_cap_are_the_servers_json_431(server, path, enveloped):
    """A header line over 64 KiB never reaches the app: the worker answers it, in JSON."""
    base, env = server
    padding = b"X-Padding: " + b"a" * 70_000 + b"\r\n"
    request = f"GET {path} HTTP/1.1\r\n".encode() + host(base) + padding + b"\r\n"
    status, headers, payload = exchange(base, request)
    assert status == 431
    assert json_error(status, headers, payload, enveloped) == "headers_too_large"
    assert headers["connection"] == "close"
    assert "a" * 100 not in server_log(base, env)  # the refusal is logged without the bytes


@pytest.mark.parametrize(("path", "enveloped"), [("/api/v1/books", False), ("/api/v2/books", True)])
def test_a_request_line_over_the_limit_is_a_json_414(server, path, enveloped):
    base, _ = server
    request = f"GET {path}?q={'a' * 9000} HTTP/1.1\r\n".encode() + host(base) + b"\r\n"
    status, headers, payload = exchange(base, request)
    assert status == 414
    assert json_error(status, headers, payload, enveloped) == "uri_too_long"


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /api/v2/books HTTP/1.1\r\nBad Header Name: x\r\n\r\n",
        b"GET /api/v2/books HTTP/9.9\r\n\r\n",
        b"GET /api/v2/books HTTP/1.1\r\nHost: a\r\nContent-Length: zz\r\n\r\n",
    ],
    ids=["header-name", "http-version", "content-length"],
)
def test_a_head_gunicorn_cannot_parse_is_a_json_400_in_the_paths_version(server, raw):
    base, _ = server
    status, headers, payload = exchange(base, raw)
    assert status == 400
    assert json_error(status, headers, payload, True) == "malformed_request"


def test_garbage_without_a_path_is_a_json_400_in_the_unversioned_shape(server):
    base, _ = server
    status, headers, payload = exchange(base, b"\x00\x01 nonsense\r\n\r\n")
    assert status == 400
    assert json_error(status, headers, payload, False) == "malformed_request"


@pytest.mark.parametrize(
    "value",
    [b"[::1", b"\xff\xfe", b"a b", b"evil.test", b"127.0.0.1:99999"],
    ids=["unclosed-ipv6", "not-utf8", "space", "untrusted", "bad-port"],
)
@pytest.mark.parametrize(("path", "enveloped"), [("/api/v1/books", False), ("/api/v2", True)])
def test_a_bad_host_is_a_json_400(server, value, path, enveloped):
    base, _ = server
    request = f"GET {path} HTTP/1.1\r\nHost: ".encode() + value + b"\r\nConnection: close\r\n\r\n"
    status, headers, payload = exchange(base, request)
    assert status == 400, payload[:300]
    assert json_error(status, headers, payload, enveloped) == "invalid_host"
    assert value not in payload


def test_a_trusted_host_is_served(server):
    base, _ = server
    status, _, payload = exchange(base, get_books(base, b"\r\n"))
    assert status == 200
    assert json.loads(payload)["links"]["self"].startswith(f"{base}/api/v2/books")
