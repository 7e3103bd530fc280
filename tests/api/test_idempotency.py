"""Idempotent retries (contract §13) over HTTP, in every version and the unversioned URL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from api.platform.cors import CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS
from core.config import ConfigError, load_config
from core.extensions import db
from core.models import ApiKey, Book, IdempotencyKey, User
from core.services import api_keys, idempotency
from tests.conftest import TEST_NOW, Api
from tests.contract.test_concurrency import race

BOOK = {"title": "Dune", "author": "Frank Herbert", "isbn": "9780441013593", "year": 1965}
OTHER = {**BOOK, "title": "Dune Messiah", "isbn": "9780441172696"}
MALFORMED_KEYS = ["", "x" * 256, "has space", "tab\tinside", "caf\u00e9", "del\x7f"]


def key(value: str = "retry-1") -> dict[str, str]:
    return {"Idempotency-Key": value}


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def stored_rows(app) -> list[IdempotencyKey]:
    with app.app_context():
        rows = db.session.scalars(select(IdempotencyKey).order_by(IdempotencyKey.id)).all()
        db.session.expunge_all()
        return list(rows)


@pytest.fixture
def headers(user, auth_headers) -> dict[str, str]:
    return auth_headers(user)


def assert_refused(api: Api, response, status: int, reason: str) -> None:
    assert response.status_code == status, response.get_json()
    assert api.error(response)["reason"] == reason


# --- the first request and its retries --------------------------------------------------------


def test_a_retry_replays_the_first_answer_and_writes_nothing(api, app, headers):
    first = api.post("/books", json=BOOK, headers={**headers, **key()})
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers

    retry = api.post("/books", json=BOOK, headers={**headers, **key()})
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_data() == first.get_data()
    for name in ("Location", "ETag", "Content-Type"):
        assert retry.headers[name] == first.headers[name]
    assert retry.headers["API-Version"] == api.version
    assert count(app, Book) == 1
    assert count(app, IdempotencyKey) == 1


@pytest.mark.parametrize("version", ["1", "2"])
def test_the_unversioned_url_replays_in_the_version_serving_it(client, app, headers, version):
    sent = {**headers, **key(), "API-Version": version}
    first = client.post("/api/books", json=BOOK, headers=sent)
    assert first.status_code == 201
    # The versioned URL of the same version is the same request.
    retry = client.post(f"/api/v{version}/books", json=BOOK, headers={**headers, **key()})
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_data() == first.get_data()
    again = client.post("/api/books", json=BOOK, headers=sent)
    assert again.get_data() == first.get_data()
    assert again.headers["API-Version"] == version
    assert count(app, Book) == 1


def test_the_same_key_on_another_version_is_reuse(client, app, headers):
    assert client.post("/api/v1/books", json=BOOK, headers={**headers, **key()}).status_code == 201
    retry = client.post("/api/v2/books", json=BOOK, headers={**headers, **key()})
    assert_refused(Api(client, "2"), retry, 422, "idempotency_key_reused")
    assert count(app, Book) == 1


def test_the_same_key_with_another_body_is_422_and_writes_nothing(api, app, headers):
    assert api.post("/books", json=BOOK, headers={**headers, **key()}).status_code == 201
    reused = api.post("/books", json=OTHER, headers={**headers, **key()})
    assert_refused(api, reused, 422, "idempotency_key_reused")
    assert "Idempotent-Replayed" not in reused.headers
    assert count(app, Book) == 1


def test_the_body_is_compared_as_json_not_as_bytes(api, app, headers):
    sent = {**headers, **key(), "Content-Type": "application/json"}
    assert (
        api.post("/books", data='{"title": "Dune", "author": "F"}', headers=sent).status_code == 201
    )
    retry = api.post("/books", data='{ "author":"F","title":"Dune" }', headers=sent)
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert count(app, Book) == 1


def test_different_keys_are_different_writes(api, app, headers):
    assert api.post("/books", json=BOOK, headers={**headers, **key("a")}).status_code == 201
    assert api.post("/books", json=OTHER, headers={**headers, **key("b")}).status_code == 201
    assert count(app, Book) == 2


def test_without_a_key_nothing_is_stored(api, app, headers):
    assert api.post("/books", json=BOOK, headers=headers).status_code == 201
    assert count(app, IdempotencyKey) == 0


@pytest.mark.parametrize("value", MALFORMED_KEYS, ids=range(len(MALFORMED_KEYS)))
def test_a_malformed_key_is_400_and_writes_nothing(api, app, headers, value):
    response = api.post("/books", json=BOOK, headers={**headers, **key(value)})
    assert_refused(api, response, 400, "invalid_idempotency_key")
    assert "Idempotency-Key" in api.error(response)["details"]
    assert count(app, Book) == 0
    assert count(app, IdempotencyKey) == 0


def test_the_longest_key_and_every_visible_character_are_accepted(api, app, headers):
    visible = "".join(chr(c) for c in range(0x21, 0x7F))
    assert api.post("/books", json=BOOK, headers={**headers, **key(visible)}).status_code == 201
    assert api.post("/books", json=OTHER, headers={**headers, **key("k" * 255)}).status_code == 201


def test_credentials_are_judged_before_the_key(api, app):
    response = api.post("/books", json=BOOK, headers=key(""))
    assert response.status_code == 401
    assert count(app, IdempotencyKey) == 0


# --- scope ---------------------------------------------------------------------------------------


def test_keys_are_scoped_to_the_client(api, app, make_user, auth_headers):
    first = api.post("/books", json=BOOK, headers={**auth_headers(make_user()), **key()})
    second = api.post("/books", json=OTHER, headers={**auth_headers(make_user()), **key()})
    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second.headers
    assert count(app, Book) == 2
    assert {(row.client_type, row.key) for row in stored_rows(app)} == {("user", "retry-1")}
    assert len({row.client_id for row in stored_rows(app)}) == 2


def test_an_api_key_has_its_own_scope_apart_from_its_creator(api, app, admin, auth_headers):
    with app.app_context():
        owner = db.session.get(User, admin.id)
        _, plaintext = api_keys.create_key("service", ["write"], owner)
    by_key = api.post("/books", json=BOOK, headers={"X-API-Key": plaintext, **key()})
    by_admin = api.post("/books", json=OTHER, headers={**auth_headers(admin), **key()})
    assert by_key.status_code == by_admin.status_code == 201
    retry = api.post("/books", json=BOOK, headers={"X-API-Key": plaintext, **key()})
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_data() == by_key.get_data()
    assert count(app, Book) == 2
    assert sorted(row.client_type for row in stored_rows(app)) == ["api_key", "user"]


# --- failures are not stored -------------------------------------------------------------------


def test_a_refused_first_request_leaves_the_key_free(api, app, headers):
    invalid = api.post("/books", json={"title": ""}, headers={**headers, **key()})
    assert invalid.status_code == 422
    assert count(app, IdempotencyKey) == 0
    fixed = api.post("/books", json=BOOK, headers={**headers, **key()})
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed.headers


def test_a_conflict_is_not_stored_and_the_retry_is_judged_again(api, app, headers, make_book):
    make_book(isbn=BOOK["isbn"])
    first = api.post("/books", json=BOOK, headers={**headers, **key()})
    assert_refused(api, first, 409, "duplicate_isbn")
    retry = api.post("/books", json=BOOK, headers={**headers, **key()})
    assert_refused(api, retry, 409, "duplicate_isbn")
    assert "Idempotent-Replayed" not in retry.headers
    assert count(app, IdempotencyKey) == 0
    assert count(app, Book) == 1


def test_the_write_and_the_stored_answer_commit_together(api, app, headers, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("the answer could not be stored")

    monkeypatch.setattr(idempotency, "complete", broken)
    response = api.post("/books", json=BOOK, headers={**headers, **key()})
    assert response.status_code == 500
    assert count(app, Book) == 0  # the book's own commit was only a savepoint
    assert count(app, IdempotencyKey) == 0  # and the key is free again
    monkeypatch.undo()
    assert api.post("/books", json=BOOK, headers={**headers, **key()}).status_code == 201
    assert count(app, Book) == 1


def test_a_retry_while_the_first_runs_is_409(api, app, headers):
    assert api.post("/books", json=BOOK, headers={**headers, **key()}).status_code == 201
    with app.app_context():  # the first request as it stands while it runs: a pending claim
        db.session.execute(update(IdempotencyKey).values(status=None, headers=None, body=None))
        db.session.commit()
    retry = api.post("/books", json=BOOK, headers={**headers, **key()})
    assert_refused(api, retry, 409, "idempotency_in_progress")
    assert count(app, Book) == 1
    # Another body with that key is reuse, whatever the state of the first.
    reused = api.post("/books", json=OTHER, headers={**headers, **key()})
    assert_refused(api, reused, 422, "idempotency_key_reused")


def test_a_pending_claim_inserted_by_another_process_is_409(api, app, user, headers):
    with app.app_context():
        print_ = idempotency.fingerprint("POST", "create_book", api.version, BOOK)
        db.session.add(
            IdempotencyKey(
                client_type="user",
                client_id=user.id,
                key="retry-1",
                fingerprint=print_,
                created_at=TEST_NOW,
                expires_at=TEST_NOW + timedelta(hours=24),
            )
        )
        db.session.commit()
    retry = api.post("/books", json=BOOK, headers={**headers, **key()})
    assert_refused(api, retry, 409, "idempotency_in_progress")
    assert count(app, Book) == 0


# --- the lease: a claim left by a process that died ------------------------------------------

LEASE = timedelta(seconds=60)  # IDEMPOTENCY_LEASE_SECONDS's default


def abandoned_claim(app, user, version: str, body: dict, age: timedelta) -> None:
    """A pending claim on ``retry-1`` taken ``age`` before the app's clock, as a process
    killed between its claim and its write's commit leaves it."""
    with app.app_context():
        claimed_at = app.config["CLOCK"]() - age
        db.session.add(
            IdempotencyKey(
                client_type="user",
                client_id=user.id,
                key="retry-1",
                fingerprint=idempotency.fingerprint("POST", "create_book", version, body),
                created_at=claimed_at,
                expires_at=claimed_at + timedelta(hours=24),
            )
        )
        db.session.commit()


