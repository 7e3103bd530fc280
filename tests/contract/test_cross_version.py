"""One core, two presentations: what one version writes, every other version reads the same."""

import pytest

from tests.conftest import PASSWORD, bearer

BOOK = {
    "title": "Dune",
    "author": "Frank Herbert",
    "isbn": "9780441172719",
    "year": 1965,
    "description": "Desert planet.",
}


def unversioned(client, method: str, path: str, version: str, **kw):
    headers = {"API-Version": version, **kw.pop("headers", {})}
    return client.open("/api" + path, method=method, headers=headers, **kw)


def without_links(book: dict) -> dict:
    return {k: v for k, v in book.items() if k != "links"}


@pytest.fixture
def v1_book(v1, user, auth_headers) -> dict:
    response = v1.post("/books", json=BOOK, headers=auth_headers(user))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_book_created_in_v1_reads_the_same_in_v2(v1, v2, v1_book):
    response = v2.get(f"/books/{v1_book['id']}")
    assert response.status_code == 200
    assert without_links(v2.data(response)) == v1_book
    assert v1.data(v1.get(f"/books/{v1_book['id']}")) == v1_book


def test_book_created_in_v1_reads_the_same_unversioned(client, v1_book):
    path = f"/books/{v1_book['id']}"
    as_v1 = unversioned(client, "GET", path, "1")
    as_v2 = unversioned(client, "GET", path, "2")
    assert as_v1.status_code == as_v2.status_code == 200
    assert as_v1.headers["API-Version"] == "1"
    assert as_v2.headers["API-Version"] == "2"
    assert as_v1.get_json() == v1_book
    body = as_v2.get_json()
    assert body["success"] is True
    assert without_links(body["data"]) == v1_book


def test_unversioned_v2_links_point_at_the_canonical_v2_url(client, v1_book):
    body = unversioned(client, "GET", f"/books/{v1_book['id']}", "2").get_json()
    assert body["data"]["links"]["self"].endswith(f"/api/v2/books/{v1_book['id']}")
    assert body["data"]["links"]["collection"].endswith("/api/v2/books")


def test_book_created_in_v2_reads_the_same_in_v1(v1, v2, user, auth_headers):
    created = v2.post("/books", json=BOOK, headers=auth_headers(user))
    assert created.status_code == 201
    book = v2.data(created)
    assert v1.get(f"/books/{book['id']}").get_json() == without_links(book)


def test_update_in_v2_is_visible_in_v1(v1, v2, v1_book, user, auth_headers):
    response = v2.put(
        f"/books/{v1_book['id']}", json={"title": "Dune (revised)"}, headers=auth_headers(user)
    )
    assert response.status_code == 200
    updated = v2.data(response)
    seen_in_v1 = v1.get(f"/books/{v1_book['id']}").get_json()
    assert seen_in_v1 == without_links(updated)
    assert seen_in_v1["title"] == "Dune (revised)"
    assert seen_in_v1["author"] == v1_book["author"]


def test_update_in_v1_is_visible_in_v2(v1, v2, v1_book, user, auth_headers):
    response = v1.put(f"/books/{v1_book['id']}", json={"year": 1966}, headers=auth_headers(user))
    assert response.status_code == 200
    assert v2.data(v2.get(f"/books/{v1_book['id']}"))["year"] == 1966


def test_book_deleted_via_v2_is_gone_in_v1(client, v1, v2, v1_book, admin, auth_headers):
    response = v2.delete(f"/books/{v1_book['id']}", headers=auth_headers(admin))
    assert response.status_code == 200
    gone = v1.get(f"/books/{v1_book['id']}")
    assert gone.status_code == 404
    assert v1.error(gone)["reason"] == "not_found"
    assert unversioned(client, "GET", f"/books/{v1_book['id']}", "1").status_code == 404
    assert v1.total(v1.get("/books")) == 0


def test_book_deleted_via_v1_is_gone_in_v2(v2, v1, v1_book, admin, auth_headers):
    assert v1.delete(f"/books/{v1_book['id']}", headers=auth_headers(admin)).status_code == 204
    gone = v2.get(f"/books/{v1_book['id']}")
    assert gone.status_code == 404
    assert v2.error(gone)["reason"] == "not_found"


