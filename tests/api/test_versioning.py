"""Which version serves a request, the version headers, the directory and v1 deprecation."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from api.versions import REGISTRY
from core.extensions import db
from core.models import Book
from tests.conftest import Api

DEPRECATION = {
    "V1_DEPRECATED_AT": "2026-06-30T00:00:00Z",
    "V1_SUNSET_AT": "2027-01-31T00:00:00Z",
}
DEPRECATION_VALUE = "@1782777600"
SUNSET_VALUE = "Sun, 31 Jan 2027 00:00:00 GMT"
DEPRECATION_HEADERS = ("Deprecation", "Sunset")
LINK = re.compile(r'<([^>]*)>\s*;\s*rel="([^"]*)"')


def served_by(response) -> str:
    """The version whose body shape this successful list/book response has (v1: flat; v2
    and the versions built on it: the envelope, whose links name the version)."""
    body = response.get_json()
    if not (isinstance(body, dict) and body.get("success") is True):
        return "1"
    return re.search(r"/api/v(\d+)/", str(body["links"])).group(1)


def link_relations(response) -> dict[str, str]:
    return {rel: url for url, rel in LINK.findall(response.headers.get("Link", ""))}


def count_books(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Book))


# Picking the version


def test_the_path_names_the_version(client, version):
    response = client.get(f"/api/v{version}/books")

    assert response.status_code == 200
    assert served_by(response) == version
    assert response.headers["API-Version"] == version


@pytest.mark.parametrize(
    ("header", "expected"),
    [("1", "1"), ("2", "2"), ("v1", "1"), ("V2", "2"), (" 2 ", "2"), ("v2 ", "2")],
)
def test_unversioned_urls_follow_the_api_version_header(client, header, expected):
    response = client.get("/api/books", headers={"API-Version": header})

    assert response.status_code == 200
    assert served_by(response) == expected
    assert response.headers["API-Version"] == expected


def test_unversioned_urls_without_a_header_get_version_1(client):
    response = client.get("/api/books")

    assert response.status_code == 200
    assert served_by(response) == "1"
    assert response.headers["API-Version"] == "1"


def test_unversioned_urls_without_a_header_get_the_configured_default(make_app):
    client = make_app(API_DEFAULT_VERSION="2").test_client()

    response = client.get("/api/books")

    assert response.status_code == 200
    assert served_by(response) == "2"
    assert response.headers["API-Version"] == "2"
    explicit = client.get("/api/books", headers={"API-Version": "1"})
    assert served_by(explicit) == "1"


@pytest.mark.parametrize(
    ("path", "header", "expected"),
    [("/api/v1/books", "2", "1"), ("/api/v2/books", "1", "2"), ("/api/v1/books", "3", "1")],
)
def test_the_path_version_wins_over_the_header(client, path, header, expected):
    response = client.get(path, headers={"API-Version": header})

    assert response.status_code == 200
    assert served_by(response) == expected
    assert response.headers["API-Version"] == expected


@pytest.mark.parametrize("header", ["3", "v0", "two", "", "v", "1.0", "12"])
def test_an_unsupported_api_version_is_400_listing_the_supported_ones(client, header):
    response = client.get("/api/books", headers={"API-Version": header})

    assert response.status_code == 400
    assert response.is_json
    error = Api(client, "1").error(response)
    assert error["reason"] == "unsupported_version"
    assert "1" in error["message"] and "2" in error["message"]
    assert error["details"] == {"API-Version": ["Must be one of: 1, 2."]}
    assert response.headers["API-Version"] == "1"


def test_an_unsupported_api_version_answers_in_the_default_versions_shape(make_app):
    client = make_app(API_DEFAULT_VERSION="2").test_client()

    response = client.get("/api/books", headers={"API-Version": "9"})

    assert response.status_code == 400
    error = Api(client, "2").error(response)
    assert error["reason"] == "unsupported_version"
    assert error["details"] == {"API-Version": ["Must be one of: 1, 2."]}
    assert response.headers["API-Version"] == "2"


def test_an_unsupported_api_version_changes_nothing(client, user, auth_headers, app):
    response = client.post(
        "/api/books",
        headers={**auth_headers(user), "API-Version": "3"},
        json={"title": "Dune", "author": "Frank Herbert"},
    )

    assert response.status_code == 400
    assert count_books(app) == 0


# Unversioned writes dispatch to the chosen version


def test_unversioned_post_with_version_2_answers_like_v2(client, user, auth_headers):
    response = client.post(
        "/api/books",
        headers={**auth_headers(user), "API-Version": "2"},
        json={"title": "Dune", "author": "Frank Herbert"},
    )

    assert response.status_code == 201
    body = response.get_json()
    assert body["success"] is True
    assert body["data"]["title"] == "Dune"
    book_url = f"http://localhost/api/v2/books/{body['data']['id']}"
    assert response.headers["Location"] == book_url
    assert body["data"]["links"]["self"] == book_url
    assert response.headers["API-Version"] == "2"


def test_unversioned_post_without_a_header_answers_like_v1(client, user, auth_headers):
    response = client.post(
        "/api/books", headers=auth_headers(user), json={"title": "Dune", "author": "F. Herbert"}
    )

    assert response.status_code == 201
    body = response.get_json()
    assert "success" not in body
    assert body["title"] == "Dune"
    assert response.headers["Location"] == f"http://localhost/api/v1/books/{body['id']}"


def test_unversioned_put_dispatches_to_the_chosen_version(
    client, user, auth_headers, make_book, version
):
    book = make_book(creator=user, title="Old title")

    response = client.put(
        f"/api/books/{book.id}",
        headers={**auth_headers(user), "API-Version": version},
        json={"title": "New title"},
    )

    assert response.status_code == 200
    assert served_by(response) == version
    assert Api(client, version).data(response)["title"] == "New title"


@pytest.mark.parametrize(("version", "status"), [("1", 204), ("2", 200)])
def test_unversioned_delete_dispatches_to_the_chosen_version(
    client, admin, auth_headers, make_book, app, version, status
):
    book = make_book()

    response = client.delete(
        f"/api/books/{book.id}", headers={**auth_headers(admin), "API-Version": version}
    )

    assert response.status_code == status
    if version == "2":
        assert response.get_json() == {"success": True, "message": "Book deleted"}
    else:
        assert response.get_data() == b""
    assert response.headers["API-Version"] == version
    assert count_books(app) == 0


# API-Version and Vary on every /api response


API_RESPONSES = [
    ("get", "/api/v1/books", {}, 200, "1"),
    ("get", "/api/v2/books", {}, 200, "2"),
    ("get", "/api/books", {"API-Version": "2"}, 200, "2"),
    ("get", "/api/v1/health", {}, 200, "1"),
    ("get", "/api/v2/auth/me", {}, 401, "2"),
    ("get", "/api/v1/auth/me", {}, 401, "1"),
    ("get", "/api/auth/me", {"API-Version": "2"}, 401, "2"),
    ("get", "/api/v1/nope", {}, 404, "1"),
    ("get", "/api/v2/nope", {}, 404, "2"),
    ("get", "/api/nope", {}, 404, "1"),
    ("get", "/api/nope", {"API-Version": "2"}, 404, "2"),
    ("get", "/api/v2/books/999999", {}, 404, "2"),
    ("delete", "/api/v1/books", {}, 405, "1"),
    ("delete", "/api/v2/books", {}, 405, "2"),
    ("delete", "/api/books", {"API-Version": "2"}, 405, "2"),
    ("post", "/api/v1/auth/register", {}, 422, "1"),
    ("post", "/api/v2/auth/register", {}, 422, "2"),
    ("post", "/api/auth/register", {"API-Version": "v2"}, 422, "2"),
    ("get", "/api/books", {"API-Version": "3"}, 400, "1"),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "version"),
    API_RESPONSES,
    ids=[f"{m}-{p}-{h.get('API-Version', '')}-{s}" for m, p, h, s, _ in API_RESPONSES],
)
def test_every_api_response_names_its_version(client, method, path, headers, status, version):
    response = getattr(client, method)(path, headers=headers, json={})

    assert response.status_code == status
    assert response.headers["API-Version"] == version
    assert response.is_json
    if status >= 400:
        Api(client, version).error(response)
    if status == 405:
        assert "GET" in response.headers["Allow"]


def test_the_directory_names_its_version(client):
    response = client.get("/api")

    assert response.status_code == 200
    assert response.headers["API-Version"] == "1"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/books", {}),
        ("/api/books", {"API-Version": "2"}),
        ("/api/auth/me", {"API-Version": "2"}),
        ("/api/nope", {}),
        ("/api/books", {"API-Version": "3"}),
    ],
)
def test_unversioned_responses_vary_on_api_version(client, path, headers):
    response = client.get(path, headers=headers)

    assert "API-Version" in response.vary


@pytest.mark.parametrize("path", ["/api/v1/books", "/api/v2/books", "/api/v2/auth/me", "/api/v1/x"])
def test_versioned_responses_do_not_vary_on_api_version(client, path):
    response = client.get(path, headers={"API-Version": "2"})

    assert "API-Version" not in response.vary


# The directory


def expected_directory(root: str, default: str, v1_status: str, v1_sunset) -> dict:
    def entry(version, status, sunset):
        return {
            "version": version,
            "status": status,
            "base_url": f"{root}/api/v{version}",
            "openapi_url": None,
            "sunset": sunset,
        }

    others = [entry(n, "current", None) for n in REGISTRY.numbers if n != "1"]
    return {"default_version": default, "versions": [entry("1", v1_status, v1_sunset), *others]}


def without_openapi_urls(directory: dict, root: str = "http://localhost") -> dict:
    """The directory with each (absolute, same-host) ``openapi_url`` checked and blanked."""
    for entry in directory["versions"]:
        assert entry["openapi_url"].startswith(f"{root}/api/"), entry
        entry["openapi_url"] = None
    return directory


def test_the_directory_lists_both_versions(client):
    response = client.get("/api")

    assert response.status_code == 200
    directory = without_openapi_urls(response.get_json())
    assert directory == expected_directory("http://localhost", "1", "current", None)


def test_the_directory_urls_are_absolute_for_the_requested_host(client):
    response = client.get("/api", base_url="https://books.example.org")

    directory = without_openapi_urls(response.get_json(), "https://books.example.org")
    assert directory == expected_directory("https://books.example.org", "1", "current", None)


def test_the_directory_follows_the_configured_default_version(make_app):
    response = make_app(API_DEFAULT_VERSION="2").test_client().get("/api")

    directory = without_openapi_urls(response.get_json())
    assert directory == expected_directory("http://localhost", "2", "current", None)


def test_the_directory_marks_a_deprecated_v1_with_its_sunset(make_app):
    response = make_app(**DEPRECATION).test_client().get("/api")

    directory = without_openapi_urls(response.get_json())
    assert directory == expected_directory("http://localhost", "1", "deprecated", SUNSET_VALUE)


def test_the_directory_marks_v1_deprecated_without_a_sunset(make_app):
    app = make_app(V1_DEPRECATED_AT=DEPRECATION["V1_DEPRECATED_AT"])

    response = app.test_client().get("/api")

    directory = without_openapi_urls(response.get_json())
    assert directory == expected_directory("http://localhost", "1", "deprecated", None)


def test_the_directory_links_lead_somewhere(client):
    versions = client.get("/api").get_json()["versions"]

    for entry in versions:
        books = client.get(f"{entry['base_url']}/books")
        assert books.status_code == 200
        assert books.headers["API-Version"] == entry["version"]
        openapi = client.get(entry["openapi_url"])
        assert openapi.status_code == 200, entry["openapi_url"]
        assert openapi.is_json


# Deprecation of v1


@pytest.fixture
def deprecated(make_app):
    """A client of an app that deprecates v1 and announces its sunset."""
    return make_app(**DEPRECATION).test_client()


def assert_deprecated(response, successor: str) -> None:
    assert response.headers["API-Version"] == "1"
    assert response.headers["Deprecation"] == DEPRECATION_VALUE
    assert response.headers["Sunset"] == SUNSET_VALUE
    assert link_relations(response)["successor-version"] == successor


def test_v1_responses_announce_deprecation_and_sunset(deprecated):
    response = deprecated.get("/api/v1/books/5")

    assert response.status_code == 404
    assert response.headers["Link"] == '<http://localhost/api/v2/books/5>; rel="successor-version"'
    assert_deprecated(response, "http://localhost/api/v2/books/5")


def test_a_v1_book_points_at_its_v2_successor(deprecated, make_book):
    book = make_book()

    response = deprecated.get(f"/api/v1/books/{book.id}")

    assert response.status_code == 200
    assert_deprecated(response, f"http://localhost/api/v2/books/{book.id}")


def test_a_v1_list_combines_the_successor_link_with_the_paging_links(deprecated, make_book):
    for _ in range(3):
        make_book()

    response = deprecated.get("/api/v1/books?per_page=1&page=2")

    assert response.status_code == 200
    relations = link_relations(response)
    assert {"first", "last", "next", "prev", "successor-version"} <= set(relations)
    assert relations["next"].startswith("http://localhost/api/v1/books?")
    assert "page=3" in relations["next"]
    assert relations["successor-version"] == "http://localhost/api/v2/books?per_page=1&page=2"
    assert response.headers["Deprecation"] == DEPRECATION_VALUE


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "successor"),
    [
        ("get", "/api/v1/auth/me", {}, 401, "http://localhost/api/v2/auth/me"),
        ("delete", "/api/v1/books", {}, 405, "http://localhost/api/v2/books"),
        ("post", "/api/v1/auth/register", {}, 422, "http://localhost/api/v2/auth/register"),
        ("get", "/api/v1/nope", {}, 404, "http://localhost/api/v2/nope"),
        ("get", "/api/books", {}, 200, "http://localhost/api/v2/books"),
        ("get", "/api/books", {"API-Version": "v1"}, 200, "http://localhost/api/v2/books"),
        ("get", "/api/auth/me", {}, 401, "http://localhost/api/v2/auth/me"),
        ("get", "/api/books", {"API-Version": "7"}, 400, "http://localhost/api/v2/books"),
    ],
)
def test_every_v1_response_is_marked_deprecated(
    deprecated, method, path, headers, status, successor
):
    response = getattr(deprecated, method)(path, headers=headers, json={})

    assert response.status_code == status
    assert_deprecated(response, successor)


def test_a_v1_delete_is_marked_deprecated(deprecated, admin, auth_headers, make_book):
    book = make_book()

    response = deprecated.delete(f"/api/v1/books/{book.id}", headers=auth_headers(admin))

    assert response.status_code == 204
    assert_deprecated(response, f"http://localhost/api/v2/books/{book.id}")


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/v2/books", {}, 200),
        ("/api/v2/books/5", {}, 404),
        ("/api/v2/auth/me", {}, 401),
        ("/api/books", {"API-Version": "2"}, 200),
    ],
)
def test_v2_responses_carry_no_deprecation(deprecated, path, headers, status):
    response = deprecated.get(path, headers=headers)

    assert response.status_code == status
    assert response.headers["API-Version"] == "2"
    for name in DEPRECATION_HEADERS:
        assert name not in response.headers
    assert "successor-version" not in link_relations(response)


def test_v1_deprecated_without_a_sunset_sends_no_sunset(make_app):
    client = make_app(V1_DEPRECATED_AT=DEPRECATION["V1_DEPRECATED_AT"]).test_client()

    response = client.get("/api/v1/books/5")

    assert response.headers["Deprecation"] == DEPRECATION_VALUE
    assert "Sunset" not in response.headers
    assert link_relations(response)["successor-version"] == "http://localhost/api/v2/books/5"


@pytest.mark.parametrize("path", ["/api/v1/books/5", "/api/v1/books", "/api/books"])
def test_v1_is_not_deprecated_unless_configured(client, path):
    response = client.get(path)

    assert response.headers["API-Version"] == "1"
    for name in DEPRECATION_HEADERS:
        assert name not in response.headers
    assert "successor-version" not in link_relations(response)
