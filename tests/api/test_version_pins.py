"""Per-client version pins (contract §10): resolution, Vary, the user's pin routes, key pins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from core import config
from core.extensions import db
from core.models import ApiKey, User
from core.principal import Principal
from core.services import api_keys
from tests.conftest import Api

PIN_URL = "/api/v2/auth/me/api-version"
T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
UNVERSIONED_VARY = ["API-Version", "Authorization", "X-API-Key"]


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """The services' clock, frozen at T0 until a test moves it."""
    frozen = Clock(T0)
    monkeypatch.setattr(config, "utc_now", lambda: frozen.now)
    return frozen


@dataclass(frozen=True)
class Key:
    id: int
    plaintext: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.plaintext}


@pytest.fixture
def make_key(app, admin) -> Callable[[], Key]:
    def build() -> Key:
        with app.app_context():
            key, plaintext = api_keys.create_key(
                "svc", ("read", "write"), db.session.get(User, admin.id)
            )
            return Key(key.id, plaintext)

    return build


def store_pin(app, model, row_id: int, version: str | None) -> None:
    """Set a pin in the database directly, whatever the rules would say."""
    with app.app_context():
        db.session.get(model, row_id).pinned_version = version
        db.session.commit()


def pin_row(app, model, row_id: int) -> tuple:
    with app.app_context():
        row = db.session.get(model, row_id)
        return row.pinned_version, row.previous_version, row.version_changed_at


def served_by(response) -> str:
    body = response.get_json()
    shape = "2" if isinstance(body, dict) and "success" in body else "1"
    assert response.headers["API-Version"] == shape
    return shape


def vary(response) -> list[str]:
    (line,) = response.headers.getlist("Vary")
    return [part.strip() for part in line.split(",")]


# Which version an unversioned request gets


@pytest.mark.parametrize("default", ["1", "2"])
def test_an_unpinned_user_gets_the_default(make_app, make_user, auth_headers, default):
    client = make_app(API_DEFAULT_VERSION=default).test_client()
    user = make_user()

    response = client.get("/api/books", headers=auth_headers(user))

    assert response.status_code == 200
    assert served_by(response) == default


@pytest.mark.parametrize(("default", "pin"), [("1", "2"), ("2", "1")])
def test_a_users_pin_beats_the_default(make_app, make_user, auth_headers, default, pin):
    app = make_app(API_DEFAULT_VERSION=default)
    user = make_user()
    store_pin(app, User, user.id, pin)

    response = app.test_client().get("/api/books", headers=auth_headers(user))

    assert response.status_code == 200
    assert served_by(response) == pin
    # Someone else, or nobody, still gets the default.
    assert served_by(app.test_client().get("/api/books")) == default


@pytest.mark.parametrize(("pin", "header"), [("2", "1"), ("1", "v2")])
def test_the_header_beats_a_users_pin(app, client, user, auth_headers, pin, header):
    store_pin(app, User, user.id, pin)

    response = client.get("/api/books", headers={**auth_headers(user), "API-Version": header})

    assert served_by(response) == header.removeprefix("v")


@pytest.mark.parametrize(("pin", "path"), [("2", "1"), ("1", "2")])
def test_the_path_beats_a_users_pin(app, client, user, auth_headers, pin, path):
    store_pin(app, User, user.id, pin)

    response = client.get(f"/api/v{path}/books", headers=auth_headers(user))

    assert served_by(response) == path
    assert "Authorization" not in response.headers.get("Vary", "")


def test_a_pin_serves_writes_and_errors_too(app, client, user, auth_headers):
    store_pin(app, User, user.id, "2")
    headers = auth_headers(user)

    created = client.post("/api/books", headers=headers, json={"title": "Dune", "author": "FH"})
    invalid = client.post("/api/books", headers=headers, json={"title": ""})

    assert created.status_code == 201 and served_by(created) == "2"
    assert created.headers["Location"].startswith("http://localhost/api/v2/books/")
    assert invalid.status_code == 422 and served_by(invalid) == "2"


