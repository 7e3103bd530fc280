"""Rate limits: headers, 429 in each version's shape, stricter login/register limits."""

import pytest

from tests.conftest import PASSWORD


@pytest.fixture
def limited(make_app):
    """An app with small limits, rate limiting on, in-process memory storage."""

    def build(**env):
        settings = {
            "RATELIMIT_ENABLED": "true",
            "RATELIMIT_DEFAULT": "5 per minute",
            "RATELIMIT_LOGIN": "4 per minute",
            "RATELIMIT_LOGIN_EMAIL": "3 per minute",
            "RATELIMIT_REGISTER": "2 per minute",
            **env,
        }
        return make_app(**settings).test_client()

    return build


def test_responses_carry_rate_limit_headers(limited, version):
    client = limited()
    response = client.get(f"/api/v{version}/books")
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "4"
    assert int(response.headers["X-RateLimit-Reset"]) > 0
    assert "Retry-After" not in response.headers


def test_default_limit_answers_429_in_the_versions_shape(limited, version):
    client = limited()
    statuses = [client.get(f"/api/v{version}/books").status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    response = client.get(f"/api/v{version}/books")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["X-RateLimit-Remaining"] == "0"
    body = response.get_json()
    if version == "1":
        assert body == {"error": "Too many requests", "code": "rate_limited"}
    else:
        assert body["success"] is False
        assert body["error"]["code"] == 429
        assert body["error"]["reason"] == "rate_limited"


def test_default_limit_is_one_budget_across_versions_and_routes(limited):
    client = limited()
    urls = ["/api/v1/books", "/api/v2/books", "/api/books", "/api/v2/auth/me", "/api/v1/books/1"]
    statuses = [client.get(url).status_code for url in urls]
    assert 429 not in statuses
    assert client.get("/api/v2/books").status_code == 429


def test_limits_are_per_client_address(limited):
    client = limited()
    for _ in range(5):
        client.get("/api/v2/books", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    blocked = client.get("/api/v2/books", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    other = client.get("/api/v2/books", environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert blocked.status_code == 429
    assert other.status_code == 200


def test_spoofed_forwarded_for_does_not_reset_a_limit(limited):
    client = limited()
    statuses = [
        client.get("/api/v2/books", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
        for n in range(7)
    ]
    assert statuses.count(429) == 2


def test_trusted_proxy_supplies_the_client_address(limited):
    client = limited(TRUSTED_PROXIES="1")
    for _ in range(5):
        client.get("/api/v2/books", headers={"X-Forwarded-For": "203.0.113.1"})
    blocked = client.get("/api/v2/books", headers={"X-Forwarded-For": "203.0.113.1"})
    other = client.get("/api/v2/books", headers={"X-Forwarded-For": "203.0.113.2"})
    assert blocked.status_code == 429
    assert other.status_code == 200


def test_health_is_not_limited(limited):
    client = limited()
    statuses = {client.get("/api/v1/health").status_code for _ in range(8)}
    assert statuses == {200}


def test_failed_logins_per_email_meet_429_across_versions(limited, make_user):
    user = make_user()
    client = limited()
    wrong = {"email": user.email, "password": "not-the-password"}
    statuses = [
        client.post(f"/api/v{v}/auth/login", json=wrong).status_code for v in ("1", "2", "1")
    ]
    assert statuses == [401, 401, 401]
    # The email is now locked for the window, even with the right password.
    right = client.post("/api/v2/auth/login", json={"email": user.email, "password": PASSWORD})
    assert right.status_code == 429
    assert right.get_json()["error"]["reason"] == "rate_limited"
    # Another account from the same address is not affected.
    other = make_user()
    ok = client.post("/api/v2/auth/login", json={"email": other.email, "password": PASSWORD})
    assert ok.status_code == 200


def test_successful_logins_do_not_count_against_the_email(limited, make_user):
    user = make_user()
    client = limited(RATELIMIT_LOGIN="50 per minute", RATELIMIT_DEFAULT="50 per minute")
    credentials = {"email": user.email, "password": PASSWORD}
    statuses = [client.post("/api/v1/auth/login", json=credentials).status_code for _ in range(6)]
    assert statuses == [200] * 6


def test_login_per_address_limit_is_shared_by_every_version_and_url(limited, make_user):
    client = limited(RATELIMIT_LOGIN_EMAIL="100 per minute")
    users = [make_user() for _ in range(5)]
    urls = ["/api/v1/auth/login", "/api/v2/auth/login", "/api/auth/login", "/api/v2/auth/login"]
    statuses = [
        client.post(url, json={"email": u.email, "password": PASSWORD}).status_code
        for url, u in zip(urls, users, strict=False)
    ]
    assert statuses == [200] * 4
    blocked = client.post(
        "/api/v1/auth/login", json={"email": users[4].email, "password": PASSWORD}
    )
    assert blocked.status_code == 429
    assert blocked.headers["X-RateLimit-Limit"] == "4"


def test_register_has_its_own_stricter_limit(limited, version):
    client = limited()
    statuses = [
        client.post(
            f"/api/v{version}/auth/register",
            json={"email": f"new{n}@example.com", "password": PASSWORD},
        ).status_code
        for n in range(3)
    ]
    assert statuses == [201, 201, 429]
    # Nothing was created by the refused request.
    login = client.post(
        f"/api/v{version}/auth/login", json={"email": "new2@example.com", "password": PASSWORD}
    )
    assert login.status_code == 401


def test_rate_limiting_can_be_switched_off(make_app):
    client = make_app(RATELIMIT_ENABLED="false", RATELIMIT_DEFAULT="1 per minute").test_client()
    responses = [client.get("/api/v2/books") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert "X-RateLimit-Limit" not in responses[0].headers


def test_limits_are_shared_through_redis(limited, redis_url):
    client = limited(RATELIMIT_STORAGE_URI=redis_url)
    statuses = [client.get("/api/v2/books").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    import redis

    keys = redis.Redis.from_url(redis_url).keys("*")
    assert keys, "the counters live in Redis"


def test_unreachable_redis_fails_open_to_per_process_limits(limited, caplog):
    client = limited(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    with caplog.at_level("WARNING", logger="flask-limiter"):
        statuses = [client.get("/api/v2/books").status_code for _ in range(7)]
    # Never a 500: the limiter keeps counting in this process's memory.
    assert statuses == [200] * 5 + [429] * 2
    assert "falling back to in-memory storage" in caplog.text
    assert "Traceback" not in caplog.text