def test_a_pending_claim_within_its_lease_is_409(api, app, user, headers):
    abandoned_claim(app, user, api.version, BOOK, LEASE - timedelta(seconds=1))
    retry = api.post("/books", json=BOOK, headers={**headers, **key()})
    assert_refused(api, retry, 409, "idempotency_in_progress")
    assert count(app, Book) == 0
    (row,) = stored_rows(app)
    assert row.is_pending and row.created_at == TEST_NOW - LEASE + timedelta(seconds=1)


def test_an_abandoned_claim_is_taken_over_and_then_replayed(api, app, user, headers):
    abandoned_claim(app, user, api.version, BOOK, LEASE)
    taken = api.post("/books", json=BOOK, headers={**headers, **key()})
    assert taken.status_code == 201, taken.get_json()
    assert "Idempotent-Replayed" not in taken.headers
    (row,) = stored_rows(app)
    assert row.status == 201
    assert row.created_at == TEST_NOW  # the claim is the retry's now, and so is the expiry
    assert row.expires_at == TEST_NOW + timedelta(hours=24)

    later(app, 1)  # a stored answer has no lease: it replays until the key expires
    retry = api.post("/books", json=BOOK, headers={**headers, **key()})
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_data() == taken.get_data()
    assert count(app, Book) == 1


