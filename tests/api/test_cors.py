"""CORS: real preflights from allowed and refused origins, and what responses expose."""

import pytest

from core.config import ConfigError

ALLOWED = "https://app.example.com"
REFUSED = "https://evil.example.net"
REQUIRED_ALLOW = {
    "authorization",
    "content-type",
    "api-version",
    "x-api-key",
    "if-match",
    "if-none-match",
}
REQUIRED_EXPOSE = {
    "x-total-count",
    "link",
    "location",
    "api-version",
    "deprecation",
    "sunset",
    "etag",
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
}


def _preflight(client, origin, path="/api/v2/books", method="POST"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": ", ".join(sorted(REQUIRED_ALLOW)),
        },
    )


def _names(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",") if part.strip()}


@pytest.fixture
def restricted(make_app):
    return make_app(CORS_ORIGINS=f"{ALLOWED}, https://other.example.com").test_client()


@pytest.mark.parametrize("path", ["/api/v1/books", "/api/v2/books/1", "/api/books"])
def test_preflight_from_an_allowed_origin(restricted, path):
    response = _preflight(restricted, ALLOWED, path, "PUT" if path.endswith("/1") else "POST")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert REQUIRED_ALLOW <= _names(response.headers["Access-Control-Allow-Headers"])
    assert {"get", "post", "put", "delete"} <= _names(
        response.headers["Access-Control-Allow-Methods"]
    )
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "origin" in _names(response.headers.get("Vary", ""))


def test_preflight_from_a_refused_origin_grants_nothing(restricted):
    response = _preflight(restricted, REFUSED)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Headers" not in response.headers


def test_actual_request_exposes_the_api_headers(restricted):
    response = restricted.get("/api/v2/books", headers={"Origin": ALLOWED})
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert REQUIRED_EXPOSE <= _names(response.headers["Access-Control-Expose-Headers"])


def test_actual_request_from_a_refused_origin_is_not_granted(restricted):
    response = restricted.get("/api/v2/books", headers={"Origin": REFUSED})
    assert response.status_code == 200  # CORS is enforced by the browser, not by refusing
    assert "Access-Control-Allow-Origin" not in response.headers


def test_development_default_is_any_origin_without_credentials(client):
    response = _preflight(client, REFUSED)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_credentials_are_only_for_listed_origins(make_app):
    client = make_app(CORS_ORIGINS=ALLOWED, CORS_ALLOW_CREDENTIALS="true").test_client()
    allowed = _preflight(client, ALLOWED)
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    refused = _preflight(client, REFUSED)
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert "Access-Control-Allow-Credentials" not in refused.headers


def test_any_origin_with_credentials_refuses_to_start(make_app):
    with pytest.raises(ConfigError, match="CORS_ALLOW_CREDENTIALS"):
        make_app(CORS_ORIGINS="*", CORS_ALLOW_CREDENTIALS="true")


def _cors_headers(response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers if k.startswith("Access-Control") or k == "Vary"]


def _flask_cors_own(app, path: str) -> list[tuple[str, str]]:
    """What Flask-CORS itself adds to a blank response for a GET of ``path`` without Origin."""
    (memoized,) = [s for s in app.extensions["request_steps"].seal if hasattr(s, "_step")]
    with app.test_request_context(path):
        response = memoized._step(app.response_class())
    return _cors_headers(response)


@pytest.mark.parametrize("origins", ["*", f"{ALLOWED}, https://other.example.com"])
@pytest.mark.parametrize("path", ["/api/v1/books", "/api/v2/health", "/api", "/health", "/nope"])
def test_requests_without_origin_get_flask_cors_own_headers(make_app, origins, path):
    """The step keeps Flask-CORS's answer for requests without Origin: the same, every time."""
    app = make_app(CORS_ORIGINS=origins)
    client = app.test_client()
    expected = _flask_cors_own(app, path)
    first, second = client.get(path), client.get(path)
    for response in (first, second):
        got = [h for h in _cors_headers(response) if h != ("Vary", "Accept-Encoding")]
        vary = response.headers.get("Vary", "")
        if ("Vary", "Origin") in expected:
            assert "Origin" in [v.strip() for v in vary.split(",")]
        assert [h for h in got if h[0] != "Vary"] == [h for h in expected if h[0] != "Vary"]
    if origins == "*" and path.startswith("/api"):
        assert first.headers["Access-Control-Allow-Origin"] == "*"
    # An Origin header is Flask-CORS's own case, answered afresh.
    granted = client.get(path, headers={"Origin": ALLOWED})
    if path.startswith("/api"):
        assert granted.headers["Access-Control-Allow-Origin"] in ("*", ALLOWED)
