"""OWASP API4:2023 Unrestricted Resource Consumption: pages, bodies, headers, rates bounded."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.models import Book, User
from tests.conftest import PASSWORD, Api, watch_driver
from tests.security.conftest import count_rows

MAX_PER_PAGE = 100


@pytest.fixture
def many_books(app):
    """More books than the largest page, inserted in one transaction."""
    with app.app_context():
        db.session.add_all(Book(title=f"Book {n:03}", author="A") for n in range(MAX_PER_PAGE + 5))
        db.session.commit()
    return MAX_PER_PAGE + 5


def _page_size(api: Api, response) -> int:
    body = response.get_json()
    return body["pagination"]["per_page"] if api.version == "2" else body["per_page"]


# --- pages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("per_page", ["101", "1000", "10" * 20])
def test_per_page_above_the_maximum_is_clamped_to_100(any_api, many_books, per_page):
    response = any_api.get("/books", query_string={"per_page": per_page})

    assert response.status_code == 200
    assert len(any_api.items(response)) == MAX_PER_PAGE
    assert _page_size(any_api, response) == MAX_PER_PAGE
    assert any_api.total(response) == many_books


def test_listing_costs_the_same_queries_for_a_small_and_a_full_page(api, make_book, count_queries):
    for _ in range(3):
        make_book()
    with count_queries() as small:
        assert len(api.items(api.get("/books?per_page=100"))) == 3
    for _ in range(40):
        make_book()
    with count_queries() as full:
        assert len(api.items(api.get("/books?per_page=100"))) == 43

    assert len(full) == len(small)


@pytest.mark.parametrize("page", ["100000", str(2**63), "9" * 30])
def test_a_huge_page_number_is_an_empty_page_not_an_error(api, make_book, page):
    make_book()

    response = api.get("/books", query_string={"page": page})

    assert response.status_code == 200
    assert api.items(response) == []
    assert api.total(response) == 1


@pytest.mark.parametrize("name", ["search", "author"])
def test_a_filter_longer_than_its_column_never_reaches_the_database(
    api, app, make_book, name, monkeypatch
):
    make_book(title="x" * 200, author="x" * 100)
    overlong = "x" * 5000
    sent: list = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(repr(parameters))

    with app.app_context():
        engine = db.engine
    driver = watch_driver(app, monkeypatch)  # reads that go to the driver directly
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        response = api.get("/books", query_string={name: overlong})
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    sent += [repr(parameters) for parameters in driver.parameters]

    assert response.status_code == 200
    assert api.items(response) == []
    assert api.total(response) == 0
    assert sent, "the count still runs"
    assert not any(overlong in parameters for parameters in sent)


# --- bodies --------------------------------------------------------------------------------------


def test_a_body_over_one_mebibyte_is_413_and_stores_nothing(any_api, app, user, auth_headers):
    body = {"title": "T", "author": "A", "description": "x" * (1024 * 1024)}

    response = any_api.post("/books", json=body, headers=auth_headers(user))

    assert response.status_code == 413
    assert any_api.error(response)["reason"] == "payload_too_large"
    assert count_rows(app, Book) == 0


def test_an_over_limit_login_body_is_413_before_any_password_check(make_app, version, user):
    api = Api(make_app(MAX_CONTENT_LENGTH="512").test_client(), version)
    body = {"email": user.email, "password": PASSWORD, "padding": "x" * 1024}

    response = api.post("/auth/login", json=body)

    assert response.status_code == 413
    assert api.error(response)["reason"] == "payload_too_large"


def test_a_chunked_body_over_the_limit_is_413_and_stores_nothing(
    make_app, app, version, user, auth_headers
):
    api = Api(make_app(MAX_CONTENT_LENGTH="1024").test_client(), version)

    def send_chunked(raw: bytes):
        # As gunicorn hands a chunked request over: no Content-Length, a terminated stream.
        return api.post(
            "/books",
            input_stream=io.BytesIO(raw),
            headers={
                **auth_headers(user),
                "Content-Type": "application/json",
                "Transfer-Encoding": "chunked",
            },
            environ_overrides={"wsgi.input_terminated": True},
        )

    assert send_chunked(b'{"title": "T", "author": "A"}').status_code == 201
    response = send_chunked(b'{"title": "T", "author": "A", "description": "' + b"x" * 4096 + b'"}')

    assert response.status_code == 413
    assert api.error(response)["reason"] == "payload_too_large"
    assert count_rows(app, Book) == 1


def test_deeply_nested_json_is_400_not_500(api, app, user, auth_headers):
    raw = "[" * 50_000 + "]" * 50_000

    response = api.post(
        "/books", data=raw, content_type="application/json", headers=auth_headers(user)
    )

    assert response.status_code == 400
    assert api.error(response)["reason"] in ("malformed_json", "invalid_body")
    assert count_rows(app, Book) == 0


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
def test_passwords_over_128_characters_are_refused_before_hashing(api, app, user, path):
    email = "long@example.com" if path == "/auth/register" else user.email

    response = api.post(path, json={"email": email, "password": "p" * 129})

    assert response.status_code == 422
    assert "password" in api.error(response)["details"]
    assert count_rows(app, User) == 1


# --- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"X-Padding": "x" * 17_000}, {f"X-Padding-{n}": "x" * 100 for n in range(200)}],
    ids=["one-large-header", "many-small-headers"],
)
def test_oversized_request_headers_are_431(api, app, user, auth_headers, headers):
    response = api.post(
        "/books", json={"title": "T", "author": "A"}, headers={**auth_headers(user), **headers}
    )

    assert response.status_code == 431
    assert api.error(response)["reason"] == "headers_too_large"
    assert count_rows(app, Book) == 0


# --- rates ---------------------------------------------------------------------------------------


def test_every_client_meets_429_after_the_default_limit(limited, version):
    client = limited(RATELIMIT_DEFAULT="3 per minute")
    api = Api(client, version)

    statuses = [api.get("/books").status_code for _ in range(4)]
    refused = api.get("/books?page=2")

    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert api.error(refused)["reason"] == "rate_limited"


def test_health_is_exempt_from_limits_so_probes_never_lock_out_clients(limited):
    client = limited(RATELIMIT_DEFAULT="2 per minute")

    statuses = [client.get(url).status_code for url in ["/api/health", "/api/v1/health"] * 3]

    assert statuses == [200] * 6
    assert client.get("/api/v2/books").status_code == 200