def test_an_expired_or_revoked_token_still_gets_its_users_version_for_the_401(
    app, client, user, auth_headers
):
    from flask_jwt_extended import create_access_token

    store_pin(app, User, user.id, "2")
    with app.app_context():
        expired = create_access_token(str(user.id), expires_delta=timedelta(seconds=-10))

    response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {expired}"})

    assert response.status_code == 401
    assert served_by(response) == "2"
    assert Api(client, "2").error(response)["reason"] == "token_expired"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-token", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a.b.c"],
)
def test_an_unusable_token_names_no_pin(client, authorization):
    response = client.get("/api/auth/me", headers={"Authorization": authorization})

    assert response.status_code == 401
    assert served_by(response) == "1"


def test_a_refresh_token_names_its_user_on_refresh_only(app, client, user, auth_headers):
    store_pin(app, User, user.id, "2")
    headers = auth_headers(user, refresh=True)

    refreshed = client.post("/api/auth/refresh", headers=headers)
    elsewhere = client.get("/api/auth/me", headers=headers)

    # v2 answers, so it rotates: the new refresh token is in the v2 envelope.
    assert refreshed.status_code == 200 and served_by(refreshed) == "2"
    assert "refresh_token" in refreshed.get_json()["data"]
    assert elsewhere.status_code == 401 and served_by(elsewhere) == "1"


def test_a_pin_of_a_deleted_user_is_no_pin(app, client, user, auth_headers):
    headers = auth_headers(user)
    with app.app_context():
        db.session.delete(db.session.get(User, user.id))
        db.session.commit()

    response = client.get("/api/auth/me", headers=headers)

    assert response.status_code == 401
    assert served_by(response) == "1"


def test_a_keys_pin_beats_the_default_and_loses_to_header_and_path(app, client, make_key):
    key = make_key()
    store_pin(app, ApiKey, key.id, "2")

    assert served_by(client.get("/api/books", headers=key.headers)) == "2"
    assert served_by(client.get("/api/books", headers={**key.headers, "API-Version": "1"})) == "1"
    assert served_by(client.get("/api/v1/books", headers=key.headers)) == "1"
    created = client.post("/api/books", headers=key.headers, json={"title": "T", "author": "A"})
    assert created.status_code == 201 and served_by(created) == "2"


def test_an_unpinned_key_gets_the_default(make_app, admin):
    app = make_app(API_DEFAULT_VERSION="2")
    with app.app_context():
        _key, plaintext = api_keys.create_key("svc", ("read",), db.session.get(User, admin.id))

    response = app.test_client().get("/api/books", headers={"X-API-Key": plaintext})

    assert served_by(response) == "2"


def test_a_key_is_judged_alone_a_token_beside_it_names_no_pin(
    app, client, user, auth_headers, make_key
):
    key = make_key()
    store_pin(app, User, user.id, "2")

    response = client.get("/api/books", headers={**auth_headers(user), **key.headers})

    assert served_by(response) == "1"


def test_a_revoked_or_wrong_key_names_no_pin(app, client, make_key):
    key = make_key()
    store_pin(app, ApiKey, key.id, "2")
    wrong = key.plaintext[:-4] + ("AAAA" if not key.plaintext.endswith("AAAA") else "BBBB")
    with app.app_context():
        api_keys.revoke_key(key.id, Principal.for_operator())

    for headers in ({"X-API-Key": wrong}, key.headers):
        response = client.post("/api/books", headers=headers, json={"title": "T", "author": "A"})
        assert response.status_code == 401
        assert served_by(response) == "1"


def test_a_pin_costs_one_lookup_and_only_on_unversioned_urls(
    app, client, user, auth_headers, count_queries
):
    store_pin(app, User, user.id, "2")
    headers = auth_headers(user)
    client.get("/api/v2/books", headers=headers)  # warm up

    with count_queries() as versioned:
        client.get("/api/v2/books", headers=headers)
    with count_queries() as unversioned:
        client.get("/api/books", headers=headers)

    pin_lookups = [s for s in unversioned if "SELECT users.pinned_version" in s]
    assert len(pin_lookups) == 1
    assert len(unversioned) == len(versioned) + 1


