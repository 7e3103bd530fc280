"""Protocol garbage is a 4xx in the serving version's shape, never a 5xx: bodies the server
cannot read (broken chunked encoding, a client gone) and malformed or untrusted Hosts.

The real gunicorn, with raw sockets, is in tests/contract/test_protocol_garbage_live.py."""

from __future__ import annotations

import io

import pytest
from gunicorn.http.errors import ChunkMissingTerminator, InvalidChunkSize
from werkzeug.exceptions import ClientDisconnected

from api.platform import bodies
from tests.api.test_request_errors import assert_error
from tests.conftest import PASSWORD, Api


class Breaking(io.RawIOBase):
    """A wsgi.input that yields a few bytes, then raises what a server raises mid-body."""

    def __init__(self, error: BaseException):
        self.error = error
        self.sent = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.sent:
            self.sent = True
            buffer[:2] = b'{"'
            return 2
        raise self.error


ERRORS = pytest.mark.parametrize(
    "error",
    [
        pytest.param(lambda: InvalidChunkSize(b"zz"), id="gunicorn-invalid-chunk-size"),
        pytest.param(lambda: ChunkMissingTerminator(b"em"), id="gunicorn-missing-terminator"),
        pytest.param(lambda: ClientDisconnected(), id="werkzeug-client-disconnected"),
        pytest.param(lambda: OSError("connection reset"), id="oserror"),
    ],
)


def chunked(error: BaseException) -> dict:
    """Test-client arguments for a chunked JSON body whose reading fails with ``error``."""
    return {
        "content_type": "application/json",
        "headers": {"Transfer-Encoding": "chunked"},
        # As gunicorn declares a chunked body: no length, a stream that ends where it does.
        "environ_overrides": {"wsgi.input": Breaking(error), "wsgi.input_terminated": True},
    }


@ERRORS
@pytest.mark.parametrize("path", ["/auth/login", "/auth/register"])
def test_an_unreadable_body_on_a_public_post_is_400(api, error, path):
    response = api.post(path, **chunked(error()))
    assert_error(api, response, 400, "malformed_body")


@ERRORS
@pytest.mark.parametrize("method", ["post", "put"])
def test_an_unreadable_book_body_is_400_and_writes_nothing(
    api, make_book, user, auth_headers, error, method
):
    book = make_book(creator=user)
    path = "/books" if method == "post" else f"/books/{book.id}"
    kw = chunked(error())
    kw["headers"].update(auth_headers(user))
    response = getattr(api, method)(path, **kw)
    assert_error(api, response, 400, "malformed_body")
    assert api.total(api.get("/books")) == 1


def test_a_body_shorter_than_its_content_length_is_400(api):
    response = api.post(
        "/auth/register",
        content_type="application/json",
        # As gunicorn hands over a body whose client closed early: what arrived, no error.
        environ_overrides={
            "CONTENT_LENGTH": "100",
            "wsgi.input": io.BytesIO(b'{"email": "a@example.com"}'),
            "wsgi.input_terminated": True,
        },
    )
    assert_error(api, response, 400, "malformed_body")


def test_an_unreadable_body_on_the_unversioned_url_uses_the_header_version(client):
    kw = chunked(InvalidChunkSize(b"zz"))
    kw["headers"]["API-Version"] = "2"
    response = client.post("/api/auth/login", **kw)
    assert response.status_code == 400
    assert response.get_json()["error"]["reason"] == "malformed_body"


def test_a_login_with_an_unreadable_body_is_400_with_rate_limits_on(make_app, version):
    """The limiter's per-email key reads the body first; it must not turn the error into a 500
    nor spend the route's chance to refuse it."""
    client = make_app(RATELIMIT_ENABLED="true").test_client()
    response = client.post(f"/api/v{version}/auth/login", **chunked(InvalidChunkSize(b"zz")))
    assert response.status_code == 400
    assert "malformed_body" in response.get_data(as_text=True)


def test_a_readable_login_still_works_with_rate_limits_on(make_app, make_user):
    user = make_user()
    client = make_app(RATELIMIT_ENABLED="true").test_client()
    body = {"email": user.email, "password": PASSWORD}
    assert client.post("/api/v2/auth/login", json=body).status_code == 200


