"""A frozen v1: each version's OpenAPI document and its answers to a fixed scenario stay as
committed in tests/contract/snapshots/ (v1 forever; v2 unless a break is forced on purpose).

A breaking change fails naming each one. An additive change passes the breaking check but
still fails until the snapshot is refreshed with ``make snapshots``, so a snapshot always
equals what the code serves and every change to it shows in review.
"""

from __future__ import annotations

import pytest

from api import create_app
from tests.conftest import TEST_NOW, base_environ
from tests.contract import frozen
from tools.openapi_diff import breaking_changes, report

MAX_LISTED = 25


def _listed(lines: list[str]) -> str:
    shown = [f"  - {line}" for line in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        shown.append(f"  ... and {len(lines) - MAX_LISTED} more")
    return "\n".join(shown)


def _how_to_break(version: str) -> str:
    if version in frozen.FROZEN:
        return f"v{version} is frozen: undo the change (a client of v{version} would notice it)."
    return (
        f"Undo the change, or, if v{version} may break on purpose, "
        "`make snapshots FORCE=1` and commit the snapshot."
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> dict[str, dict]:
    """Each served version's OpenAPI document, fetched over HTTP from ``create_app``."""
    url = f"sqlite:///{tmp_path_factory.mktemp('frozen') / 'documents.db'}"
    app = create_app(environ=base_environ(url))
    app.config["CLOCK"] = lambda: TEST_NOW  # lifecycle status, hence the document, is fixed
    client = app.test_client()
    return {v: frozen.openapi_document(client, v) for v in frozen.served_versions(client)}


def _snapshot(kind: str, version: str):
    path = frozen.snapshot_path(kind, version)
    if not path.exists():
        pytest.fail(f"no snapshot {path.name} for v{version}: {frozen.UPDATE_HINT}")
    return frozen.load(path)


def test_every_served_version_has_snapshots(served):
    names = {path.name for path in frozen.SNAPSHOTS.glob("*.json")}
    expected = {f"{kind}-v{v}.json" for v in served for kind in ("openapi", "golden")}
    assert expected <= names, f"missing {sorted(expected - names)}: {frozen.UPDATE_HINT}"
    assert frozen.FROZEN <= set(served), "a frozen version is no longer served"


def test_openapi_document_matches_its_snapshot(served, version):
    snapshot = _snapshot("openapi", version)
    changes = report(breaking_changes(snapshot, served[version]))
    if changes:
        pytest.fail(
            f"v{version}'s OpenAPI document breaks clients of "
            f"tests/contract/snapshots/openapi-v{version}.json:\n{_listed(changes)}\n"
            + _how_to_break(version),
            pytrace=False,
        )
    if snapshot != served[version]:
        lines = [message for _, message in frozen.json_differences(snapshot, served[version])]
        pytest.fail(
            f"openapi-v{version}.json is out of date (the changes are not breaking):\n"
            f"{_listed(lines)}\nSnapshot out of date: {frozen.UPDATE_HINT}.",
            pytrace=False,
        )


def test_golden_responses(make_app, version):
    expected = _snapshot("golden", version)
    actual = frozen.run_scenario(make_app, version)
    differences = frozen.golden_differences(expected, actual)
    breaking = [message for kind, message in differences if frozen.is_breaking(kind)]
    other = [message for kind, message in differences if not frozen.is_breaking(kind)]
    if breaking:
        pytest.fail(
            f"v{version} answers the golden scenario differently from "
            f"tests/contract/snapshots/golden-v{version}.json:\n{_listed(breaking)}\n"
            + (f"and, not breaking:\n{_listed(other)}\n" if other else "")
            + _how_to_break(version),
            pytrace=False,
        )
    if other:
        pytest.fail(
            f"golden-v{version}.json is out of date (the changes are not breaking):\n"
            f"{_listed(other)}\nSnapshot out of date: {frozen.UPDATE_HINT}.",
            pytrace=False,
        )


def test_serving_a_new_version_does_not_break_v1s_document(tmp_path):
    from tests.api.test_registry import WITH_V3  # the registry's throwaway v3

    app = create_app(environ=base_environ(f"sqlite:///{tmp_path / 'v3.db'}"), versions=WITH_V3)
    app.config["CLOCK"] = lambda: TEST_NOW
    document = frozen.openapi_document(app.test_client(), "1")
    assert report(breaking_changes(_snapshot("openapi", "1"), document)) == []


# -- the helpers the snapshots rely on ----------------------------------------------------------


def test_normalising_keeps_what_a_client_would_notice():
    body = {
        "id": 7,
        "created_by": None,
        "user": {"id": "7"},  # an id that became a string stays visible
        "created_at": "2026-12-02T12:25:07Z",
        "updated_at": "2026-12-02T12:25:07.123456+00:00",  # another format stays visible
        "links": {"self": "http://localhost/api/v2/books/7?cursor=abc.def"},
        "access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    }
    assert frozen.normalise(body) == {
        "id": "<id>",
        "created_by": None,
        "user": {"id": "7"},
        "created_at": "<timestamp>",
        "updated_at": "<timestamp 9999-99-99T99:99:99.999999+99:99>",
        "links": {"self": "http://localhost/api/v2/books/<id>?cursor=<cursor>"},
        "access_token": "<token>",
    }
    assert frozen.normalise_header("ETag", 'W/"abc"') == "W/<etag>"
    assert frozen.normalise_header("ETag", '"abc"') == "<etag>"
    assert frozen.normalise_header("Allow", "PUT, GET, HEAD") == "GET, HEAD, PUT"
    assert frozen.normalise_header("Retry-After", "59") == "<seconds>"


def test_golden_differences_tell_breaking_from_additive():
    def step(name, status, body):
        request = {"method": "GET", "path": f"/api/v1/{name}"}
        return {"name": name, "request": request, "response": {"status": status, "body": body}}

    old = [step("a", 200, {"year": 1965, "tags": ["sf"]}), step("b", 200, {})]
    new = [step("a", 201, {"tags": ["sf", "classic"], "subtitle": "x"}), step("c", 200, {})]
    assert frozen.golden_differences(old, new) == [
        ("changed", "step 'a' (GET /api/v1/a): status changed from 200 to 201"),
        ("removed", "step 'a' (GET /api/v1/a): body.year removed (was 1965)"),
        ("changed", "step 'a' (GET /api/v1/a): body.tags gained [\"classic\"]"),
        ("added", "step 'a' (GET /api/v1/a): body.subtitle added (\"x\")"),
        ("scenario", "step 'b' (GET /api/v1/b): no longer in the scenario"),
        ("scenario", "step 'c': new in the scenario"),
    ]
    assert [frozen.is_breaking(kind) for kind in ("changed", "removed", "added", "scenario")] == [
        True,
        True,
        False,
        False,
    ]


def test_an_exposed_header_gained_is_additive_and_one_lost_is_breaking():
    def step(exposed):
        request = {"method": "GET", "path": "/api/v1/books"}
        headers = {"Access-Control-Expose-Headers": exposed, "API-Version": "1"}
        return [{"name": "a", "request": request, "response": {"status": 200, "headers": headers}}]

    label = "step 'a' (GET /api/v1/books): headers.Access-Control-Expose-Headers"
    gained = frozen.golden_differences(step("ETag, Link"), step("ETag, Idempotent-Replayed, Link"))
    assert gained == [("added", f'{label} gained ["Idempotent-Replayed"]')]
    lost = frozen.golden_differences(step("ETag, Link"), step("ETag"))
    assert lost == [("removed", f'{label} lost ["Link"]')]
    assert frozen.golden_differences(step("ETag, Link"), step("ETag,Link")) == []
