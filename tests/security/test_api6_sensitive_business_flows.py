"""OWASP API6:2023 Unrestricted Access to Sensitive Business Flows: sign-ups, writes throttled."""

from __future__ import annotations

from core.models import Book, User
from tests.conftest import PASSWORD, Api
from tests.security.conftest import count_rows

REGISTER_URLS = ["/api/v1/auth/register", "/api/v2/auth/register", "/api/auth/register"]


def _register(client, url: str, n: int, **kw):
    return client.post(url, json={"email": f"bulk{n}@example.com", "password": PASSWORD}, **kw)


def test_mass_registration_meets_429_on_every_url_and_creates_nothing_more(limited, app):
    client = limited(RATELIMIT_REGISTER="2 per minute")

    statuses = [_register(client, url, n).status_code for n, url in enumerate(REGISTER_URLS)]

    assert statuses == [201, 201, 429]
    assert count_rows(app, User) == 2
    refused = _register(client, REGISTER_URLS[1], 9)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["reason"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert count_rows(app, User) == 2


def test_the_registration_limit_is_per_client_address(limited, app):
    client = limited(RATELIMIT_REGISTER="1 per minute")
    first, second = ({"REMOTE_ADDR": "192.0.2.1"}, {"REMOTE_ADDR": "192.0.2.2"})

    assert _register(client, REGISTER_URLS[0], 1, environ_base=first).status_code == 201
    assert _register(client, REGISTER_URLS[0], 2, environ_base=first).status_code == 429
    assert _register(client, REGISTER_URLS[0], 3, environ_base=second).status_code == 201
    assert count_rows(app, User) == 2


def test_a_spoofed_forwarded_for_does_not_buy_more_registrations(limited, app):
    client = limited(RATELIMIT_REGISTER="1 per minute")

    statuses = [
        _register(
            client, REGISTER_URLS[1], n, headers={"X-Forwarded-For": f"203.0.113.{n}"}
        ).status_code
        for n in range(3)
    ]

    assert statuses == [201, 429, 429]
    assert count_rows(app, User) == 1


def test_flooding_the_catalogue_meets_429_and_stores_nothing_more(
    limited, app, version, user, auth_headers
):
    api = Api(limited(RATELIMIT_DEFAULT="3 per minute"), version)
    headers = auth_headers(user)

    statuses = [
        api.post("/books", json={"title": f"Spam {n}", "author": "A"}, headers=headers).status_code
        for n in range(5)
    ]

    assert statuses == [201, 201, 201, 429, 429]
    assert count_rows(app, Book) == 3


def test_successful_sign_ins_never_lock_an_account(limited, user):
    client = limited(RATELIMIT_LOGIN_EMAIL="2 per minute")
    credentials = {"email": user.email, "password": PASSWORD}

    statuses = [client.post("/api/v2/auth/login", json=credentials).status_code for _ in range(5)]

    assert statuses == [200] * 5


def test_a_locked_account_does_not_lock_the_others(limited, make_user):
    victim, bystander = make_user(), make_user()
    client = limited(RATELIMIT_LOGIN_EMAIL="2 per minute")
    for _ in range(2):
        client.post("/api/v1/auth/login", json={"email": victim.email, "password": "guess"})

    locked = client.post("/api/v1/auth/login", json={"email": victim.email, "password": PASSWORD})
    other = client.post("/api/v1/auth/login", json={"email": bystander.email, "password": PASSWORD})

    assert locked.status_code == 429
    assert locked.get_json()["code"] == "rate_limited"
    assert other.status_code == 200