def test_isbn_taken_in_v1_conflicts_in_v2(v2, v1_book, user, auth_headers):
    response = v2.post("/books", json={**BOOK, "title": "Copy"}, headers=auth_headers(user))
    assert response.status_code == 409
    assert v2.error(response)["reason"] == "duplicate_isbn"
    assert v2.total(v2.get("/books")) == 1


def test_user_registered_in_v1_can_log_in_with_v2(v1, v2):
    credentials = {"email": "reader@example.com", "password": PASSWORD}
    registered = v1.post("/auth/register", json=credentials)
    assert registered.status_code == 201
    login = v2.post("/auth/login", json=credentials)
    assert login.status_code == 200
    me = v2.get("/auth/me", headers=bearer(v2.data(login)["access_token"]))
    assert me.status_code == 200
    assert v2.data(me) == registered.get_json()["user"]


def test_email_registered_in_v2_is_taken_in_v1(v1, v2):
    credentials = {"email": "reader@example.com", "password": PASSWORD}
    assert v2.post("/auth/register", json=credentials).status_code == 201
    again = v1.post("/auth/register", json={**credentials, "email": "READER@example.com"})
    assert again.status_code == 409
    assert v1.error(again)["reason"] == "duplicate_email"


def test_access_token_from_v1_works_in_v2_and_unversioned(client, v1, v2, user):
    login = v1.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    headers = bearer(login.get_json()["access_token"])
    assert v2.data(v2.get("/auth/me", headers=headers))["id"] == user.id
    me = unversioned(client, "GET", "/auth/me", "2", headers=headers)
    assert me.status_code == 200
    assert me.get_json()["data"]["id"] == user.id


def test_logout_in_v1_revokes_the_token_in_v2(v1, v2, user):
    login = v1.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    headers = bearer(login.get_json()["access_token"])
    assert v1.post("/auth/logout", headers=headers).status_code == 200
    response = v2.get("/auth/me", headers=headers)
    assert response.status_code == 401
    assert v2.error(response)["reason"] == "token_revoked"


def test_refresh_token_rotated_in_v2_is_revoked_in_v1(v1, v2, user):
    login = v1.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    refresh = bearer(login.get_json()["refresh_token"])
    assert v2.post("/auth/refresh", headers=refresh).status_code == 200
    response = v1.post("/auth/refresh", headers=refresh)
    assert response.status_code == 401
    assert v1.error(response)["reason"] == "token_revoked"


@pytest.mark.parametrize(
    ("query", "matching"),
    [
        ("", 5),
        ("?per_page=2&page=2", 5),
        ("?sort=title&order=asc&per_page=3", 5),
        ("?author=herbert", 2),
        ("?search=dune&year=1969", 1),
        ("?per_page=500", 5),
    ],
)
def test_list_totals_and_order_agree_across_versions(client, v1, v2, make_book, query, matching):
    make_book(title="Dune", author="Frank Herbert", year=1965)
    make_book(title="Dune Messiah", author="Frank Herbert", year=1969)
    make_book(title="Foundation", author="Isaac Asimov", year=1951)
    make_book(title="Hyperion", author="Dan Simmons")
    make_book(title="Emma", author="Jane Austen", year=1815)
    responses = [
        v1.get("/books" + query),
        v2.get("/books" + query),
        unversioned(client, "GET", "/books" + query, "1"),
        unversioned(client, "GET", "/books" + query, "2"),
    ]
    assert [r.status_code for r in responses] == [200] * 4
    as_v1 = [responses[0].get_json(), responses[2].get_json()]
    as_v2 = [responses[1].get_json(), responses[3].get_json()]
    totals = [body["total"] for body in as_v1] + [b["pagination"]["total_items"] for b in as_v2]
    assert totals == [matching] * 4
    assert [r.headers["X-Total-Count"] for r in responses] == [str(matching)] * 4
    orders = [[b["id"] for b in body["books"]] for body in as_v1] + [
        [b["id"] for b in body["data"]] for body in as_v2
    ]
    assert all(order == orders[0] for order in orders)
    per_pages = [body["per_page"] for body in as_v1] + [b["pagination"]["per_page"] for b in as_v2]
    assert len(set(per_pages)) == 1
