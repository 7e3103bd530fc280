"""The HTML report of ``flask compare-traffic``, opened in the headless Chromium of the docs
page test: it renders on its own (no network) and shows each difference with both values."""

from __future__ import annotations

from api.resources.compare_traffic import page, report
from tests.browser.test_docs_page import browser  # noqa: F401  (the fixture, and its skip)


def _result(entry: int, path: str, differences: list[dict]) -> dict:
    return {
        "entry": entry,
        "endpoint": "GET /books/<id>",
        "request": {"method": "GET", "path": path},
        "v1": {"status": 200, "headers": {}, "body": {"id": 1, "year": 1965}},
        "v2": {"status": 200, "headers": {}, "body": {"success": True, "data": {"id": 1}}},
        "differences": differences,
    }


def test_the_report_shows_each_difference_with_both_values(browser, tmp_path):  # noqa: F811
    missing = {"path": "year", "v1": 1965, "v2": None, "kind": "missing"}
    data = report(
        3,
        [_result(1, "/books/1", [missing]), _result(2, "/books/2", [])],
        [],
    )
    path = tmp_path / "report.html"
    path.write_text(page(data), encoding="utf-8")

    browser.get(path.as_uri())

    assert browser.title == "v1 → v2 comparison"
    text = browser.find_element("tag name", "body").text
    assert "GET /books/<id>" in text
    assert "No difference." in text
    rows = browser.find_elements("css selector", "td.kind")
    assert [row.text for row in rows] == ["missing"]
    cells = rows[0].find_element("xpath", "..").find_elements("tag name", "td")
    assert [cell.text for cell in cells] == ["missing", "year", "1965", "null"]
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