# Vary


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/api/books", {}), ("/api/books", {"API-Version": "2"}), ("/api/nope", {}), ("/api", {})],
)
def test_unversioned_responses_vary_on_the_version_and_the_credentials(client, path, headers):
    response = client.get(path, headers=headers)

    assert vary(response) == UNVERSIONED_VARY


def test_the_vary_stays_one_line_with_cors(make_app):
    client = make_app(CORS_ORIGINS="https://app.example.org").test_client()

    response = client.get("/api/books", headers={"Origin": "https://app.example.org"})

    assert sorted(vary(response)) == sorted([*UNVERSIONED_VARY, "Origin"])


@pytest.mark.parametrize("path", ["/api/v1/books", "/api/v2/books", "/api/v2/nope"])
def test_versioned_responses_do_not_vary_on_credentials(client, path):
    response = client.get(path)

    assert not {"Authorization", "X-API-Key"} & set(response.headers.get("Vary", "").split(", "))


# GET and PUT /auth/me/api-version


@pytest.fixture
def me(client, user, auth_headers):
    """Call the pin routes as ``user``."""
    headers = auth_headers(user)

    class Me:
        def get(self):
            response = client.get(PIN_URL, headers=headers)
            assert response.status_code == 200, response.get_json()
            return response.get_json()["data"]

        def put(self, body, **kw):
            return client.put(PIN_URL, headers=headers, json=body, **kw)

    return Me()


