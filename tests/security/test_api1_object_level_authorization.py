"""OWASP API1:2023 Broken Object Level Authorization: nobody changes a book or token not theirs."""

from __future__ import annotations

from core.extensions import db
from core.models import User
from tests.conftest import PASSWORD, bearer
from tests.security.conftest import stored_book


def test_a_user_cannot_update_another_users_book(any_api, app, make_user, make_book, auth_headers):
    owner, intruder = make_user(), make_user()
    book = make_book(creator=owner, title="Mine")

    refused = any_api.put(
        f"/books/{book.id}", json={"title": "Theirs"}, headers=auth_headers(intruder)
    )

    assert refused.status_code == 403
    assert any_api.error(refused)["reason"] == "forbidden"
    assert stored_book(app, book.id).title == "Mine"
    # The same request from the owner is allowed: the refusal is about who asks.
    allowed = any_api.put(
        f"/books/{book.id}", json={"title": "Still mine"}, headers=auth_headers(owner)
    )
    assert allowed.status_code == 200
    assert stored_book(app, book.id).title == "Still mine"


def test_claiming_ownership_in_the_body_grants_nothing(
    api, app, make_user, make_book, auth_headers
):
    owner, intruder = make_user(), make_user()
    book = make_book(creator=owner, title="Mine")

    response = api.put(
        f"/books/{book.id}",
        json={"title": "Taken", "created_by": intruder.id, "id": book.id},
        headers=auth_headers(intruder),
    )

    assert response.status_code == 403
    stored = stored_book(app, book.id)
    assert (stored.title, stored.created_by) == ("Mine", owner.id)


def test_a_book_without_an_owner_is_changed_only_by_an_admin(
    api, app, user, admin, make_book, auth_headers
):
    book = make_book(creator=None, title="Seeded")

    refused = api.put(f"/books/{book.id}", json={"title": "Mine now"}, headers=auth_headers(user))
    assert refused.status_code == 403
    assert stored_book(app, book.id).title == "Seeded"

    allowed = api.put(f"/books/{book.id}", json={"title": "Edited"}, headers=auth_headers(admin))
    assert allowed.status_code == 200
    assert stored_book(app, book.id).created_by is None


def test_books_of_a_deleted_account_do_not_pass_to_a_newer_account(api, app, make_user, make_book):
    # The departed account has the highest id, which SQLite may hand out again.
    departed = make_user()
    book = make_book(creator=departed, title="Orphan")
    with app.app_context():
        db.session.delete(db.session.get(User, departed.id))
        db.session.commit()
    credentials = {"email": "newcomer@example.com", "password": PASSWORD}
    assert api.post("/auth/register", json=credentials).status_code == 201
    newcomer = bearer(api.data(api.post("/auth/login", json=credentials))["access_token"])

    response = api.put(f"/books/{book.id}", json={"title": "Inherited"}, headers=newcomer)

    assert response.status_code == 403
    assert stored_book(app, book.id).title == "Orphan"


def test_a_user_cannot_revoke_another_users_refresh_token(api, make_user):
    alice, bob = make_user(), make_user()
    tokens = {
        who.email: api.data(
            api.post("/auth/login", json={"email": who.email, "password": PASSWORD})
        )
        for who in (alice, bob)
    }
    bobs_refresh = tokens[bob.email]["refresh_token"]

    response = api.post(
        "/auth/logout",
        json={"refresh_token": bobs_refresh},
        headers=bearer(tokens[alice.email]["access_token"]),
    )

    assert response.status_code == 422
    assert "refresh_token" in api.error(response)["details"]
    assert api.post("/auth/refresh", headers=bearer(bobs_refresh)).status_code == 200
    # Alice's own session is untouched too: the refused logout revoked nothing.
    assert (
        api.get("/auth/me", headers=bearer(tokens[alice.email]["access_token"])).status_code == 200
    )
