"""Contract §9 on every registered version: status, retirement (410), brownouts, the OpenAPI
document of a deprecated version, and the settings that refuse to start."""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import format_datetime

import pytest

from api import create_app
from api.versions import REGISTRY
from core.config import ConfigError, parse_datetime
from tests.conftest import TEST_NOW, Api, base_environ

LINK = re.compile(r'<([^>]*)>\s*;\s*rel="([^"]*)"')
DEPRECATED_AT = TEST_NOW - timedelta(days=30)
SUNSET_AT = TEST_NOW + timedelta(days=30)
JAN_1 = "2027-01-01T00:00:00Z"
WINDOW = (TEST_NOW + timedelta(days=1), TEST_NOW + timedelta(days=1, hours=1))


def iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def http_date(moment) -> str:
    return format_datetime(moment, usegmt=True)


def served(client) -> tuple[str, ...]:
    """The versions the client's app serves (a test app may serve more than the project)."""
    return client.application.extensions["api_versions"].numbers


def successor_of(client, version: str) -> str | None:
    """The latest version newer than ``version`` (all others current in these tests)."""
    newer = [n for n in served(client) if int(n) > int(version)]
    return newer[-1] if newer else None


def settings(version: str, sunset: bool = True, brownouts: bool = False) -> dict[str, str]:
    environ = {f"V{version}_DEPRECATED_AT": iso(DEPRECATED_AT)}
    if sunset:
        environ[f"V{version}_SUNSET_AT"] = iso(SUNSET_AT)
    if brownouts:
        environ[f"V{version}_BROWNOUTS"] = f"{iso(WINDOW[0])}/{iso(WINDOW[1])}"
    return environ


def at(app, moment):
    app.config["CLOCK"] = lambda: moment
    return app


def relations(response) -> dict[str, str]:
    return {rel: url for url, rel in LINK.findall(response.headers.get("Link", ""))}


def entry(client, version: str) -> dict:
    versions = client.get("/api").get_json()["versions"]
    return next(e for e in versions if e["version"] == version)


# Status


def test_every_version_is_current_unless_configured(client, version):
    assert entry(client, version)["status"] == "current"
    assert "brownouts" not in entry(client, version)
    response = client.get(f"/api/v{version}/books")
    assert "Deprecation" not in response.headers and "Sunset" not in response.headers


def test_a_version_is_deprecated_from_its_deprecation_date(make_app, version):
    app = make_app(**settings(version))

    at(app, DEPRECATED_AT - timedelta(seconds=1))
    assert entry(app.test_client(), version)["status"] == "current"
    at(app, DEPRECATED_AT)
    listed = entry(app.test_client(), version)
    assert (listed["status"], listed["sunset"]) == ("deprecated", http_date(SUNSET_AT))
    response = app.test_client().get(f"/api/v{version}/books")
    assert response.status_code == 200
    assert response.headers["Deprecation"] == f"@{int(DEPRECATED_AT.timestamp())}"
    assert response.headers["Sunset"] == http_date(SUNSET_AT)


def test_a_version_is_retired_from_the_sunset_instant(make_app, version):
    app = make_app(**settings(version))
    client = app.test_client()

    at(app, SUNSET_AT - timedelta(seconds=1))
    assert client.get(f"/api/v{version}/books").status_code == 200
    assert entry(client, version)["status"] == "deprecated"
    at(app, SUNSET_AT)
    assert client.get(f"/api/v{version}/books").status_code == 410
    assert entry(client, version)["status"] == "retired"
    others = {e["version"]: e["status"] for e in client.get("/api").get_json()["versions"]}
    assert {n: s for n, s in others.items() if n != version} == {
        n: "current" for n in served(client) if n != version
    }


# Retirement


def retired_client(make_app, version: str, **environ):
    return at(make_app(**settings(version), **environ), SUNSET_AT + timedelta(days=1)).test_client()


def assert_retired(response, api: Api, successor_path: str | None) -> None:
    assert response.status_code == 410
    assert response.headers["API-Version"] == api.version
    assert api.error(response)["reason"] == "version_retired"
    assert response.headers["Sunset"] == http_date(SUNSET_AT)
    successor = successor_of(api.client, api.version)
    if successor is None:
        assert "successor-version" not in relations(response)
    else:
        expected = f"http://localhost/api/v{successor}{successor_path}"
        assert relations(response)["successor-version"] == expected


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/books"),
        ("get", "/books/7"),
        ("post", "/books"),
        ("put", "/books/7"),
        ("delete", "/books/7"),
        ("get", "/auth/me"),
        ("post", "/auth/login"),
        ("get", "/health"),
        ("get", "/nope"),
        ("get", "/"),
    ],
)
def test_a_retired_version_answers_410_by_path(make_app, version, method, path):
    client = retired_client(make_app, version)

    response = getattr(client, method)(f"/api/v{version}{path}", json={})

    assert_retired(response, Api(client, version), path)


