"""The version registry: declared changes and their transforms, the changelog command, and a
throwaway v3 (v2 with ``year`` renamed ``published_year``) served by a test app with no edit
outside this module."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import timedelta
from types import SimpleNamespace

import pytest
from _pytest.fixtures import FixtureFunctionDefinition
from marshmallow import fields, validate

from api.representations import BookOut
from api.v2 import VERSION as V2
from api.v2 import outputs as v2_schemas
from api.v2.presenter import V2Presenter
from api.versioning.registry import Change, Registry
from api.versions import REGISTRY
from core.validation import MAX_YEAR, BookSchema, StrictInteger
from tests.api import (
    test_auth,
    test_books,
    test_conditional,
    test_cursor_paging,
    test_edge_cases,
    test_lifecycle,
    test_listing,
)
from tests.conftest import TEST_NOW, Api

# The throwaway v3: one module's worth of declarations.


def _rename(data: dict, old: str, new: str) -> dict:
    return {(new if name == old else name): value for name, value in data.items()}


class V3BookOut(BookOut):
    published_year = fields.Integer(required=True, allow_none=True)

    class Meta:
        exclude = ("year",)


class V3BookData(V3BookOut):
    links = fields.Nested(v2_schemas.ResourceLinks, required=True)


class V3BookSchema(BookSchema):
    year = StrictInteger(
        allow_none=True,
        strict=True,
        validate=validate.Range(min=0, max=MAX_YEAR),
        data_key="published_year",
    )


V3_SCHEMAS = SimpleNamespace(
    RESPONSES={
        **v2_schemas.RESPONSES,
        "book": v2_schemas.envelope("V3BookEnvelope", fields.Nested(V3BookData, required=True)),
        "book_page": v2_schemas.envelope(
            "V3BookPageEnvelope",
            fields.List(fields.Nested(V3BookData), required=True),
            pagination=fields.Nested(v2_schemas.Pagination, required=True),
            links=fields.Nested(v2_schemas.PageLinks, required=True),
        ),
    },
    ERROR=v2_schemas.ERROR,
)


class V3Presenter(V2Presenter):
    schemas = V3_SCHEMAS
    request_schemas = {**V2Presenter.request_schemas, BookSchema: V3BookSchema}

    def book_data(self, book, links: dict) -> dict:
        return _rename(super().book_data(book, links), "year", "published_year")


V3 = dataclasses.replace(
    V2,
    number="3",
    presenter_class=V3Presenter,
    predecessor="2",
    description="Version 3: v2 with a book's `year` called `published_year`.",
    changes=(
        Change(
            "A book's `year` is `published_year`, in responses and in request bodies.",
            resource="book",
            downgrade=lambda body: {
                **body,
                "data": _rename(body["data"], "published_year", "year"),
            },
            upgrade=lambda body: {**body, "data": _rename(body["data"], "year", "published_year")},
        ),
    ),
)
WITH_V3 = REGISTRY.extended(V3)


@pytest.fixture
def v3_app(make_app):
    return make_app(versions=WITH_V3)


@pytest.fixture
def v3(v3_app) -> Api:
    return Api(v3_app.test_client(), "3")


# Declared changes and transforms


def test_each_version_follows_its_predecessor():
    assert REGISTRY.numbers == tuple(str(n) for n in range(1, len(REGISTRY) + 1))
    for version in REGISTRY:
        if version.predecessor is not None:
            assert version.changes, f"v{version.number} declares no changes"
            assert all(change.description.strip() for change in version.changes)


def test_a_registry_refuses_gaps_and_duplicates():
    with pytest.raises(ValueError):
        Registry([REGISTRY["2"]])
    with pytest.raises(ValueError):
        REGISTRY.extended(REGISTRY["2"])
    with pytest.raises(ValueError):
        dataclasses.replace(V2, number="v4")


def test_a_v2_book_page_and_error_project_onto_v1(client, make_book, v1, v2):
    book = make_book(year=1965, isbn="9780441013593")
    version = REGISTRY["2"]

    one = client.get(f"/api/v2/books/{book.id}").get_json()
    assert version.downgrade("book", one) == v1.get(f"/books/{book.id}").get_json()
    page = client.get("/api/v2/books").get_json()
    assert version.downgrade("book_page", page) == v1.get("/books").get_json()
    error = client.get("/api/v2/books/999").get_json()
    assert version.downgrade("error", error) == v1.get("/books/999").get_json()


def test_a_v3_book_projects_onto_v2_and_back(v3_app, make_book):
    client = v3_app.test_client()
    book = make_book(year=1965)

    three = client.get(f"/api/v3/books/{book.id}").get_json()
    two = client.get(f"/api/v2/books/{book.id}").get_json()
    assert three["data"]["published_year"] == 1965 and "year" not in three["data"]
    assert _strip_links(V3.downgrade("book", three)) == _strip_links(two)
    assert V3.upgrade("book", V3.downgrade("book", three)) == three


def _strip_links(body: dict) -> dict:
    return {**body, "links": None, "data": {**body["data"], "links": None}}


def test_the_changelog_command_prints_every_declared_change(app):
    result = app.test_cli_runner().invoke(args=["changelog"])

    assert result.exit_code == 0
    for version in REGISTRY:
        assert f"v{version.number}" in result.output
        for change in version.changes:
            assert f"  - {change.description}\n" in result.output


def test_the_changelog_command_prints_the_registry_it_serves(v3_app):
    result = v3_app.test_cli_runner().invoke(args=["changelog", "--markdown"])

    assert result.exit_code == 0
    assert "<!-- changes:v3:start -->" in result.output
    assert f"| {V3.changes[0].description} |" in result.output


# The throwaway v3: routing, header fallback, directory, OpenAPI, docs, behaviour


def test_v3_is_served_by_path_header_and_default(make_app, v3_app):
    client = v3_app.test_client()

    assert client.get("/api/v3/books").headers["API-Version"] == "3"
    for header in ("3", "v3", " V3 "):
        response = client.get("/api/books", headers={"API-Version": header})
        assert (response.status_code, response.headers["API-Version"]) == (200, "3")
    default = make_app(versions=WITH_V3, API_DEFAULT_VERSION="3").test_client()
    assert default.get("/api/books").headers["API-Version"] == "3"


def test_an_unsupported_version_lists_v3(v3_app):
    response = v3_app.test_client().get("/api/books", headers={"API-Version": "4"})

    assert response.status_code == 400
    assert response.get_json()["details"] == {"API-Version": ["Must be one of: 1, 2, 3."]}


def test_the_directory_lists_v3(v3_app):
    directory = v3_app.test_client().get("/api").get_json()

    assert [entry["version"] for entry in directory["versions"]] == ["1", "2", "3"]
    entry = directory["versions"][-1]
    assert entry["status"] == "current"
    assert entry["base_url"] == "http://localhost/api/v3"
    assert entry["openapi_url"] == "http://localhost/api/v3/openapi.json"


def test_the_v3_openapi_document_renames_year(v3_app):
    document = v3_app.test_client().get("/api/v3/openapi.json").get_json()

    assert document["info"]["version"] == "3"
    assert document["servers"] == [{"url": "/api/v3"}]
    schemas = document["components"]["schemas"]
    assert "published_year" in schemas["V3BookData"]["properties"]
    assert "year" not in schemas["V3BookData"]["properties"]
    body = document["paths"]["/books"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/V3Book"}
    assert "published_year" in schemas["V3Book"]["properties"]
    assert document["components"]["headers"]["API-Version"]["schema"]["enum"] == ["3"]
    assert "/api-keys" in document["paths"]


def test_the_docs_page_switches_to_v3(v3_app):
    page = v3_app.test_client().get("/api/docs/").get_data(as_text=True)

    assert "/api/v3/openapi.json" in page


def test_v3_takes_and_gives_published_year(v3, user, auth_headers):
    headers = auth_headers(user)

    created = v3.post(
        "/books", headers=headers, json={"title": "Dune", "author": "F. H.", "published_year": 1965}
    )
    assert created.status_code == 201, created.get_json()
    data = v3.data(created)
    assert data["published_year"] == 1965 and "year" not in data
    assert created.headers["Location"] == f"http://localhost/api/v3/books/{data['id']}"
    updated = v3.put(f"/books/{data['id']}", headers=headers, json={"published_year": 1966})
    assert v3.data(updated)["published_year"] == 1966
    assert v3.items(v3.get("/books"))[0]["published_year"] == 1966
    v2 = Api(v3.client, "2")
    assert v2.data(v2.get(f"/books/{data['id']}"))["year"] == 1966


def test_v3_refuses_year_and_names_published_year(v3, user, auth_headers):
    headers = auth_headers(user)

    old_name = v3.post("/books", headers=headers, json={"title": "A", "author": "B", "year": 1})
    assert old_name.status_code == 422
    assert "year" in v3.error(old_name)["details"]
    bad = v3.post(
        "/books", headers=headers, json={"title": "A", "author": "B", "published_year": -1}
    )
    assert bad.status_code == 422
    assert set(v3.error(bad)["details"]) == {"published_year"}


def test_v3_errors_and_flags_are_v2s(v3, v3_app):
    missing = v3.get("/books/999")
    assert (missing.status_code, v3.error(missing)["reason"]) == (404, "not_found")
    assert v3.get("/auth/me").status_code == 401
    assert v3.get("/books?page=abc").status_code == 400  # strict query validation
    assert v3.get("/api-keys").status_code == 401  # served, behind authentication


def test_v1_retired_points_at_the_latest_current_version_and_v3_has_a_lifecycle(make_app):
    environ = {
        "V1_DEPRECATED_AT": "2026-01-01T00:00:00Z",
        "V1_SUNSET_AT": "2026-06-01T00:00:00Z",
        "V3_DEPRECATED_AT": "2026-11-01T00:00:00Z",
        "V3_BROWNOUTS": "2026-12-01T00:00:00Z/2026-12-01T00:10:00Z",
    }
    app = make_app(versions=WITH_V3, **environ)
    client = app.test_client()

    retired = client.get("/api/v1/books/4")
    assert retired.status_code == 410
    assert 'http://localhost/api/v2/books/4>; rel="successor-version"' in retired.headers["Link"]
    browned = client.get("/api/v3/books")
    assert browned.status_code == 410 and browned.headers["Retry-After"] == "600"
    app.config["CLOCK"] = lambda: TEST_NOW + timedelta(minutes=10)
    assert client.get("/api/v3/books").status_code == 200
    statuses = {e["version"]: e["status"] for e in client.get("/api").get_json()["versions"]}
    assert statuses == {"1": "retired", "2": "current", "3": "deprecated"}


# Behaviour tests shared by every version, run on v3 too.


@pytest.fixture
def make_app(make_app):
    """Apps of this module serve v3 unless told otherwise."""

    def build(versions=WITH_V3, **environ):
        return make_app(versions=versions, **environ)

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture(params=["3"], ids=["v3"])
def version(request) -> str:
    return request.param


def _shared(module, *, without: str | None = None) -> dict:
    """``module``'s tests that run per version (they take the ``version`` or ``api`` fixture),
    leaving out those whose code names ``without`` (the field v3 renames)."""
    tests = {}
    for name in dir(module):
        test = getattr(module, name)
        arguments = getattr(getattr(test, "__code__", None), "co_varnames", ())
        if not (name.startswith("test_") and {"version", "api"} & set(arguments)):
            continue
        if without is not None and without in _code_of(module, test):
            continue
        tests[f"{name}_on_v3"] = test
    return tests


def _code_of(module, test) -> str:
    """The test's source, that of the module's own fixtures it takes and the module's data
    (such as a book payload) it reads."""
    code = test.__code__
    sources = [inspect.getsource(test)]
    for name in code.co_names:
        value = vars(module).get(name)
        if isinstance(value, dict | list | tuple):
            sources.append(repr(value))
    for argument in code.co_varnames[: code.co_argcount]:
        fixture = vars(module).get(argument)
        if isinstance(fixture, FixtureFunctionDefinition):
            sources.append(inspect.getsource(fixture._fixture_function))
    return "\n".join(sources)


def _fixtures(module) -> dict:
    """``module``'s own fixtures that this module does not define, for its shared tests."""
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, FixtureFunctionDefinition) and name not in globals()
    }


globals().update(_shared(test_auth))
globals().update(_shared(test_lifecycle))
for _module in (test_books, test_listing, test_conditional, test_cursor_paging, test_edge_cases):
    globals().update(_fixtures(_module))
    globals().update(_shared(_module, without="year"))
