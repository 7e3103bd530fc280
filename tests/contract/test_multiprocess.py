"""Several server processes: rate limits and revocations hold across all of them.

Each test starts real gunicorn processes on loopback ports, sharing one database (and one
Redis where named), as a deployment with several processes or machines would.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.conftest import PASSWORD
from tests.live import call as _call
from tests.live import crash, gunicorn, server_env, server_log


@pytest.fixture
def servers(database_url, tmp_path):
    """Start ``count`` gunicorn processes on the test database with extra environment."""

    @contextmanager
    def start(count: int, **extra: str):
        env = server_env(database_url, tmp_path, **{"RATELIMIT_ENABLED": "true", **extra})
        with ExitStack() as stack:
            yield [stack.enter_context(gunicorn(env)) for _ in range(count)]

    return start


def _alternate(bases: list[str], total: int) -> list[int]:
    return [_call(f"{bases[n % len(bases)]}/api/v2/books")[0] for n in range(total)]


def test_a_redis_limit_holds_exactly_across_two_processes(servers, redis_url):
    prefix = f"test-{uuid.uuid4().hex}"
    with servers(
        2,
        RATELIMIT_STORAGE_URI=redis_url,
        RATELIMIT_KEY_PREFIX=prefix,
        RATELIMIT_DEFAULT="7 per 10 minutes",
    ) as bases:
        statuses = _alternate(bases, 12)
    assert statuses.count(200) == 7
    assert statuses.count(429) == 5


def test_memory_limits_are_per_process(servers):
    """The contrast that shows why deployments with several processes need Redis."""
    with servers(
        2, RATELIMIT_STORAGE_URI="memory://", RATELIMIT_DEFAULT="7 per 10 minutes"
    ) as bases:
        statuses = _alternate(bases, 12)
    assert statuses.count(200) == 12


def test_logout_in_one_process_revokes_the_token_in_another(servers, make_user):
    user = make_user()
    with servers(2, RATELIMIT_ENABLED="false") as (first, second):
        status, body = _call(
            f"{first}/api/v1/auth/login", "POST", {"email": user.email, "password": PASSWORD}
        )
        assert status == 200
        auth = {"Authorization": f"Bearer {body['access_token']}"}
        assert _call(f"{second}/api/v2/auth/me", headers=auth)[0] == 200
        assert _call(f"{first}/api/v1/auth/logout", "POST", headers=auth)[0] == 200
        status, body = _call(f"{second}/api/v2/auth/me", headers=auth)
    assert status == 401
    assert body["error"]["reason"] == "token_revoked"


def test_v2_refresh_rotation_holds_across_processes(servers, make_user):
    user = make_user()
    with servers(2, RATELIMIT_ENABLED="false") as (first, second):
        _, body = _call(
            f"{first}/api/v2/auth/login", "POST", {"email": user.email, "password": PASSWORD}
        )
        refresh = {"Authorization": f"Bearer {body['data']['refresh_token']}"}
        assert _call(f"{first}/api/v2/auth/refresh", "POST", headers=refresh)[0] == 200
        status, body = _call(f"{second}/api/v2/auth/refresh", "POST", headers=refresh)
    assert status == 401
    assert body["error"]["reason"] == "token_revoked"


def test_oversized_headers_never_reach_a_500(servers):
    with servers(1) as (base,):
        status, body = _call(f"{base}/api/v2/books", headers={"X-Padding": "x" * 20000})
        assert status == 431
        assert body["error"]["reason"] == "headers_too_large"
        # Past gunicorn's own limit the server refuses the request (its own 431, not JSON)
        # before the app sees it.
        request = urllib.request.Request(f"{base}/api/v2/books", headers={"X-Padding": "x" * 40000})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        refused.value.close()
        assert refused.value.code == 431


def test_servers_on_one_machine_share_no_control_socket(servers, tmp_path):
    with servers(2) as bases:
        assert [_call(f"{base}/api/v2/books")[0] for base in bases] == [200, 200]
    logs = [server_log(base, {"TMPDIR": str(tmp_path)}) for base in bases]
    assert all("Booting worker" in log and "Control socket" not in log for log in logs), logs


def test_a_server_named_control_socket_is_its_own(servers, tmp_path):
    socket_path = tmp_path / "books-1.ctl"
    with servers(1, GUNICORN_CONTROL_SOCKET=str(socket_path)) as (base,):
        assert _call(f"{base}/api/v2/books")[0] == 200
        assert socket_path.exists()
        assert f"Control socket listening at {socket_path}" in server_log(
            base, {"TMPDIR": str(tmp_path)}
        )


# Version usage (contract §11) across processes, restarts and crashes.


def _on(database_url: str, sql: str):
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            result = connection.execute(sa.text(sql))
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def _usage_of_books(database_url: str) -> int:
    return _on(
        database_url,
        "SELECT coalesce(sum(requests), 0) FROM version_usage "
        "WHERE version = '1' AND endpoint = 'GET /books'",
    )


@pytest.fixture
def usage_servers(database_url, tmp_path):
    """gunicorn with two workers, flushing usage every second, on the test database (whose
    usage counts start empty)."""
    _on(database_url, "DELETE FROM version_usage")

    @contextmanager
    def start(**extra: str):
        env = server_env(database_url, tmp_path, **{"USAGE_FLUSH_SECONDS": "1", **extra})
        with gunicorn(env, workers=2) as base:
            yield base

    return start


def test_usage_counts_are_exact_across_two_workers_and_a_restart(usage_servers, database_url):
    with usage_servers() as base:
        assert {_call(f"{base}/api/v1/books")[0] for _ in range(25)} == {200}
    # SIGTERM: each worker flushed what it counted on its way out.
    assert _usage_of_books(database_url) == 25
    with usage_servers() as base:
        assert {_call(f"{base}/api/v1/books")[0] for _ in range(5)} == {200}
    assert _usage_of_books(database_url) == 30


def test_a_crash_loses_at_most_the_last_flush_interval(usage_servers, database_url):
    with usage_servers() as base:
        for _ in range(10):
            _call(f"{base}/api/v1/books")
        deadline = time.monotonic() + 15
        while _usage_of_books(database_url) < 10:  # polling for the flush, bounded
            assert time.monotonic() < deadline, "no flush within 15 s"
            time.sleep(0.2)
        for _ in range(4):
            _call(f"{base}/api/v1/books")
        crash(base)
    # The 10 flushed before the crash are kept; at most the 4 since can be missing.
    assert 10 <= _usage_of_books(database_url) <= 14


def test_usage_counts_in_redis_are_exact_across_two_workers(usage_servers, redis_url):
    from core.services.usage import RedisStore

    with usage_servers(USAGE_STORAGE_URI=redis_url) as base:
        assert {_call(f"{base}/api/v1/books")[0] for _ in range(12)} == {200}
    store = RedisStore(redis_url, "bookapi")
    today = datetime.now(UTC).date()  # the servers count on the real clock
    counted = sum(
        count.requests
        for key, count in store.rows(today, today, "1", None)
        if key.endpoint == "GET /books"
    )
    assert counted == 12
