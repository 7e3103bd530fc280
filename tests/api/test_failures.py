"""Failures in both versions: an unreachable database is a 503, anything unexpected a bare 500."""

import logging

import pytest
import sqlalchemy as sa
from flask_jwt_extended import create_access_token

from core.services import auth, books
from tests.conftest import PASSWORD, Api, bearer

UNREACHABLE = {
    # Nothing listens on port 1: the connection is refused at once.
    "postgresql": lambda tmp_path: "postgresql+psycopg://postgres@127.0.0.1:1/none",
    "sqlite": lambda tmp_path: f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'books.db'}",
}
SECRET = "secret SQL SELECT * FROM users password=hunter2"
LEAKS = ("hunter2", "SELECT", "Traceback", "RuntimeError", "ProgrammingError")


@pytest.fixture(params=sorted(UNREACHABLE), ids=lambda kind: f"unreachable-{kind}")
def down_app(request, app, make_app, tmp_path):
    """An app whose database cannot be reached; ``app`` is built first so cleanup still works."""
    return make_app(DATABASE_URL=UNREACHABLE[request.param](tmp_path))


@pytest.fixture
def down(down_app, version) -> Api:
    return Api(down_app.test_client(), version)


def assert_database_unavailable(api: Api, response) -> None:
    assert response.status_code == 503
    assert response.is_json
    assert response.headers["API-Version"] == api.version
    assert api.error(response)["reason"] == "database_unavailable"
    body = response.get_data(as_text=True)
    for leak in ("OperationalError", "Traceback", "127.0.0.1", "psycopg", "sqlite3"):
        assert leak not in body


# Database unreachable


def test_health_is_200_when_the_database_is_fine(api):
    response = api.get("/health")
    assert response.status_code == 200
    assert api.data(response) == {"status": "ok", "database": "ok"}


def test_app_builds_and_health_answers_503_when_the_database_is_unreachable(down):
    assert_database_unavailable(down, down.get("/health"))


@pytest.mark.parametrize("path", ["/health", "/books"])
def test_database_unavailable_tells_clients_when_to_retry(down, path):
    response = down.get(path)
    assert response.status_code == 503
    assert "Retry-After" in response.headers, "a 503 must tell clients when to retry"
    assert int(response.headers["Retry-After"]) > 0


def test_listing_books_answers_503_when_the_database_is_unreachable(down):
    assert_database_unavailable(down, down.get("/books"))


def test_reading_a_book_answers_503_when_the_database_is_unreachable(down):
    assert_database_unavailable(down, down.get("/books/1"))


def test_login_answers_503_not_401_when_the_database_is_unreachable(down):
    response = down.post("/auth/login", json={"email": "a@example.com", "password": PASSWORD})
    assert_database_unavailable(down, response)


def test_signed_in_request_answers_503_when_the_database_is_unreachable(down, down_app):
    with down_app.app_context():
        headers = bearer(create_access_token(identity="1"))
    response = down.post("/books", json={"title": "T", "author": "A"}, headers=headers)
    assert_database_unavailable(down, response)


def test_unversioned_request_answers_503_in_the_chosen_versions_shape(down, down_app):
    client = down_app.test_client()
    response = client.get("/api/books", headers={"API-Version": down.version})
    assert_database_unavailable(down, response)


# Unexpected exceptions


def fail_with(exc: Exception):
    def fail(*args, **kwargs):
        raise exc

    return fail


FAILING_CALLS = {
    "list": (books, "list_books", lambda api, h: api.get("/books")),
    "read": (books, "get_book", lambda api, h: api.get("/books/1")),
    "create": (
        books,
        "create_book",
        lambda api, h: api.post("/books", json={"title": "T", "author": "A"}, headers=h),
    ),
    "login": (
        auth,
        "authenticate",
        lambda api, h: api.post("/auth/login", json={"email": "a@example.com", "password": "x"}),
    ),
}


def assert_bare_500(api: Api, response, caplog) -> None:
    assert response.status_code == 500
    assert response.is_json
    error = api.error(response)
    assert error["message"] == "An unexpected error occurred"
    assert error["reason"] == "internal_error"
    assert not error["details"]
    body = response.get_data(as_text=True)
    for leak in LEAKS:
        assert leak not in body
    # The failure is logged, but without its message, parameters or a traceback.
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors
    for record in caplog.records:
        assert "hunter2" not in record.getMessage()
        assert "SELECT" not in record.getMessage()
    assert "hunter2" not in caplog.text
    assert "SELECT" not in caplog.text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("call", sorted(FAILING_CALLS))
def test_unexpected_exception_is_a_bare_500(api, user, auth_headers, monkeypatch, caplog, call):
    module, name, send = FAILING_CALLS[call]
    monkeypatch.setattr(module, name, fail_with(RuntimeError(SECRET)))
    caplog.set_level(logging.DEBUG)
    assert_bare_500(api, send(api, auth_headers(user)), caplog)


def test_unexpected_database_error_is_a_500_without_sql(api, monkeypatch, caplog):
    error = sa.exc.ProgrammingError(
        "SELECT * FROM users WHERE password = %(p)s", {"p": "hunter2"}, Exception(SECRET)
    )
    monkeypatch.setattr(books, "list_books", fail_with(error))
    caplog.set_level(logging.DEBUG)
    assert_bare_500(api, api.get("/books"), caplog)


def test_lost_database_connection_is_a_503_without_sql(api, monkeypatch, caplog):
    error = sa.exc.OperationalError(
        "SELECT * FROM users WHERE password = %(p)s", {"p": "hunter2"}, Exception(SECRET)
    )
    monkeypatch.setattr(books, "list_books", fail_with(error))
    caplog.set_level(logging.DEBUG)
    response = api.get("/books")
    assert_database_unavailable(api, response)
    for leak in LEAKS:
        assert leak not in response.get_data(as_text=True)
    assert "hunter2" not in caplog.text
    assert "SELECT" not in caplog.text
    assert "Traceback" not in caplog.text


def test_unexpected_exception_on_an_unversioned_url_is_a_bare_500(
    client, version, monkeypatch, caplog
):
    monkeypatch.setattr(books, "list_books", fail_with(RuntimeError(SECRET)))
    caplog.set_level(logging.DEBUG)
    response = client.get("/api/books", headers={"API-Version": version})
    assert response.headers["API-Version"] == version
    assert_bare_500(Api(client, version), response, caplog)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (RuntimeError(SECRET), 500),
        (sa.exc.OperationalError("SELECT 1", None, Exception("connection lost")), 503),
    ],
    ids=["unexpected", "connection-lost"],
)
def test_the_app_keeps_serving_after_a_failed_request(api, make_book, monkeypatch, error, status):
    make_book(title="Dune")
    with monkeypatch.context() as patch:
        patch.setattr(books, "list_books", fail_with(error))
        assert api.get("/books").status_code == status
    response = api.get("/books")
    assert response.status_code == 200
    assert [b["title"] for b in api.items(response)] == ["Dune"]