def test_the_parse_error_is_400_even_when_read_outside_read_body(app):
    """A route reading wsgi.input itself still gets a 400 for gunicorn's parse errors."""

    @app.post("/api/v1/raw-read")
    def raw_read():
        from flask import request

        request.environ["wsgi.input"].read()
        return "read"

    response = app.test_client().post("/api/v1/raw-read", **chunked(InvalidChunkSize(b"zz")))
    assert response.status_code == 400
    assert response.get_json()["code"] == "malformed_body"


def test_without_gunicorn_only_werkzeug_errors_are_recognised(monkeypatch):
    import sys

    bodies._server_parse_errors.cache_clear()
    monkeypatch.setitem(sys.modules, "gunicorn.http.errors", None)  # import fails
    try:
        assert bodies._server_parse_errors() == ()
        assert bodies.is_body_read_error(ClientDisconnected())
        assert not bodies.is_body_read_error(InvalidChunkSize(b"zz"))
        assert not bodies.is_body_read_error(ValueError())
    finally:
        bodies._server_parse_errors.cache_clear()


# --- Host -----------------------------------------------------------------------------------

MALFORMED_HOSTS = pytest.mark.parametrize(
    "host",
    [
        pytest.param("[::1", id="unclosed-ipv6"),
        pytest.param("a b", id="space"),
        pytest.param("\xff\xfe", id="not-utf8"),  # as gunicorn passes bytes: latin-1 text
        pytest.param("bücher.example.com", id="non-ascii"),
        pytest.param("127.0.0.1:99999", id="port-out-of-range"),
        pytest.param("", id="empty"),
    ],
)


def with_host(host: str) -> dict:
    return {"environ_overrides": {"HTTP_HOST": host}}


@MALFORMED_HOSTS
def test_a_malformed_host_is_400_in_the_version_shape(api, host):
    response = api.get("/books", **with_host(host))
    error = assert_error(api, response, 400, "invalid_host")
    assert "http:///" not in response.get_data(as_text=True)
    assert error["details"] is None


@MALFORMED_HOSTS
def test_a_malformed_host_on_login_is_400_before_anything_else(api, make_user, host):
    user = make_user()
    body = {"email": user.email, "password": PASSWORD}
    response = api.post("/auth/login", json=body, **with_host(host))
    assert_error(api, response, 400, "invalid_host")


def test_a_malformed_host_outside_the_api_is_a_json_400(client):
    response = client.get("/nowhere", **with_host("[::1"))
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_host"


def test_the_unversioned_url_refuses_a_bad_host_in_the_header_version(client):
    response = client.get("/api/books", headers={"API-Version": "2"}, **with_host("a b"))
    assert response.status_code == 400
    assert response.get_json()["error"]["reason"] == "invalid_host"


@pytest.fixture
def trusted(make_app):
    return make_app(TRUSTED_HOSTS="books.example.com, .Example.org").test_client()


@pytest.mark.parametrize("host", ["evil.test", "books.example.com.evil.test", "example.com"])
def test_a_host_outside_trusted_hosts_is_400(trusted, version, host):
    api = Api(trusted, version)
    response = api.get("/books", **with_host(host))
    assert_error(api, response, 400, "invalid_host")
    assert host not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "host", ["books.example.com", "books.example.com:8443", "example.org", "api.example.org"]
)
def test_links_are_built_from_a_trusted_host(trusted, host):
    response = trusted.get("/api/v2/books", **with_host(host))
    assert response.status_code == 200
    assert response.get_json()["links"]["self"].startswith(f"http://{host}/api/v2/books")


def test_a_deprecated_version_builds_no_successor_link_from_a_refused_host(make_app):
    client = make_app(
        TRUSTED_HOSTS="books.example.com", V1_DEPRECATED_AT="2026-01-01T00:00:00Z"
    ).test_client()
    response = client.get("/api/v1/books", **with_host("evil.test"))
    assert response.status_code == 400
    assert response.headers["Deprecation"]
    assert "Link" not in response.headers
    served = client.get("/api/v1/books", **with_host("books.example.com"))
    assert 'books.example.com/api/v2/books>; rel="successor-version"' in served.headers["Link"]


def test_the_docs_page_starts_and_serves_under_trusted_hosts(make_app):
    client = make_app(TRUSTED_HOSTS="books.example.com").test_client()
    response = client.get("/api/docs/", **with_host("books.example.com"))
    assert response.status_code == 200
    assert b"/api/v2/openapi.json" in response.data
