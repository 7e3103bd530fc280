"""Fixtures for the OWASP API Top 10 modules: unversioned clients, limited apps, API keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from api.versions import REGISTRY
from core.extensions import db
from core.models import Book, User
from core.services import api_keys
from tests.conftest import Api

# Node ids of tests deselected in this session (-k, -m), for the inventory's existence check.
DESELECTED = pytest.StashKey[set[str]]()


def pytest_deselected(items):
    if items:
        items[0].config.stash.setdefault(DESELECTED, set()).update(i.nodeid for i in items)


@dataclass
class UnversionedApi(Api):
    """The unversioned ``/api`` URLs, sending ``API-Version: <version>`` on every request."""

    def __post_init__(self):
        self.prefix = "/api"

    def _versioned(self, kw: dict) -> dict:
        return {**kw, "headers": {"API-Version": self.version, **(kw.get("headers") or {})}}

    def get(self, path, **kw):
        return super().get(path, **self._versioned(kw))

    def post(self, path, **kw):
        return super().post(path, **self._versioned(kw))

    def put(self, path, **kw):
        return super().put(path, **self._versioned(kw))

    def delete(self, path, **kw):
        return super().delete(path, **self._versioned(kw))


def send(api: Api, method: str, path: str, **kw):
    """Any method through ``api``, with the API-Version header an unversioned client adds."""
    if isinstance(api, UnversionedApi):
        kw = api._versioned(kw)
    return api.client.open(api.url(path), method=method, **kw)


@pytest.fixture(params=[f"v{n}" for n in REGISTRY.numbers] + ["unversioned"])
def any_api(request, client) -> Api:
    """Every URL form: each /api/v<n> and the unversioned /api (with the latest API-Version)."""
    if request.param == "unversioned":
        return UnversionedApi(client, REGISTRY.latest.number)
    return Api(client, request.param[1:])


_KEY_VERSIONS = [v.number for v in REGISTRY if v.serves("api_keys")]


@pytest.fixture(params=[f"v{n}" for n in _KEY_VERSIONS] + ["unversioned"])
def keys_api(request, client) -> Api:
    """The URLs serving API key management: each /api/v<n> that serves it and the unversioned
    /api (with the latest such API-Version)."""
    if request.param == "unversioned":
        return UnversionedApi(client, _KEY_VERSIONS[-1])
    return Api(client, request.param[1:])


@pytest.fixture
def limited(make_app) -> Callable[..., FlaskClient]:
    """A client of an app with rate limiting on and small limits (memory storage)."""

    def build(**env: str) -> FlaskClient:
        settings = {
            "RATELIMIT_ENABLED": "true",
            "RATELIMIT_DEFAULT": "5 per minute",
            "RATELIMIT_LOGIN": "20 per minute",
            "RATELIMIT_LOGIN_EMAIL": "3 per minute",
            "RATELIMIT_REGISTER": "2 per minute",
            **env,
        }
        return make_app(**settings).test_client()

    return build


@dataclass(frozen=True)
class IssuedKey:
    id: int
    plaintext: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.plaintext}


@pytest.fixture
def make_key(app, admin) -> Callable[..., IssuedKey]:
    """Issue an API key through the service, created by ``admin``."""

    def build(scopes=("read", "write"), name: str = "service") -> IssuedKey:
        with app.app_context():
            key, plaintext = api_keys.create_key(name, scopes, db.session.get(User, admin.id))
            return IssuedKey(key.id, plaintext)

    return build


@pytest.fixture
def admin_headers(admin, auth_headers) -> dict[str, str]:
    return auth_headers(admin)


def count_rows(app: Flask, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def stored_book(app: Flask, book_id: int) -> Book | None:
    """The book as stored now, detached (None when it is gone)."""
    with app.app_context():
        book = db.session.get(Book, book_id)
        if book is not None:
            db.session.expunge(book)
        return book


def error_reason(api: Api, response) -> str | None:
    return api.error(response)["reason"]
