"""Inputs and timings that once reached a 500 or a wrong answer; each stays fixed."""

from datetime import timedelta

import pytest
from flask_jwt_extended import create_refresh_token


@pytest.mark.parametrize("name", ["_external", "endpoint", "_anchor", "_scheme", "_method"])
def test_url_for_argument_names_in_the_query_are_kept_as_plain_query(api, make_book, name):
    make_book()
    response = api.get(f"/books?{name}=x&per_page=1")
    assert response.status_code == 200
    assert f"{name}=x" in response.headers["Link"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/books", '{"title": "\\ud800", "author": "A"}'),
        ("/auth/login", '{"email": "\\udfff@example.com", "password": "whatever1"}'),
        ("/auth/register", '{"email": "a@example.com", "password": "pass\\ud800word"}'),
    ],
)
def test_lone_surrogates_are_malformed_json(api, user, auth_headers, path, body):
    response = api.post(
        path, data=body, content_type="application/json", headers=auth_headers(user)
    )
    assert response.status_code == 400
    assert api.error(response)["reason"] == "malformed_json"


def test_nul_in_login_fields_is_a_validation_error(api, user):
    response = api.post("/auth/login", json={"email": user.email + "\x00", "password": "x"})
    assert response.status_code == 422
    assert "email" in api.error(response)["details"]


def test_an_overlong_filter_matches_nothing(api, make_book):
    make_book(title="Dune", author="Frank Herbert")
    for name in ("search", "author"):
        response = api.get(f"/books?{name}={'x' * 201}")
        assert response.status_code == 200
        assert api.total(response) == 0


@pytest.mark.parametrize(("stored", "query"), [("Éclair Über", "éCLAIR"), ("Ölmühle", "ÖLMÜ")])
def test_search_folds_case_beyond_ascii(api, make_book, stored, query):
    make_book(title=stored, author=stored)
    assert api.total(api.get(f"/books?search={query}")) == 1
    assert api.total(api.get(f"/books?author={query.lower()}")) == 1


def test_title_sort_is_case_insensitive_beyond_ascii(api, make_book):
    for title in ("Émile", "zola", "Ångström", "éclair"):
        make_book(title=title)
    titles = [b["title"] for b in api.items(api.get("/books?sort=title&order=asc"))]
    assert titles == sorted(titles, key=str.lower)


def test_update_of_a_book_deleted_meanwhile_is_404(
    api, app, user, auth_headers, make_book, monkeypatch
):
    import sqlalchemy as sa

    from core.extensions import db
    from core.services import books

    book = make_book(creator=user)
    real = books.may_change

    def delete_concurrently(target, actor):
        # Another request deletes the row between this request's read and its write.
        with db.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM books WHERE id = :id"), {"id": target.id})
        return real(target, actor)

    monkeypatch.setattr(books, "may_change", delete_concurrently)
    response = api.put(f"/books/{book.id}", json={"title": "New"}, headers=auth_headers(user))
    assert response.status_code == 404


def test_logout_with_an_expired_refresh_token_still_signs_out(api, app, user, auth_headers):
    access = auth_headers(user)
    with app.app_context():
        expired = create_refresh_token(identity=str(user.id), expires_delta=timedelta(seconds=-5))
    response = api.post("/auth/logout", json={"refresh_token": expired}, headers=access)
    assert response.status_code == 200
    assert api.error(api.get("/auth/me", headers=access))["reason"] == "token_revoked"


def test_database_outage_keeps_its_retry_after_when_rate_limited(make_app):
    app = make_app(DATABASE_URL="sqlite:////nonexistent-dir/books.db", RATELIMIT_ENABLED="true")
    response = app.test_client().get("/api/v2/books")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


def test_absurd_login_body_is_400_without_a_storage_alarm(make_app, caplog):
    client = make_app(RATELIMIT_ENABLED="true").test_client()
    body = "[" * 100_000 + "]" * 100_000
    with caplog.at_level("WARNING"):
        response = client.post("/api/v1/auth/login", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "storage unreachable" not in caplog.text


def test_v1_delete_has_no_body_and_no_media_type(v1, admin, auth_headers, make_book):
    book = make_book()
    response = v1.delete(f"/books/{book.id}", headers=auth_headers(admin))
    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers


def test_refused_origins_still_vary_on_origin(make_app):
    client = make_app(CORS_ORIGINS="https://app.example.com").test_client()
    response = client.get("/api/v2/books", headers={"Origin": "https://evil.example.net"})
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Origin" in response.headers["Vary"]


def test_each_versions_base_url_is_its_entry_point(client):
    directory = client.get("/api").get_json()
    for entry in directory["versions"]:
        response = client.get(entry["base_url"].removeprefix("http://localhost"))
        assert response.status_code == 200
        body = response.get_json()
        info = body["data"] if entry["version"] == "2" else body
        assert info["version"] == entry["version"]
        assert info["status"] == entry["status"]
        links = body["links"]
        assert client.get(links["books"].removeprefix("http://localhost")).status_code == 200


def test_a_refresh_token_cannot_sign_in_as_access(api, user, auth_headers):
    refresh = auth_headers(user, refresh=True)
    assert api.error(api.get("/auth/me", headers=refresh))["reason"] == "token_invalid"
