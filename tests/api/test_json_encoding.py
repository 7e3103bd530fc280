"""Responses encoded by orjson (api.platform.encoding) are byte for byte Flask's own."""

from __future__ import annotations

import dataclasses
import decimal
import uuid
from datetime import UTC, date, datetime

import pytest
from flask.json.provider import DefaultJSONProvider


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Name(str):
    pass


BODIES = [
    {"success": True, "data": {"id": 1, "title": "Fluent Python", "year": None}},
    {"books": [{"id": n, "title": f"Book {n}", "isbn": None} for n in range(30)], "total": 30},
    {"title": "Café – naïve ☕"},  # non-ASCII: escaped as Flask escapes it
    {"title": 'a\x7fb\x1fc\td"e\\f'},  # DEL, control characters, quotes, backslashes
    {"when": datetime(2026, 11, 23, 19, 51, 6, tzinfo=UTC), "day": date(2026, 1, 2)},
    {"big": 2**70, "small": -(2**63)},
    {1: "int key", "b": [1, 2.5, "x"]},
    {"point": Point(1, 2), "price": decimal.Decimal("9.99"), "id": uuid.UUID(int=5)},
    {"name": Name("subclass"), "nested": [[{"deep": ["er"]}]]},
    ["a", "list", "body"],
    "a string body",
    7,
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
@pytest.mark.parametrize("sort_keys", [False, True])
def test_bytes_equal_flask_own_encoder(app, body, sort_keys):
    flask_own = DefaultJSONProvider(app)
    flask_own.sort_keys = app.json.sort_keys = sort_keys
    with app.app_context():
        try:
            theirs = flask_own.response(body)
        except TypeError:  # e.g. keys of mixed types cannot be sorted: ours refuses as well
            with pytest.raises(TypeError):
                app.json.response(body)
            return
        ours = app.json.response(body)
    assert ours.get_data() == theirs.get_data()
    assert ours.mimetype == theirs.mimetype == "application/json"


def test_a_book_with_non_ascii_text_is_answered_as_before(api, make_user, auth_headers):
    headers = auth_headers(make_user())
    created = api.post(
        "/books", headers=headers, json={"title": "Œuvres complètes", "author": "Zoë Ünal"}
    )
    assert created.status_code == 201
    raw = created.get_data()
    assert raw.isascii() and b"\\u0152uvres compl\\u00e8tes" in raw
    assert api.data(created)["title"] == "Œuvres complètes"


def test_json_responses_come_from_orjson(app, monkeypatch):
    """The fast path is the one taken for a plain body (it could silently fall back)."""
    import orjson

    calls = []
    real = orjson.dumps
    monkeypatch.setattr(
        "api.platform.encoding.orjson.dumps", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    response = app.test_client().get("/api/v1/books")
    assert response.status_code == 200 and calls