def test_an_abandoned_claim_with_another_body_is_reuse(api, app, user, headers):
    abandoned_claim(app, user, api.version, BOOK, timedelta(hours=1))
    reused = api.post("/books", json=OTHER, headers={**headers, **key()})
    assert_refused(api, reused, 422, "idempotency_key_reused")
    assert count(app, Book) == 0
    (row,) = stored_rows(app)
    assert row.is_pending and row.created_at == TEST_NOW - timedelta(hours=1)  # untouched


def test_an_abandoned_claim_on_another_version_is_reuse(client, app, user, headers):
    abandoned_claim(app, user, "1", BOOK, timedelta(hours=1))
    reused = client.post("/api/v2/books", json=BOOK, headers={**headers, **key()})
    assert_refused(Api(client, "2"), reused, 422, "idempotency_key_reused")
    assert count(app, Book) == 0


def test_the_lease_comes_from_the_environment(make_app, user, auth_headers):
    app = make_app(IDEMPOTENCY_LEASE_SECONDS="5")
    api = Api(app.test_client(), "2")
    abandoned_claim(app, user, "2", BOOK, timedelta(seconds=5))
    taken = api.post("/books", json=BOOK, headers={**auth_headers(user), **key()})
    assert taken.status_code == 201
    assert "Idempotent-Replayed" not in taken.headers
    assert count(app, Book) == 1


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5"])
def test_a_bad_lease_refuses_to_start(value):
    with pytest.raises(ConfigError, match="IDEMPOTENCY_LEASE_SECONDS"):
        load_config({"IDEMPOTENCY_LEASE_SECONDS": value})


