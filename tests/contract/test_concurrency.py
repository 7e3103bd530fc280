"""Racing requests for the same ISBN or email: exactly one wins, the rest get 409, never 500."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from core.extensions import db
from core.models import Book, User
from core.services import books
from tests.conftest import PASSWORD

ISBN = "9780441172719"
# Only a safety net so a broken barrier fails the test instead of hanging it.
BARRIER_TIMEOUT_SECONDS = 60


def race(app, count: int, request) -> list:
    """Run ``request(client, n)`` from ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count, timeout=BARRIER_TIMEOUT_SECONDS)

    def run(n: int):
        client = app.test_client()
        barrier.wait()
        return request(client, n)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def books_with_isbn(app, isbn: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Book).where(Book.isbn == isbn))


def users_with_email(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User).where(User.email == email))


def test_racing_creates_with_one_isbn_give_one_201_and_409s(app, version, user, auth_headers):
    headers = auth_headers(user)

    def create(client, _n):
        response = client.post(
            f"/api/v{version}/books",
            json={"title": "Dune", "author": "Frank Herbert", "isbn": ISBN},
            headers=headers,
        )
        return response.status_code, response.get_json()

    results = race(app, 20, create)
    assert Counter(status for status, _ in results) == {201: 1, 409: 19}
    for status, body in results:
        if status == 409:
            reason = body["error"]["reason"] if version == "2" else body["code"]
            assert reason == "duplicate_isbn"
    assert books_with_isbn(app, ISBN) == 1


def test_racing_creates_by_different_users_give_one_201(app, make_user, auth_headers):
    headers = [auth_headers(make_user()) for _ in range(20)]

    def create(client, n):
        payload = {"title": f"Dune {n}", "author": "Frank Herbert", "isbn": ISBN}
        return client.post("/api/v2/books", json=payload, headers=headers[n]).status_code

    assert Counter(race(app, 20, create)) == {201: 1, 409: 19}
    assert books_with_isbn(app, ISBN) == 1


def test_racing_registrations_with_one_email_give_one_201_and_409s(app, version):
    def register(client, _n):
        response = client.post(
            f"/api/v{version}/auth/register",
            json={"email": "racer@example.com", "password": PASSWORD},
        )
        return response.status_code, response.get_json()

    results = race(app, 10, register)
    assert Counter(status for status, _ in results) == {201: 1, 409: 9}
    for status, body in results:
        if status == 409:
            reason = body["error"]["reason"] if version == "2" else body["code"]
            assert reason == "duplicate_email"
    assert users_with_email(app, "racer@example.com") == 1


def test_duplicate_isbn_past_the_pre_check_is_a_409_from_the_unique_index(
    api, app, user, auth_headers, monkeypatch
):
    headers = auth_headers(user)
    first = api.post("/books", json={"title": "One", "author": "A", "isbn": ISBN}, headers=headers)
    assert first.status_code == 201
    monkeypatch.setattr(books, "_ensure_isbn_free", lambda isbn: None)

    second = api.post("/books", json={"title": "Two", "author": "B", "isbn": ISBN}, headers=headers)
    assert second.status_code == 409
    error = api.error(second)
    assert error["reason"] == "duplicate_isbn"
    assert "isbn" in error["details"]
    assert books_with_isbn(app, ISBN) == 1
    assert api.total(api.get("/books")) == 1


def test_update_to_a_taken_isbn_past_the_pre_check_is_a_409(
    api, app, user, auth_headers, monkeypatch
):
    headers = auth_headers(user)
    api.post("/books", json={"title": "One", "author": "A", "isbn": ISBN}, headers=headers)
    other = api.data(api.post("/books", json={"title": "Two", "author": "B"}, headers=headers))
    monkeypatch.setattr(books, "_ensure_isbn_free", lambda isbn: None)

    response = api.put(f"/books/{other['id']}", json={"isbn": ISBN}, headers=headers)
    assert response.status_code == 409
    assert api.error(response)["reason"] == "duplicate_isbn"
    assert api.data(api.get(f"/books/{other['id']}"))["isbn"] is None
    assert books_with_isbn(app, ISBN) == 1
