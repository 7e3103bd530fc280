"""``flask compare-traffic``: recorded traffic replayed through a running server's compare
endpoint, with its reports and exit codes (contract §12)."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa

from api.resources.compare_traffic import read_entries
from tests.conftest import PASSWORD
from tests.live import call, gunicorn, server_env


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A gunicorn on its own SQLite database, a signed-in user and one book."""
    workdir = tmp_path_factory.mktemp("traffic")
    database = f"sqlite:///{workdir / 'books.db'}"
    env = server_env(database, workdir)
    from flask_migrate import upgrade

    from api import create_app

    setup = create_app(environ=env)
    with setup.app_context():
        upgrade()
    with gunicorn(env) as base:
        email = "replayer@example.com"
        call(f"{base}/api/v2/auth/register", "POST", {"email": email, "password": PASSWORD})
        _, tokens = call(
            f"{base}/api/v2/auth/login", "POST", {"email": email, "password": PASSWORD}
        )
        token = tokens["data"]["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        status, book = call(
            f"{base}/api/v2/books", "POST", {"title": "Dune", "author": "F. H."}, headers
        )
        assert status == 201
        yield {"base": base, "token": token, "book": book["data"]["id"], "database": database}


def _har(*requests: dict) -> dict:
    return {"log": {"version": "1.2", "creator": {"name": "test"}, "entries": list(requests)}}


def _entry(method: str, url: str, body: dict | None = None, mime="application/json") -> dict:
    request = {"method": method, "url": url, "httpVersion": "HTTP/1.1", "headers": []}
    if body is not None:
        request["postData"] = {"mimeType": mime, "text": json.dumps(body)}
    return {"request": request, "response": {"status": 200}}


def _books(database: str) -> int:
    engine = sa.create_engine(database)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT count(*) FROM books")).scalar()
    finally:
        engine.dispose()


def _run(app, *args):
    return app.test_cli_runner().invoke(args=["compare-traffic", *args])


def test_a_har_file_with_matching_differing_refused_and_foreign_entries(app, live, tmp_path):
    base, book = live["base"], live["book"]
    har = tmp_path / "traffic.har"
    har.write_text(
        json.dumps(
            _har(
                _entry("GET", f"https://books.example.com/api/v1/books/{book}"),
                _entry("GET", "https://books.example.com/api/v1/books?page=abc"),
                _entry(
                    "POST",
                    "https://books.example.com/api/v1/books",
                    {"title": "New", "author": "A"},
                ),
                _entry("POST", "https://books.example.com/api/v1/auth/login", {"email": "x"}),
                _entry("GET", "https://fonts.example.net/css?family=Inter"),
                _entry("GET", "https://books.example.com/api/docs/"),
                _entry(
                    "POST", "https://books.example.com/api/v1/books", mime="text/plain", body={}
                ),
                {"request": "not an object"},
            )
        )
    )
    outputs = {name: tmp_path / f"report.{name}" for name in ("json", "xml", "html")}
    before = _books(live["database"])

    result = _run(
        app, str(har), "--base-url", base, "--token", live["token"],
        "--json", str(outputs["json"]), "--junit", str(outputs["xml"]),
        "--html", str(outputs["html"]),
    )  # fmt: skip

    assert result.exit_code == 1, result.output
    assert _books(live["database"]) == before  # the POST was compared, never written
    report = json.loads(outputs["json"].read_text())
    assert report["summary"] == {"requests": 8, "compared": 3, "skipped": 5, "with_differences": 1}
    assert report["endpoints"] == [
        {"endpoint": "GET /books", "requests": 1, "with_differences": 1},
        {"endpoint": "GET /books/<id>", "requests": 1, "with_differences": 0},
        {"endpoint": "POST /books", "requests": 1, "with_differences": 0},
    ]
    differing = next(r for r in report["results"] if r["differences"])
    assert differing["differences"] == [{"path": "", "v1": 200, "v2": 400, "kind": "status"}]
    reasons = {item["entry"]: item["reason"] for item in report["skipped"]}
    assert reasons[4].startswith("refused by the server (422)") and "path" in reasons[4]
    assert reasons[5] == "outside the API"
    assert reasons[6] == "documentation, not an API call"
    assert reasons[7] == "the body is not JSON"
    assert reasons[8] == "malformed entry: no request"
    assert "GET /books/<id>" in result.output and "3 compared, 1 with differences" in result.output

    suite = ElementTree.parse(outputs["xml"]).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("8", "1", "5")
    failures = [case for case in suite.iter("testcase") if case.find("failure") is not None]
    assert len(failures) == 1 and "status" in failures[0].find("failure").text

    page = outputs["html"].read_text()
    assert (
        page.startswith("<!doctype html>")
        and "<script" not in page
        and "http" not in page.split("<body>", 1)[0]
    )
    assert "GET /books/&lt;id&gt;" in page and "with differences" in page


def test_json_lines_without_differences_exit_0(app, live, tmp_path):
    lines = tmp_path / "traffic.jsonl"
    lines.write_text(
        "\n".join(
            [
                json.dumps({"method": "GET", "path": f"/books/{live['book']}"}),
                json.dumps({"method": "GET", "path": "/api/v2/books", "query": {"per_page": "5"}}),
                "not json",
                json.dumps({"path": "/books"}),
                "",
            ]
        )
    )

    result = _run(app, str(lines), "--base-url", live["base"], "--token", live["token"])

    assert result.exit_code == 0, result.output
    assert "4 requests read, 2 compared, 0 with differences, 2 skipped" in result.output
    assert "skipped #3: malformed line: not JSON" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("", "no usable request"),
        (json.dumps({"log": {"entries": "nope"}}), "log.entries"),
        (json.dumps(_har(_entry("GET", "https://elsewhere.example/x"))), "no usable request"),
    ],
)
def test_bad_input_exits_2(app, live, tmp_path, content, message):
    path = tmp_path / "input.har"
    if content is not None:
        path.write_text(content)

    result = _run(app, str(path), "--base-url", live["base"], "--token", live["token"])

    assert result.exit_code == 2
    assert message in result.output


def test_refused_credentials_and_an_unreachable_server_exit_2(app, live, tmp_path):
    lines = tmp_path / "one.jsonl"
    lines.write_text(json.dumps({"method": "GET", "path": "/books"}))

    anonymous = _run(app, str(lines), "--base-url", live["base"])
    unreachable = _run(app, str(lines), "--base-url", "http://127.0.0.1:9", "--token", "t")

    assert anonymous.exit_code == 2 and "credentials" in anonymous.output
    assert unreachable.exit_code == 2 and "cannot reach" in unreachable.output


def test_har_queries_and_repeated_parameters_are_kept(tmp_path):
    har = tmp_path / "q.har"
    har.write_text(
        json.dumps(_har(_entry("GET", "http://h/api/books?sort=title&author=a&author=b")))
    )

    (entry,), skipped = read_entries(har)

    assert skipped == []
    assert (entry.method, entry.path, entry.query) == (
        "GET",
        "/books",
        {"sort": "title", "author": ["a", "b"]},
    )