def state(pinned, effective, previous, until) -> dict:
    return {
        "pinned_version": pinned,
        "effective_version": effective,
        "previous_version": previous,
        "rollback_until": until,
    }


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_new_user_has_no_pin(client, user, auth_headers):
    response = client.get(PIN_URL, headers=auth_headers(user))

    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True
    assert body["data"] == state(None, "1", None, None)
    assert body["links"] == {
        "self": f"http://localhost{PIN_URL}",
        "me": "http://localhost/api/v2/auth/me",
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_pinning_a_newer_version_opens_the_rollback_window(
    app, client, user, auth_headers, me, clock
):
    response = me.put({"version": "2"})

    assert response.status_code == 200
    assert response.get_json()["data"] == state("2", "2", "1", stamp(T0 + timedelta(hours=72)))
    assert me.get() == state("2", "2", "1", stamp(T0 + timedelta(hours=72)))
    assert pin_row(app, User, user.id) == ("2", "1", T0)
    assert served_by(client.get("/api/books", headers=auth_headers(user))) == "2"


@pytest.mark.parametrize("value", ["v2", " V2 ", "2"])
def test_a_version_may_be_written_as_the_header_takes_it(me, clock, value):
    assert me.put({"version": value}).get_json()["data"]["pinned_version"] == "2"


def test_moving_back_within_the_window(app, user, me, clock):
    me.put({"version": "2"})
    clock.advance(hours=71, minutes=59)

    response = me.put({"version": "1"})

    assert response.status_code == 200
    # The move back was no upgrade: no window now.
    assert response.get_json()["data"] == state("1", "1", "2", None)
    assert pin_row(app, User, user.id) == ("1", "2", T0 + timedelta(hours=71, minutes=59))


def test_clearing_within_the_window_returns_to_the_default(
    app, client, user, auth_headers, me, clock
):
    me.put({"version": "2"})
    clock.advance(hours=1)

    response = me.put({"version": None})

    assert response.status_code == 200
    assert response.get_json()["data"] == state(None, "1", "2", None)
    assert served_by(client.get("/api/books", headers=auth_headers(user))) == "1"


@pytest.mark.parametrize("back_to", ["1", None])
def test_moving_back_after_the_window_is_409_and_changes_nothing(app, user, me, clock, back_to):
    me.put({"version": "2"})
    clock.advance(hours=72)  # the window's end is not in it

    response = me.put({"version": back_to})

    assert response.status_code == 409
    assert Api(app.test_client(), "2").error(response)["reason"] == "rollback_window_closed"
    assert me.get() == state("2", "2", "1", None)
    assert pin_row(app, User, user.id) == ("2", "1", T0)


def test_no_rollback_at_all_with_a_zero_window(make_app, make_user, auth_headers, clock):
    app = make_app(VERSION_ROLLBACK_HOURS="0")
    client, user = app.test_client(), make_user()
    headers = auth_headers(user)

    pinned = client.put(PIN_URL, headers=headers, json={"version": "2"})
    back = client.put(PIN_URL, headers=headers, json={"version": "1"})

    assert pinned.get_json()["data"] == state("2", "2", "1", None)
    assert back.status_code == 409
    assert pin_row(app, User, user.id) == ("2", "1", T0)


def test_the_window_follows_the_configured_hours(make_app, make_user, auth_headers, clock):
    client, user = make_app(VERSION_ROLLBACK_HOURS="1").test_client(), make_user()
    headers = auth_headers(user)

    pinned = client.put(PIN_URL, headers=headers, json={"version": "2"})
    clock.advance(minutes=61)
    late = client.put(PIN_URL, headers=headers, json={"version": "1"})

    assert pinned.get_json()["data"]["rollback_until"] == stamp(T0 + timedelta(hours=1))
    assert late.status_code == 409


def test_pinning_the_version_already_served_keeps_the_window(app, user, me, clock):
    me.put({"version": "2"})
    clock.advance(hours=10)

    again = me.put({"version": "2"})

    assert again.status_code == 200
    assert again.get_json()["data"] == state("2", "2", "1", stamp(T0 + timedelta(hours=72)))
    assert pin_row(app, User, user.id) == ("2", "1", T0)


def test_pinning_the_default_version_records_the_pin_only(app, user, me, clock):
    response = me.put({"version": "1"})

    assert response.get_json()["data"] == state("1", "1", None, None)
    assert pin_row(app, User, user.id) == ("1", None, None)


def test_a_user_pinned_below_a_newer_default_cannot_move_back_without_an_upgrade(
    make_app, make_user, auth_headers, clock
):
    client, user = make_app(API_DEFAULT_VERSION="2").test_client(), make_user()

    response = client.put(PIN_URL, headers=auth_headers(user), json={"version": "1"})

    assert response.status_code == 409
    assert response.get_json()["error"]["reason"] == "rollback_window_closed"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "3"}, "version"),
        ({"version": "v9"}, "version"),
        ({"version": ""}, "version"),
        ({"version": 2}, "version"),
        ({"version": ["2"]}, "version"),
        ({}, "version"),
        ({"version": "1", "pinned": True}, "pinned"),
    ],
)
def test_a_bad_version_is_422_naming_the_field_and_changes_nothing(
    app, user, me, clock, body, field
):
    me.put({"version": "2"})

    response = me.put(body)

    assert response.status_code == 422
    assert field in Api(app.test_client(), "2").error(response)["details"]
    assert pin_row(app, User, user.id) == ("2", "1", T0)


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ('{"version": "1"', "application/json", 400),
        ('["1"]', "application/json", 400),
        ('"1"', "application/json", 400),
        ('{"version": "1"}', "text/plain", 415),
    ],
)
def test_a_malformed_body_gets_the_usual_errors_and_changes_nothing(
    app, client, user, auth_headers, me, clock, data, content_type, status
):
    me.put({"version": "2"})

    response = client.put(PIN_URL, headers=auth_headers(user), data=data, content_type=content_type)

    assert response.status_code == status
    assert pin_row(app, User, user.id) == ("2", "1", T0)


@pytest.mark.parametrize("method", ["get", "put"])
def test_v1_never_serves_the_pin_routes(app, client, user, auth_headers, method):
    store_pin(app, User, user.id, "2")
    headers = auth_headers(user)

    for path, extra in (
        ("/api/v1/auth/me/api-version", {}),
        ("/api/auth/me/api-version", {"API-Version": "1"}),
    ):
        response = getattr(client, method)(
            path, headers={**headers, **extra}, json={"version": "1"}
        )
        assert response.status_code == 404
        assert served_by(response) == "1"
    assert pin_row(app, User, user.id)[0] == "2"