def test_a_retired_version_answers_410_by_header_and_never_falls_forward(
    make_app, version, make_book
):
    client = retired_client(make_app, version)
    book = make_book()

    response = client.get(f"/api/books/{book.id}", headers={"API-Version": f"v{version}"})

    assert_retired(response, Api(client, version), f"/books/{book.id}")
    assert "API-Version" in response.vary


def test_a_retired_default_version_answers_410_and_never_falls_forward(make_app, version):
    client = retired_client(make_app, version, API_DEFAULT_VERSION=version)

    response = client.get("/api/books?per_page=2")

    assert_retired(response, Api(client, version), "/books?per_page=2")
    assert client.get("/api").status_code == 200  # the directory still answers


def test_a_retired_versions_openapi_document_still_answers(make_app, version):
    client = retired_client(make_app, version)

    response = client.get(f"/api/v{version}/openapi.json")

    assert response.status_code == 200
    document = response.get_json()
    assert document["info"]["version"] == version
    assert all(
        operation["deprecated"] is True
        for operations in document["paths"].values()
        for operation in operations.values()
    )


def test_a_retired_version_leaves_the_other_versions_alone(make_app, version):
    client = retired_client(make_app, version)

    for other in served(client):
        if other != version:
            response = client.get(f"/api/v{other}/books")
            assert response.status_code == 200
            assert "Deprecation" not in response.headers


# Brownouts


def brownout_app(make_app, version: str):
    return make_app(**settings(version, brownouts=True))


@pytest.mark.parametrize(
    ("moment", "status"),
    [
        (WINDOW[0] - timedelta(seconds=1), 200),
        (WINDOW[0], 410),
        (WINDOW[0] + timedelta(minutes=20), 410),
        (WINDOW[1] - timedelta(seconds=1), 410),
        (WINDOW[1], 200),
    ],
    ids=["before", "start", "inside", "last-second", "end"],
)
def test_a_brownout_window_answers_410_with_retry_after(make_app, version, moment, status):
    client = at(brownout_app(make_app, version), moment).test_client()

    for url, headers in ((f"/api/v{version}/books", {}), ("/api/books", {"API-Version": version})):
        response = client.get(url, headers=headers)
        assert response.status_code == status, url
        assert response.headers["API-Version"] == version
        if status == 410:
            assert Api(client, version).error(response)["reason"] == "version_brownout"
            seconds = int((WINDOW[1] - moment).total_seconds())
            assert response.headers["Retry-After"] == str(seconds)
        else:
            assert "Retry-After" not in response.headers


def test_a_brownout_spares_the_openapi_document(make_app, version):
    client = at(brownout_app(make_app, version), WINDOW[0]).test_client()

    assert client.get(f"/api/v{version}/openapi.json").status_code == 200


def test_planned_brownouts_appear_in_the_directory(make_app, version):
    client = brownout_app(make_app, version).test_client()

    listed = entry(client, version)

    assert listed["brownouts"] == [{"start": iso(WINDOW[0]), "end": iso(WINDOW[1])}]
    for other in served(client):
        if other != version:
            assert "brownouts" not in entry(client, other)


def test_brownouts_are_documented_as_410_with_retry_after(make_app, version):
    document = brownout_app(make_app, version).test_client()
    document = document.get(f"/api/v{version}/openapi.json").get_json()

    gone = document["paths"]["/books"]["get"]["responses"]["410"]
    assert "Retry-After" in gone["headers"]


# The OpenAPI document of a deprecated version


def operations(document: dict) -> list[dict]:
    return [op for ops in document["paths"].values() for op in ops.values()]


def test_a_deprecated_versions_operations_are_marked_deprecated(make_app, version):
    app = make_app(**settings(version, sunset=False))
    client = app.test_client()

    at(app, DEPRECATED_AT - timedelta(seconds=1))
    before = client.get(f"/api/v{version}/openapi.json").get_json()
    at(app, DEPRECATED_AT)
    after = client.get(f"/api/v{version}/openapi.json").get_json()

    assert not any("deprecated" in op for op in operations(before))
    assert operations(after) and all(op["deprecated"] is True for op in operations(after))
    for other in served(client):
        if other != version:
            document = client.get(f"/api/v{other}/openapi.json").get_json()
            assert not any("deprecated" in op for op in operations(document))


