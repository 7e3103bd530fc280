"""Conditional requests in both versions: ETags, If-None-Match (304), If-Match (412/428)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.extensions import db
from core.models import User
from tests.conftest import Api

LONG_AGO = datetime(2020, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
# Header values a client may send by mistake; none may ever be a 500.
MALFORMED = [
    "garbage",
    "",
    ",,,",
    "W/",
    '"unterminated',
    'W/"',
    "* , *",
    '"a" "b"',
    "\x7f\t\u00ff",
    '"' + "x" * 5000 + '"',
]


@pytest.fixture
def old_book(make_book, user):
    """A book by ``user`` last changed long ago, so that any change moves ``updated_at``."""
    return make_book(creator=user, created_at=LONG_AGO, updated_at=LONG_AGO)


@pytest.fixture
def other(api) -> Api:
    """A client of the version that ``api`` is not."""
    return Api(api.client, "2" if api.version == "1" else "1")


def etag_of(response) -> str:
    return response.headers["ETag"]


# --- GET /books/<id>: a strong ETag ---------------------------------------------------------


def test_get_book_sends_a_strong_etag(api, old_book):
    response = api.get(f"/books/{old_book.id}")
    assert response.status_code == 200
    tag, weak = response.get_etag()
    assert tag and not weak
    assert etag_of(response) == f'"{tag}"'


def test_the_etag_is_the_same_while_nothing_changes(api, old_book, user, auth_headers):
    first = etag_of(api.get(f"/books/{old_book.id}"))
    assert etag_of(api.get(f"/books/{old_book.id}")) == first
    # A PUT that changes nothing leaves the book, and so its ETag, as it was.
    assert api.put(f"/books/{old_book.id}", json={}, headers=auth_headers(user)).status_code == 200
    assert etag_of(api.get(f"/books/{old_book.id}")) == first


def test_the_etag_differs_between_versions_and_per_unversioned_version(client, old_book):
    url = f"/books/{old_book.id}"
    v1 = etag_of(client.get(f"/api/v1{url}"))
    v2 = etag_of(client.get(f"/api/v2{url}"))
    assert v1 != v2
    unversioned_v1 = client.get(f"/api{url}", headers={"API-Version": "1"})
    unversioned_v2 = client.get(f"/api{url}", headers={"API-Version": "2"})
    # The same bytes as the versioned URL's, so the same tag; Vary keeps caches apart.
    assert (etag_of(unversioned_v1), etag_of(unversioned_v2)) == (v1, v2)
    assert "API-Version" in unversioned_v2.headers["Vary"]


def test_the_etag_changes_after_a_put(api, old_book, user, auth_headers):
    before = etag_of(api.get(f"/books/{old_book.id}"))
    changed = api.put(f"/books/{old_book.id}", json={"year": 1999}, headers=auth_headers(user))
    assert changed.status_code == 200
    after = etag_of(api.get(f"/books/{old_book.id}"))
    assert after != before
    # The PUT answers with the new representation's tag.
    assert etag_of(changed) == after


def test_the_etag_changes_when_the_creator_is_deleted(api, app, old_book, user):
    before = etag_of(api.get(f"/books/{old_book.id}"))
    with app.app_context():
        db.session.delete(db.session.get(User, user.id))
        db.session.commit()
    response = api.get(f"/books/{old_book.id}")
    assert api.data(response)["created_by"] is None
    assert etag_of(response) != before


def test_the_v2_etag_follows_the_host_its_links_name(v1, v2, old_book):
    url = f"/books/{old_book.id}"
    elsewhere = "https://books.example.com"
    assert etag_of(v2.get(url)) != etag_of(v2.get(url, base_url=elsewhere))
    # v1 bodies hold no URL, but every tag is tied to the host it was served from.
    assert v2.data(v2.get(url, base_url=elsewhere))["links"]["self"].startswith(elsewhere)


def test_the_etag_changes_with_the_versions_representation_revision(api, old_book, monkeypatch):
    before = etag_of(api.get(f"/books/{old_book.id}"))
    monkeypatch.setattr(
        api.client.application.extensions["api_versions"][api.version].presenter,
        "representation_revision",
        2,
    )
    assert etag_of(api.get(f"/books/{old_book.id}")) != before


# --- If-None-Match: 304 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "condition",
    ["{etag}", "*", '"stale", {etag}', '"stale",{etag}, W/"other"', "W/{etag}"],
    ids=["the-etag", "star", "list", "list-no-space", "weak-form"],
)
def test_if_none_match_naming_the_etag_is_304(api, old_book, condition):
    etag = etag_of(api.get(f"/books/{old_book.id}"))
    response = api.get(
        f"/books/{old_book.id}", headers={"If-None-Match": condition.format(etag=etag)}
    )
    assert response.status_code == 304
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert etag_of(response) == etag
    assert response.headers["API-Version"] == api.version


def test_if_none_match_with_another_etag_is_200(api, old_book):
    etag = etag_of(api.get(f"/books/{old_book.id}"))
    response = api.get(f"/books/{old_book.id}", headers={"If-None-Match": f'"x{etag[1:]}'})
    assert response.status_code == 200
    assert api.data(response)["id"] == old_book.id
    assert etag_of(response) == etag


def test_the_tag_of_another_version_is_not_a_match(api, other, old_book):
    others = etag_of(other.get(f"/books/{old_book.id}"))
    response = api.get(f"/books/{old_book.id}", headers={"If-None-Match": others})
    assert response.status_code == 200
    assert api.data(response)["id"] == old_book.id


def test_a_stale_etag_gets_the_new_body(api, old_book, user, auth_headers):
    stale = etag_of(api.get(f"/books/{old_book.id}"))
    api.put(f"/books/{old_book.id}", json={"title": "New"}, headers=auth_headers(user))
    response = api.get(f"/books/{old_book.id}", headers={"If-None-Match": stale})
    assert response.status_code == 200
    assert api.data(response)["title"] == "New"


def test_a_304_carries_the_vary_and_version_headers_of_the_full_response(make_app, old_book):
    client = make_app(CORS_ORIGINS="https://app.example.com").test_client()
    for version in ("1", "2"):
        url = f"/api/books/{old_book.id}"
        full = client.get(url, headers={"API-Version": version})
        response = client.get(url, headers={"API-Version": version, "If-None-Match": etag_of(full)})
        assert response.status_code == 304
        assert response.headers["API-Version"] == version
        assert response.headers["Vary"] == full.headers["Vary"]
        assert {"API-Version", "Origin"} <= {v.strip() for v in full.headers["Vary"].split(",")}


def test_a_deprecated_v1_304_keeps_its_deprecation_headers(make_app, old_book):
    client = make_app(V1_DEPRECATED_AT="2026-01-01T00:00:00Z").test_client()
    url = f"/api/v1/books/{old_book.id}"
    full = client.get(url)
    response = client.get(url, headers={"If-None-Match": etag_of(full)})
    assert response.status_code == 304
    assert response.headers["Deprecation"] == full.headers["Deprecation"]
    assert response.headers["Link"] == full.headers["Link"]


def test_the_304_is_answered_without_building_the_body(api, old_book, monkeypatch):
    etag = etag_of(api.get(f"/books/{old_book.id}"))

    def fail(*args, **kwargs):
        raise AssertionError("the body was built")

    monkeypatch.setattr(
        api.client.application.extensions["api_versions"][api.version].presenter, "book", fail
    )
    response = api.get(f"/books/{old_book.id}", headers={"If-None-Match": etag})
    assert response.status_code == 304


def test_an_unknown_book_is_404_whatever_if_none_match_says(api):
    response = api.get("/books/999999", headers={"If-None-Match": "*"})
    assert response.status_code == 404
    assert "ETag" not in response.headers
    assert api.error(response)["reason"] == "not_found"


@pytest.mark.parametrize("value", MALFORMED)
def test_a_malformed_if_none_match_is_ignored(api, old_book, value):
    response = api.get(f"/books/{old_book.id}", headers={"If-None-Match": value})
    assert response.status_code == 200
    assert api.data(response)["id"] == old_book.id
    listed = api.get("/books", headers={"If-None-Match": value})
    assert listed.status_code == 200
    assert api.total(listed) == 1


# --- HEAD -----------------------------------------------------------------------------------


def test_head_answers_like_get_without_a_body(api, old_book):
    full = api.get(f"/books/{old_book.id}")
    head = api.client.head(api.url(f"/books/{old_book.id}"))
    assert head.status_code == 200
    assert head.data == b""
    assert etag_of(head) == etag_of(full)
    assert head.headers["Content-Length"] == full.headers["Content-Length"]
    conditional = api.client.head(
        api.url(f"/books/{old_book.id}"), headers={"If-None-Match": etag_of(full)}
    )
    assert conditional.status_code == 304
    assert etag_of(conditional) == etag_of(full)


def test_head_on_the_list_answers_like_get(api, old_book):
    full = api.get("/books")
    head = api.client.head(api.url("/books"))
    assert head.status_code == 200
    assert head.data == b""
    assert etag_of(head) == etag_of(full)
    assert head.headers["X-Total-Count"] == "1"
    conditional = api.client.head(api.url("/books"), headers={"If-None-Match": etag_of(full)})
    assert conditional.status_code == 304


# --- GET /books: a weak ETag for the page ---------------------------------------------------


def test_the_list_sends_a_weak_etag(api, old_book):
    response = api.get("/books")
    tag, weak = response.get_etag()
    assert tag and weak
    assert etag_of(response) == f'W/"{tag}"'
    assert etag_of(api.get("/books")) == etag_of(response)


def test_the_list_etag_differs_between_versions(client, old_book):
    assert etag_of(client.get("/api/v1/books")) != etag_of(client.get("/api/v2/books"))


def test_the_list_etag_changes_when_a_book_on_the_page_changes(api, old_book, user, auth_headers):
    before = api.get("/books")
    api.put(f"/books/{old_book.id}", json={"title": "Changed"}, headers=auth_headers(user))
    after = api.get("/books", headers={"If-None-Match": etag_of(before)})
    assert after.status_code == 200
    assert api.items(after)[0]["title"] == "Changed"
    assert etag_of(after) != etag_of(before)


def test_the_list_etag_changes_when_a_book_is_added_off_the_page(api, make_book):
    make_book(title="A first")
    query = "/books?sort=title&order=asc&per_page=1"
    before = api.get(query)
    make_book(title="Z last")  # on page 2: only the total (and the paging) changes
    after = api.get(query, headers={"If-None-Match": etag_of(before)})
    assert after.status_code == 200
    assert api.items(after) == api.items(before)
    assert api.total(after) == 2
    assert etag_of(after) != etag_of(before)


def test_the_list_etag_differs_between_pages_and_queries(api, make_book):
    for title in ("A", "B"):
        make_book(title=title)
    first = etag_of(api.get("/books?per_page=1&page=1"))
    second = etag_of(api.get("/books?per_page=1&page=2"))
    whole = etag_of(api.get("/books?per_page=2"))
    searched = etag_of(api.get("/books?per_page=2&search=A"))
    assert len({first, second, whole, searched}) == 4


def test_the_list_etag_of_an_empty_catalogue_changes_when_a_book_arrives(api, make_book):
    empty = api.get("/books")
    make_book()
    assert api.get("/books", headers={"If-None-Match": etag_of(empty)}).status_code == 200


@pytest.mark.parametrize("condition", ["{etag}", "*", '"stale", {etag}'])
def test_the_list_answers_304_to_its_etag(api, old_book, condition):
    full = api.get("/books?per_page=5")
    response = api.get(
        "/books?per_page=5", headers={"If-None-Match": condition.format(etag=etag_of(full))}
    )
    assert response.status_code == 304
    assert response.data == b""
    assert etag_of(response) == etag_of(full)
    assert response.headers["API-Version"] == api.version


# --- POST and PUT answer with the new ETag --------------------------------------------------


def test_a_created_book_comes_with_its_etag(api, user, auth_headers):
    response = api.post("/books", json={"title": "T", "author": "A"}, headers=auth_headers(user))
    assert response.status_code == 201
    book_id = api.data(response)["id"]
    assert etag_of(response) == etag_of(api.get(f"/books/{book_id}"))


def test_a_put_answers_with_the_etag_of_the_serving_version(client, old_book, user, auth_headers):
    url = f"/api/books/{old_book.id}"
    response = client.put(
        url, json={"year": 2001}, headers={**auth_headers(user), "API-Version": "2"}
    )
    assert response.status_code == 200
    assert etag_of(response) == etag_of(client.get(f"/api/v2/books/{old_book.id}"))
    assert etag_of(response) != etag_of(client.get(f"/api/v1/books/{old_book.id}"))


# --- If-Match on PUT and DELETE -------------------------------------------------------------


@pytest.fixture
def read_back(api):
    """The book as a GET through ``api`` sees it now (None once it is gone)."""

    def read(book_id: int) -> dict | None:
        response = api.get(f"/books/{book_id}")
        return None if response.status_code == 404 else api.data(response)

    return read


def test_if_match_with_the_current_etag_lets_the_put_through(api, old_book, user, auth_headers):
    etag = etag_of(api.get(f"/books/{old_book.id}"))
    response = api.put(
        f"/books/{old_book.id}",
        json={"title": "Matched"},
        headers={**auth_headers(user), "If-Match": etag},
    )
    assert response.status_code == 200
    assert api.data(response)["title"] == "Matched"


def test_if_match_accepts_the_etag_of_any_version(api, other, old_book, user, auth_headers):
    """A client mid-migration reads through one version and writes through the other."""
    etag = etag_of(other.get(f"/books/{old_book.id}"))
    response = api.put(
        f"/books/{old_book.id}",
        json={"title": "Across"},
        headers={**auth_headers(user), "If-Match": etag},
    )
    assert response.status_code == 200, response.get_json()
    assert api.data(response)["title"] == "Across"
    # The tag read before the write is now stale in both versions.
    again = api.put(
        f"/books/{old_book.id}",
        json={"title": "Again"},
        headers={**auth_headers(user), "If-Match": etag},
    )
    assert again.status_code == 412


@pytest.mark.parametrize("condition", ["*", '"stale", {etag}', '"stale",{etag}'])
def test_if_match_star_or_a_list_naming_the_etag_passes(
    api, old_book, user, auth_headers, condition
):
    etag = etag_of(api.get(f"/books/{old_book.id}"))
    response = api.put(
        f"/books/{old_book.id}",
        json={"year": 1984},
        headers={**auth_headers(user), "If-Match": condition.format(etag=etag)},
    )
    assert response.status_code == 200
    assert api.data(response)["year"] == 1984


def test_a_stale_if_match_is_412_and_changes_nothing(api, old_book, user, auth_headers, read_back):
    stale = etag_of(api.get(f"/books/{old_book.id}"))
    assert (
        api.put(
            f"/books/{old_book.id}", json={"title": "First"}, headers=auth_headers(user)
        ).status_code
        == 200
    )
    before = read_back(old_book.id)
    response = api.put(
        f"/books/{old_book.id}",
        json={"title": "Lost update"},
        headers={**auth_headers(user), "If-Match": stale},
    )
    assert response.status_code == 412
    error = api.error(response)
    assert error["reason"] == "precondition_failed"
    assert "ETag" not in response.headers
    assert read_back(old_book.id) == before
    assert before["title"] == "First"


@pytest.mark.parametrize(
    "condition",
    ['"not-the-etag"', "W/{etag}", '"{bare}x"'],
    ids=["other", "weak-form", "near-miss"],
)
def test_if_match_compares_strongly(api, old_book, user, auth_headers, read_back, condition):
    etag = etag_of(api.get(f"/books/{old_book.id}"))
    before = read_back(old_book.id)
    response = api.put(
        f"/books/{old_book.id}",
        json={"title": "Nope"},
        headers={
            **auth_headers(user),
            "If-Match": condition.format(etag=etag, bare=etag.strip('"')),
        },
    )
    assert response.status_code == 412
    assert api.error(response)["reason"] == "precondition_failed"
    assert read_back(old_book.id) == before


@pytest.mark.parametrize("value", MALFORMED)
def test_a_malformed_if_match_is_412_never_500(api, old_book, user, auth_headers, value):
    response = api.put(
        f"/books/{old_book.id}",
        json={"title": "Nope"},
        headers={**auth_headers(user), "If-Match": value},
    )
    assert response.status_code == 412
    assert api.error(response)["reason"] == "precondition_failed"


def test_an_unknown_book_stays_404_and_a_stranger_403_whatever_if_match_says(
    api, old_book, make_user, auth_headers
):
    stranger = auth_headers(make_user())
    headers = {"If-Match": '"wrong"'}
    missing = api.put("/books/999999", json={"title": "X"}, headers={**stranger, **headers})
    assert missing.status_code == 404
    forbidden = api.put(
        f"/books/{old_book.id}", json={"title": "X"}, headers={**stranger, **headers}
    )
    assert forbidden.status_code == 403


def test_a_body_is_validated_before_if_match_is_judged(api, old_book, user, auth_headers):
    response = api.put(
        f"/books/{old_book.id}",
        json={"year": "not a year"},
        headers={**auth_headers(user), "If-Match": '"wrong"'},
    )
    assert response.status_code == 422


def test_delete_with_a_wrong_if_match_is_412_and_the_book_stays(
    api, old_book, admin, auth_headers, read_back
):
    response = api.delete(
        f"/books/{old_book.id}", headers={**auth_headers(admin), "If-Match": '"wrong"'}
    )
    assert response.status_code == 412
    assert api.error(response)["reason"] == "precondition_failed"
    assert read_back(old_book.id)["id"] == old_book.id


def test_delete_with_the_etag_of_either_version_deletes(
    api, other, old_book, admin, auth_headers, read_back
):
    etag = etag_of(other.get(f"/books/{old_book.id}"))
    response = api.delete(
        f"/books/{old_book.id}", headers={**auth_headers(admin), "If-Match": etag}
    )
    assert response.status_code in (200, 204)
    assert read_back(old_book.id) is None


def test_delete_of_an_unknown_book_stays_404_with_if_match(api, admin, auth_headers):
    response = api.delete("/books/999999", headers={**auth_headers(admin), "If-Match": '"x"'})
    assert response.status_code == 404


# --- REQUIRE_IF_MATCH -----------------------------------------------------------------------


@pytest.fixture
def strict(make_app, version) -> Api:
    return Api(make_app(REQUIRE_IF_MATCH="true").test_client(), version)


def test_without_the_setting_if_match_is_optional(api, old_book, user, admin, auth_headers):
    url = f"/books/{old_book.id}"
    assert api.put(url, json={"year": 1}, headers=auth_headers(user)).status_code == 200
    assert api.delete(url, headers=auth_headers(admin)).status_code in (200, 204)


def test_required_if_match_refuses_a_put_without_it_with_428(strict, old_book, user, auth_headers):
    before = strict.data(strict.get(f"/books/{old_book.id}"))
    response = strict.put(f"/books/{old_book.id}", json={"title": "X"}, headers=auth_headers(user))
    assert response.status_code == 428
    assert strict.error(response)["reason"] == "precondition_required"
    assert strict.data(strict.get(f"/books/{old_book.id}")) == before


def test_required_if_match_refuses_a_delete_without_it_with_428(
    strict, old_book, admin, auth_headers
):
    response = strict.delete(f"/books/{old_book.id}", headers=auth_headers(admin))
    assert response.status_code == 428
    assert strict.error(response)["reason"] == "precondition_required"
    assert strict.get(f"/books/{old_book.id}").status_code == 200


def test_required_if_match_still_judges_the_tag_and_lets_a_match_through(
    strict, old_book, user, admin, auth_headers
):
    url = f"/books/{old_book.id}"
    wrong = strict.put(url, json={"title": "X"}, headers={**auth_headers(user), "If-Match": '"x"'})
    assert wrong.status_code == 412
    etag = etag_of(strict.get(url))
    changed = strict.put(url, json={"title": "Y"}, headers={**auth_headers(user), "If-Match": etag})
    assert changed.status_code == 200
    deleted = strict.delete(url, headers={**auth_headers(admin), "If-Match": etag_of(changed)})
    assert deleted.status_code in (200, 204)
    assert strict.get(url).status_code == 404


def test_required_if_match_keeps_404_for_an_unknown_book(strict, admin, auth_headers):
    assert (
        strict.put("/books/999999", json={"title": "X"}, headers=auth_headers(admin)).status_code
        == 404
    )
    assert strict.delete("/books/999999", headers=auth_headers(admin)).status_code == 404


# --- Rate limits ----------------------------------------------------------------------------


@pytest.fixture
def limited(make_app, version, old_book) -> Api:
    # Built after the book's app: the limiter is one object, and the last app bound configures it.
    app = make_app(RATELIMIT_ENABLED="true", RATELIMIT_DEFAULT="3 per minute")
    return Api(app.test_client(), version)


def test_304s_do_not_count_against_the_rate_limit(limited, old_book):
    url = f"/books/{old_book.id}"
    full = limited.get(url)
    page = limited.get("/books")
    assert (full.status_code, page.status_code) == (200, 200)
    assert page.headers["X-RateLimit-Remaining"] == "1"
    for _ in range(5):
        for response in (
            limited.get(url, headers={"If-None-Match": etag_of(full)}),
            limited.get("/books", headers={"If-None-Match": etag_of(page)}),
            limited.client.head(limited.url(url), headers={"If-None-Match": etag_of(full)}),
        ):
            assert response.status_code == 304
            assert response.headers["X-RateLimit-Remaining"] == "1"
    # Full answers still count: the third spends the budget.
    assert limited.get(url).status_code == 200
    refused = limited.get(url)
    assert refused.status_code == 429
    assert limited.error(refused)["reason"] == "rate_limited"
    # With the budget spent, a conditional request is refused too: it is judged on arrival.
    assert limited.get(url, headers={"If-None-Match": etag_of(full)}).status_code == 429


def test_a_non_matching_if_none_match_counts_like_any_get(limited, old_book):
    url = f"/books/{old_book.id}"
    statuses = [limited.get(url, headers={"If-None-Match": '"x"'}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


# --- OpenAPI --------------------------------------------------------------------------------


def _header_parameters(operation: dict) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}


def test_both_documents_declare_the_conditional_requests(api):
    document = api.get("/openapi.json").get_json()
    assert "ETag" in document["components"]["headers"]
    listing = document["paths"]["/books"]["get"]
    one = document["paths"]["/books/{book_id}"]
    for read in (listing, one["get"]):
        assert _header_parameters(read) == {"If-None-Match"}
        assert "ETag" in read["responses"]["200"]["headers"]
        not_modified = read["responses"]["304"]
        assert "content" not in not_modified
        assert {"ETag", "API-Version"} <= set(not_modified["headers"])
        assert not {"412", "428"} & set(read["responses"])
    for write in (one["put"], one["delete"]):
        assert _header_parameters(write) == {"If-Match"}
        assert {"412", "428"} <= set(write["responses"])
        assert "304" not in write["responses"]
    assert "ETag" in one["put"]["responses"]["200"]["headers"]
    assert "ETag" in document["paths"]["/books"]["post"]["responses"]["201"]["headers"]
    deleted = one["delete"]["responses"]["200" if api.enveloped else "204"]
    assert "ETag" not in deleted["headers"]
