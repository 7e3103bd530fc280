"""Version usage (contract §11): counted per client, version, endpoint and UTC day in memory,
flushed to the shared store, and reported to the client itself, to the admin and on the CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from api.platform import usage as counting
from core.extensions import db
from core.models import VersionUsage
from core.services import api_keys
from tests.conftest import TEST_NOW

USAGE = "/api/v2/auth/me/usage"
ADMIN_USAGE = "/api/v2/admin/version-usage"
DAY = TEST_NOW.strftime("%Y-%m-%dT%H:%M:%SZ")


def _flush(app) -> int:
    return counting.flush(app)


def _stored(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(VersionUsage)).scalar()


def _endpoints(entry) -> dict[str, int]:
    return {e["endpoint"]: e["requests"] for e in entry["endpoints"]}


def test_a_client_sees_its_own_requests_per_version_and_endpoint(
    app, client, user, auth_headers, make_book
):
    headers = auth_headers(user)
    book = make_book()
    client.get("/api/v1/books", headers=headers)
    client.get("/api/v1/books", headers=headers)
    client.get(f"/api/v1/books/{book.id}", headers=headers)
    client.get(f"/api/books/{book.id}", headers={**headers, "API-Version": "2"})
    client.get("/api/v2/auth/me", headers=headers)
    client.get("/api/v2/books")  # anonymous: someone else's count
    assert _flush(app) == 6

    response = client.get(USAGE, headers=headers)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["success"] is True
    report = body["data"]
    assert report["days"] == 30
    assert [v["version"] for v in report["versions"]] == ["1", "2"]
    v1, v2 = report["versions"]
    assert v1["requests"] == 3 and v2["requests"] == 2
    assert _endpoints(v1) == {"GET /books": 2, "GET /books/<id>": 1}
    assert _endpoints(v2) == {"GET /books/<id>": 1, "GET /auth/me": 1}
    assert v1["last_seen"] == v2["last_seen"] == DAY
    assert body["links"]["self"] == "http://localhost/api/v2/auth/me/usage?days=30"


def test_nothing_is_written_on_the_request_path(app, client, count_queries):
    with count_queries() as statements:
        client.get("/api/v1/books")
        client.get("/api/v2/books/999")
    assert not [s for s in statements if "version_usage" in s]
    assert _stored(app) == 0
    assert _flush(app) == 2
    assert _stored(app) == 2


def test_counts_from_several_processes_add_up(make_app, user, auth_headers):
    first, second = make_app(), make_app()
    headers = auth_headers(user)
    for app, times in ((first, 3), (second, 4)):
        for _ in range(times):
            app.test_client().get("/api/v1/books", headers=headers)
    _flush(first)
    _flush(second)
    first.test_client().get("/api/v1/books", headers=headers)
    _flush(first)

    report = first.test_client().get(USAGE, headers=headers).get_json()["data"]
    assert _endpoints(report["versions"][0]) == {"GET /books": 8}


def test_a_failed_flush_keeps_its_counts_for_the_next(app, client, monkeypatch):
    client.get("/api/v1/books")
    client.get("/api/v1/books")
    with app.app_context():
        store = counting.store()

    def down(counts):
        raise ConnectionError("store down")

    monkeypatch.setattr(store, "add", down)
    assert _flush(app) == 0
    client.get("/api/v1/books")
    monkeypatch.undo()
    assert _flush(app) == 3
    with app.app_context():
        (row,) = db.session.execute(sa.select(VersionUsage)).scalars()
    assert (row.client_type, row.version, row.endpoint, row.requests) == (
        "anonymous",
        "1",
        "GET /books",
        3,
    )


def test_an_api_key_sees_the_keys_own_counts(app, client, admin, auth_headers):
    with app.app_context():
        owner = db.session.get(type(admin), admin.id)
        key, plaintext = api_keys.create_key("service", ["read"], owner)
        key_id = key.id
    key_headers = {"X-API-Key": plaintext}
    client.get("/api/v2/books", headers=key_headers)
    client.get("/api/v2/books", headers=auth_headers(admin))  # the admin's, not the key's
    _flush(app)

    mine = client.get(USAGE, headers=key_headers).get_json()["data"]
    assert _endpoints(mine["versions"][0]) == {"GET /books": 1}
    rows = client.get(ADMIN_USAGE, headers=auth_headers(admin)).get_json()["data"]
    clients = {(r["client"]["type"], r["client"].get("id")) for r in rows}
    assert clients == {("api_key", key_id), ("user", admin.id)}
    key_row = next(r for r in rows if r["client"]["type"] == "api_key")
    assert key_row["client"]["name"] == "service"


def test_the_admin_report_lists_clients_of_a_version_most_requests_first(
    app, client, user, admin, auth_headers
):
    for _ in range(3):
        client.get("/api/v1/books")
    client.get("/api/v1/books", headers=auth_headers(user))
    client.get("/api/books", headers=auth_headers(user))  # the default version: v1
    client.get("/api/v2/books", headers=auth_headers(user))
    client.get("/api/v1/nowhere")
    _flush(app)

    response = client.get(f"{ADMIN_USAGE}?version=1", headers=auth_headers(admin))

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    rows = body["data"]
    assert [r["client"] for r in rows] == [
        {"type": "anonymous"},
        {"type": "user", "id": user.id, "email": user.email},
    ]
    anonymous, person = rows
    assert anonymous["requests"] == 4
    assert _endpoints(anonymous) == {"GET /books": 3, "GET (no route)": 1}
    assert person["requests"] == 2 and person["versions"] == ["1"]
    assert person["first_seen"] == person["last_seen"] == DAY
    assert body["pagination"]["total_items"] == 2
    assert response.headers["X-Total-Count"] == "2"

    paged = client.get(f"{ADMIN_USAGE}?version=v1&per_page=1&page=2", headers=auth_headers(admin))
    page_body = paged.get_json()
    assert [r["client"]["type"] for r in page_body["data"]] == ["user"]
    assert (
        page_body["pagination"]["has_prev"] is True and page_body["pagination"]["has_next"] is False
    )
    assert "page=1" in page_body["links"]["prev"] and "version=v1" in page_body["links"]["prev"]

    every = client.get(ADMIN_USAGE, headers=auth_headers(admin)).get_json()["data"]
    assert {r["client"]["type"]: r["versions"] for r in every} == {
        "anonymous": ["1"],
        "user": ["1", "2"],
    }


def test_the_window_counts_whole_utc_days(app, client, user, auth_headers):
    with app.app_context():
        db.session.add(
            VersionUsage(
                day=TEST_NOW.date() - timedelta(days=1),
                client_type="user",
                client_id=user.id,
                version="1",
                endpoint="GET /books",
                requests=5,
                first_seen=TEST_NOW,
                last_seen=TEST_NOW,
            )
        )
        db.session.commit()
    headers = auth_headers(user)
    one_day = client.get(f"{USAGE}?days=1", headers=headers).get_json()["data"]
    two_days = client.get(f"{USAGE}?days=2", headers=headers).get_json()["data"]
    assert one_day["versions"] == []
    assert two_days["versions"][0]["requests"] == 5


@pytest.mark.parametrize("days", ["0", "91", "abc", "-1", "2.5"])
def test_a_bad_days_is_400_invalid_query(client, user, admin, auth_headers, days):
    for url, headers in ((USAGE, auth_headers(user)), (ADMIN_USAGE, auth_headers(admin))):
        response = client.get(f"{url}?days={days}", headers=headers)
        assert response.status_code == 400, response.get_json()
        error = response.get_json()["error"]
        assert error["reason"] == "invalid_query" and "days" in error["details"]


@pytest.mark.parametrize("version", ["9", "abc", "v0"])
def test_an_unknown_version_is_400_invalid_query(client, admin, auth_headers, version):
    response = client.get(f"{ADMIN_USAGE}?version={version}", headers=auth_headers(admin))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["reason"] == "invalid_query" and "version" in error["details"]


def test_the_reports_need_a_client_and_the_admins_an_admin(client, user, auth_headers):
    assert client.get(USAGE).status_code == 401
    assert client.get(ADMIN_USAGE).status_code == 401
    forbidden = client.get(ADMIN_USAGE, headers=auth_headers(user))
    assert forbidden.status_code == 403


def test_v1_does_not_serve_the_reports(client, user, auth_headers):
    assert client.get("/api/v1/auth/me/usage", headers=auth_headers(user)).status_code == 404


def test_counting_off_counts_nothing(make_app):
    app = make_app(USAGE_COUNTING="false")
    app.test_client().get("/api/v1/books")
    assert counting.flush(app) == 0


def test_the_docs_page_is_not_counted(app, client):
    client.get("/api/docs/")
    assert counting.flush(app) == 0


def test_the_cli_reports_in_three_formats(app, client, user, auth_headers):
    client.get("/api/v1/books", headers=auth_headers(user))
    client.get("/api/v1/books")
    client.get("/api/v1/books")
    _flush(app)
    runner = app.test_cli_runner()

    as_json = runner.invoke(args=["version-usage", "--version", "1", "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    assert [(r["client"]["type"], r["requests"]) for r in rows] == [("anonymous", 2), ("user", 1)]
    assert rows[1]["client"]["email"] == user.email

    as_csv = runner.invoke(args=["version-usage", "--format", "csv", "--days", "7"])
    table = list(csv.reader(io.StringIO(as_csv.output)))
    assert table[0][:3] == ["client", "requests", "versions"]
    assert table[1][:3] == ["anonymous", "2", "1"]
    assert table[2][0] == f"user {user.id} ({user.email})"

    as_table = runner.invoke(args=["version-usage"])
    assert "anonymous\t2 requests" in as_table.output
    assert "GET /books" in as_table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--version", "7"], "unknown version '7'"),
        (["--days", "0"], "from 1 to 90"),
        (["--days", "91"], "from 1 to 90"),
    ],
)
def test_the_cli_refuses_bad_input_in_one_line(app, args, message):
    result = app.test_cli_runner().invoke(args=["version-usage", *args])
    assert result.exit_code == 1
    assert message in result.output


def test_redis_is_the_shared_store_when_configured(make_app, redis_url, user, auth_headers):
    first = make_app(USAGE_STORAGE_URI=redis_url)
    second = make_app(USAGE_STORAGE_URI=redis_url)
    headers = auth_headers(user)
    first.test_client().get("/api/v1/books", headers=headers)
    second.test_client().get("/api/v1/books", headers=headers)
    second.test_client().get("/api/v2/books/1", headers=headers)
    assert counting.flush(first) == 1
    assert counting.flush(second) == 2
    assert _stored(first) == 0  # nothing in the database

    report = first.test_client().get(USAGE, headers=headers).get_json()["data"]
    assert {v["version"]: _endpoints(v) for v in report["versions"]} == {
        "1": {"GET /books": 2},
        "2": {"GET /books/<id>": 1},
    }
    assert report["versions"][0]["last_seen"] == DAY