# Settings that refuse to start


def refusal(environ: dict[str, str], tmp_path) -> str:
    with pytest.raises(ConfigError) as caught:
        create_app(environ={**base_environ(f"sqlite:///{tmp_path / 'x.db'}"), **environ})
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("n", REGISTRY.numbers)
@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"V{n}_SUNSET_AT": "2027-01-01T00:00:00Z"}, "V{n}_SUNSET_AT"),
        (
            {"V{n}_DEPRECATED_AT": JAN_1, "V{n}_SUNSET_AT": "2026-12-01T00:00:00Z"},
            "V{n}_SUNSET_AT",
        ),
        (
            {"V{n}_DEPRECATED_AT": JAN_1, "V{n}_SUNSET_AT": JAN_1},
            "V{n}_SUNSET_AT",
        ),
        ({"V{n}_DEPRECATED_AT": "next week"}, "V{n}_DEPRECATED_AT"),
        ({"V{n}_BROWNOUTS": "2027-01-12T14:00:00Z/2027-01-12T15:00:00Z"}, "V{n}_BROWNOUTS"),
        (
            {
                "V{n}_DEPRECATED_AT": "2027-01-13T00:00:00Z",
                "V{n}_BROWNOUTS": "2027-01-12T14:00:00Z/2027-01-12T15:00:00Z",
            },
            "V{n}_BROWNOUTS",
        ),
        (
            {
                "V{n}_DEPRECATED_AT": "2027-01-01T00:00:00Z",
                "V{n}_SUNSET_AT": "2027-01-12T14:30:00Z",
                "V{n}_BROWNOUTS": "2027-01-12T14:00:00Z/2027-01-12T15:00:00Z",
            },
            "V{n}_BROWNOUTS",
        ),
        (
            {"V{n}_DEPRECATED_AT": "2027-01-01T00:00:00Z", "V{n}_BROWNOUTS": "2027-01-12T14:00Z"},
            "V{n}_BROWNOUTS",
        ),
        (
            {
                "V{n}_DEPRECATED_AT": "2027-01-01T00:00:00Z",
                "V{n}_BROWNOUTS": "2027-01-12T15:00:00Z/2027-01-12T14:00:00Z",
            },
            "V{n}_BROWNOUTS",
        ),
        (
            {"V{n}_DEPRECATED_AT": "2027-01-01T00:00:00Z", "V{n}_BROWNOUTS": "soon/later"},
            "V{n}_BROWNOUTS",
        ),
    ],
    ids=[
        "sunset-without-deprecation",
        "sunset-before-deprecation",
        "sunset-at-deprecation",
        "malformed-date",
        "brownout-without-deprecation",
        "brownout-before-deprecation",
        "brownout-after-sunset",
        "not-an-interval",
        "interval-ending-first",
        "malformed-interval",
    ],
)
def test_inconsistent_lifecycle_settings_refuse_to_start(tmp_path, n, environ, variable):
    environ = {name.format(n=n): value for name, value in environ.items()}

    assert variable.format(n=n) in refusal(environ, tmp_path)


def test_a_setting_for_a_version_that_is_not_served_refuses_to_start(tmp_path):
    unknown = str(int(REGISTRY.latest.number) + 1)

    message = refusal({f"V{unknown}_DEPRECATED_AT": "2027-01-01T00:00:00Z"}, tmp_path)

    assert f"V{unknown}_DEPRECATED_AT" in message and "served versions" in message


def test_brownouts_inside_the_deprecated_period_start(tmp_path):
    environ = {
        "V1_DEPRECATED_AT": "2027-01-01T00:00:00Z",
        "V1_SUNSET_AT": "2027-02-01T00:00:00Z",
        "V1_BROWNOUTS": " 2027-01-12T14:00:00Z/2027-01-12T15:00:00Z ,"
        "2027-01-05T14:00:00+01:00/2027-01-05T15:00:00+01:00",
    }
    app = create_app(environ={**base_environ(f"sqlite:///{tmp_path / 'x.db'}"), **environ})

    brownouts = app.extensions["api_lifecycle"]["1"].brownouts
    assert brownouts == (
        (parse_datetime("x", "2027-01-05T13:00:00Z"), parse_datetime("x", "2027-01-05T14:00:00Z")),
        (parse_datetime("x", "2027-01-12T14:00:00Z"), parse_datetime("x", "2027-01-12T15:00:00Z")),
    )