def test_the_unversioned_pin_route_follows_the_pin(app, client, user, auth_headers):
    store_pin(app, User, user.id, "2")

    response = client.get("/api/auth/me/api-version", headers=auth_headers(user))

    assert response.status_code == 200
    assert response.get_json()["data"]["pinned_version"] == "2"


@pytest.mark.parametrize("method", ["get", "put"])
def test_the_pin_routes_need_a_signed_in_user(client, make_key, method):
    key = make_key()

    for headers, reason in (({}, "token_missing"), (key.headers, "token_missing")):
        response = getattr(client, method)(PIN_URL, headers=headers, json={"version": "2"})
        assert response.status_code == 401
        assert Api(client, "2").error(response)["reason"] == reason


# PATCH /api-keys/<id>


def key_url(key_id: int) -> str:
    return f"/api/v2/api-keys/{key_id}"


def test_an_admin_pins_and_unpins_a_key(app, client, admin, auth_headers, make_key, clock):
    key = make_key()
    headers = auth_headers(admin)

    pinned = client.patch(key_url(key.id), headers=headers, json={"pinned_version": "v2"})

    assert pinned.status_code == 200
    assert pinned.get_json()["data"]["pinned_version"] == "2"
    assert client.get(key_url(key.id), headers=headers).get_json()["data"]["pinned_version"] == "2"
    listed = client.get("/api/v2/api-keys", headers=headers).get_json()["data"]
    assert [k["pinned_version"] for k in listed] == ["2"]
    assert served_by(client.get("/api/books", headers=key.headers)) == "2"

    # The admin decides for a key: no rollback window applies.
    clock.advance(hours=500)
    cleared = client.patch(key_url(key.id), headers=headers, json={"pinned_version": None})
    assert cleared.status_code == 200
    assert cleared.get_json()["data"]["pinned_version"] is None
    assert pin_row(app, ApiKey, key.id) == (None, "2", T0 + timedelta(hours=500))
    assert served_by(client.get("/api/books", headers=key.headers)) == "1"


def test_only_an_admin_may_pin_a_key(app, client, user, auth_headers, make_key):
    key = make_key()

    for headers in (auth_headers(user), key.headers):
        response = client.patch(key_url(key.id), headers=headers, json={"pinned_version": "2"})
        assert response.status_code == 403
    no_one = client.patch(key_url(key.id), json={"pinned_version": "2"})
    assert no_one.status_code == 401
    assert pin_row(app, ApiKey, key.id) == (None, None, None)


def test_pinning_an_unknown_or_revoked_key_is_404(app, client, admin, auth_headers, make_key):
    key = make_key()
    with app.app_context():
        api_keys.revoke_key(key.id, Principal.for_operator())

    for key_id in (key.id, key.id + 1, 2**31):
        response = client.patch(
            key_url(key_id), headers=auth_headers(admin), json={"pinned_version": "2"}
        )
        assert response.status_code == 404
    assert pin_row(app, ApiKey, key.id)[0] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pinned_version": "3"}, "pinned_version"),
        ({"pinned_version": 2}, "pinned_version"),
        ({}, "pinned_version"),
        ({"pinned_version": "2", "name": "x"}, "name"),
        ({"version": "2"}, "version"),
    ],
)
def test_a_bad_key_pin_is_422_and_changes_nothing(
    app, client, admin, auth_headers, make_key, body, field
):
    key = make_key()
    store_pin(app, ApiKey, key.id, "1")

    response = client.patch(key_url(key.id), headers=auth_headers(admin), json=body)

    assert response.status_code == 422
    assert field in response.get_json()["error"]["details"]
    assert pin_row(app, ApiKey, key.id)[0] == "1"


def test_v1_has_no_key_pin_route(client, admin, auth_headers, make_key):
    key = make_key()

    response = client.patch(
        f"/api/v1/api-keys/{key.id}", headers=auth_headers(admin), json={"pinned_version": "2"}
    )

    assert response.status_code == 404