def test_racing_takeovers_of_an_abandoned_claim_write_once(app, version, user, auth_headers):
    body = {"title": "Dune", "author": "Frank Herbert"}  # no ISBN: only the key stops a twin
    abandoned_claim(app, user, version, body, timedelta(minutes=5))
    sent = {**auth_headers(user), **key()}

    def retry(client, _n):
        response = client.post(f"/api/v{version}/books", json=body, headers=sent)
        return response.status_code, response.headers.get("Idempotent-Replayed")

    results = race(app, 8, retry)
    assert [r for r in results if r == (201, None)] == [(201, None)]  # one took it over
    assert set(results) <= {(201, None), (201, "true"), (409, None)}
    assert count(app, Book) == 1
    (row,) = stored_rows(app)
    assert row.status == 201


def test_a_request_that_lost_its_claim_writes_nothing(api, app, headers, monkeypatch):
    """A request slower than the lease: a retry takes its claim over and runs; the slow one's
    write is rolled back and it stores nothing."""
    body = {"title": "Dune", "author": "Frank Herbert"}  # no ISBN: only the key stops a twin
    real_claim = idempotency.claim
    retried = {}

    def claim_then_stall(*args, **kwargs):
        outcome = real_claim(*args, **kwargs)
        if not retried:  # the first request: it stalls past its lease, a retry comes meanwhile
            retried["claim"] = outcome
            later(app, LEASE.total_seconds() / 3600)

            def retry():
                retried["response"] = app.test_client().post(
                    api.url("/books"), json=body, headers={**headers, **key()}
                )

            thread = threading.Thread(target=retry)
            thread.start()
            thread.join()
        return outcome

    monkeypatch.setattr(idempotency, "claim", claim_then_stall)
    slow = api.post("/books", json=body, headers={**headers, **key()})
    assert_refused(api, slow, 409, "idempotency_in_progress")
    taken = retried["response"]
    assert taken.status_code == 201
    assert "Idempotent-Replayed" not in taken.headers
    assert count(app, Book) == 1  # the slow request's book was rolled back
    (row,) = stored_rows(app)
    assert row.status == 201 and row.created_at == TEST_NOW + LEASE
    replay = api.post("/books", json=body, headers={**headers, **key()})
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_data() == taken.get_data()
    assert count(app, Book) == 1


# --- expiry ------------------------------------------------------------------------------------


def later(app, hours: float) -> None:
    app.config["CLOCK"] = lambda: TEST_NOW + timedelta(hours=hours)


def test_an_expired_key_may_be_used_again(api, app, headers):
    assert api.post("/books", json=BOOK, headers={**headers, **key()}).status_code == 201
    later(app, 23.9)
    reused = api.post("/books", json=OTHER, headers={**headers, **key()})
    assert_refused(api, reused, 422, "idempotency_key_reused")
    later(app, 24)
    fresh = api.post("/books", json=OTHER, headers={**headers, **key()})
    assert fresh.status_code == 201
    assert "Idempotent-Replayed" not in fresh.headers
    assert count(app, Book) == 2
    assert count(app, IdempotencyKey) == 1


def test_the_ttl_comes_from_the_environment(make_app, user, auth_headers):
    app = make_app(IDEMPOTENCY_TTL_HOURS="1")
    api = Api(app.test_client(), "1")
    headers = {**auth_headers(user), **key()}
    assert api.post("/books", json=BOOK, headers=headers).status_code == 201
    later(app, 1)
    assert api.post("/books", json=OTHER, headers=headers).status_code == 201


@pytest.mark.parametrize("value", ["0", "-3", "soon", "1.5"])
def test_a_bad_ttl_refuses_to_start(value):
    with pytest.raises(ConfigError, match="IDEMPOTENCY_TTL_HOURS"):
        load_config({"IDEMPOTENCY_TTL_HOURS": value})


def test_purge_deletes_only_expired_keys(api, app, headers):
    assert api.post("/books", json=BOOK, headers={**headers, **key("old")}).status_code == 201
    later(app, 12)
    assert api.post("/books", json=OTHER, headers={**headers, **key("new")}).status_code == 201
    later(app, 30)
    result = app.test_cli_runner().invoke(args=["purge-idempotency-keys"])
    assert result.exit_code == 0, result.output
    assert "Removed 1 expired idempotency keys." in result.output
    assert [row.key for row in stored_rows(app)] == ["new"]
    assert count(app, Book) == 2


# --- API keys (v2) -------------------------------------------------------------------------------


def test_creating_an_api_key_is_replayed_with_its_secret_sealed(v2, app, admin, auth_headers):
    sent = {**auth_headers(admin), **key()}
    first = v2.post("/api-keys", json={"name": "svc", "scopes": ["read"]}, headers=sent)
    assert first.status_code == 201
    retry = v2.post("/api-keys", json={"name": "svc", "scopes": ["read"]}, headers=sent)
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_data() == first.get_data()
    assert count(app, ApiKey) == 1
    plaintext = v2.data(first)["key"]
    (row,) = stored_rows(app)
    assert plaintext not in row.body and plaintext not in row.headers
    other = v2.post("/api-keys", json={"name": "svc2", "scopes": ["read"]}, headers=sent)
    assert_refused(v2, other, 422, "idempotency_key_reused")


def test_a_rotated_secret_key_starts_the_key_over(make_app, user, auth_headers):
    app = make_app()
    api = Api(app.test_client(), "2")
    headers = {**auth_headers(user), **key()}
    assert api.post("/books", json=BOOK, headers=headers).status_code == 201
    app.config["SECRET_KEY"] = "another-secret-key-of-some-length"
    again = api.post("/books", json=OTHER | {"title": "x"}, headers=headers)
    assert_refused(api, again, 422, "idempotency_key_reused")
    retry = api.post("/books", json=BOOK, headers=headers)
    assert_refused(api, retry, 409, "duplicate_isbn")  # processed anew: the answer was lost


# --- documentation and CORS ----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_both_documents_describe_the_header(client, version):
    spec = client.get(f"/api/v{version}/openapi.json").get_json()
    operations = [spec["paths"]["/books"]["post"]]
    if version == "2":
        operations.append(spec["paths"]["/api-keys"]["post"])
    for operation in operations:
        names = [p["name"] for p in operation.get("parameters", [])]
        assert "Idempotency-Key" in names
        assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"]
        assert "idempotency_in_progress" in operation["responses"]["409"]["description"]
        assert "idempotency_key_reused" in operation["responses"]["422"]["description"]
        assert "invalid_idempotency_key" in operation["responses"]["400"]["description"]
    assert "Idempotency-Key" not in str(spec["paths"]["/books/{book_id}"])


def test_cors_allows_the_key_and_exposes_the_replay_header(client):
    assert "Idempotency-Key" in CORS_ALLOW_HEADERS
    assert "Idempotent-Replayed" in CORS_EXPOSE_HEADERS
    preflight = client.options(
        "/api/v1/books",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Idempotency-Key",
        },
    )
    assert "idempotency-key" in preflight.headers["Access-Control-Allow-Headers"].lower()


def test_racing_retries_write_once(app, version, user, auth_headers):
    sent = {**auth_headers(user), **key("race")}

    def create(client, _n):
        response = client.post(f"/api/v{version}/books", json=BOOK, headers=sent)
        return response.status_code, response.headers.get("Idempotent-Replayed")

    results = race(app, 8, create)
    assert [r for r in results if r == (201, None)] == [(201, None)]  # one ran
    assert set(results) <= {(201, None), (201, "true"), (409, None)}  # the rest waited or replayed
    assert count(app, Book) == 1
