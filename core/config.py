"""Configuration read from environment variables, with safe development defaults."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from core import passwords

DEV_SECRET_KEY = "dev-secret-key-change-me"
DEV_JWT_SECRET_KEY = "dev-jwt-secret-key-change-me-0123456789"
# Lifecycle settings of any version: V<n>_DEPRECATED_AT, V<n>_SUNSET_AT, V<n>_BROWNOUTS. The
# API layer checks that each names a version it serves (core keeps no list of versions).
LIFECYCLE_SETTING = re.compile(r"^V(\d+)_(DEPRECATED_AT|SUNSET_AT|BROWNOUTS)$")
_VERSION_TEXT = re.compile(r"^v?(\d+)$")
APP_ENVS = ("development", "testing", "production")
MIN_PRODUCTION_SECRET_LENGTH = 32


class ConfigError(RuntimeError):
    """The environment describes a configuration the API refuses to run with."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"expected a boolean (true/false), got {value!r}")


def _int(name: str, value: str | None, default: int, minimum: int = 1) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return number


# Development defaults: generous enough for a test suite run from one address, strict enough
# to stop brute force. Production operators tune them (see README).
RATE_LIMIT_DEFAULTS = {
    "RATELIMIT_DEFAULT": "1000 per minute",
    "RATELIMIT_LOGIN": "100 per minute",
    "RATELIMIT_LOGIN_EMAIL": "10 per 10 minutes",
    "RATELIMIT_REGISTER": "50 per minute",
}


def _limit(name: str, value: str | None, default: str) -> str:
    from limits import parse_many

    text = (value or "").strip() or default
    try:
        parse_many(text)
    except ValueError:
        raise ConfigError(f"{name} must be a rate limit such as '10 per minute'") from None
    return text


def _password_method(value: str | None) -> str:
    method = (value or "").strip() or passwords.ARGON2ID
    try:
        passwords.canonical_method(method)
    except ValueError as exc:
        raise ConfigError(f"PASSWORD_HASH_METHOD is not usable: {exc}") from None
    return method


def parse_datetime(name: str, value: str | None) -> datetime | None:
    """Parse an ISO 8601 date-time; naive values are taken as UTC."""
    if value is None or value.strip() == "":
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(
            f"{name} must be an ISO 8601 date-time such as 2026-06-30T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_intervals(name: str, value: str | None) -> tuple[tuple[datetime, datetime], ...]:
    """Comma-separated ISO 8601 intervals ``start/end``, each ending after it starts."""
    intervals = []
    for text in (value or "").split(","):
        if not text.strip():
            continue
        parts = text.strip().split("/")
        example = "2027-01-12T14:00:00Z/2027-01-12T15:00:00Z"
        if len(parts) != 2:
            raise ConfigError(f"{name} must list ISO 8601 intervals such as {example}")
        try:
            start, end = (parse_datetime(name, part) for part in parts)
        except ConfigError:
            raise ConfigError(f"{name} must list ISO 8601 intervals such as {example}") from None
        if start is None or end is None or end <= start:
            raise ConfigError(f"{name}: the interval {text.strip()!r} must end after it starts")
        intervals.append((start, end))
    return tuple(sorted(intervals))


def _lifecycle(env: Mapping[str, str]) -> dict:
    """Every V<n>_* lifecycle setting in ``env``, parsed, with the rules that hold per version."""
    settings: dict = {}
    numbers = set()
    for name, value in env.items():
        match = LIFECYCLE_SETTING.match(name)
        if match is None:
            continue
        numbers.add(match.group(1))
        if match.group(2) == "BROWNOUTS":
            settings[name] = parse_intervals(name, value)
        else:
            settings[name] = parse_datetime(name, value)
    for n in sorted(numbers):
        deprecated_at = settings.get(f"V{n}_DEPRECATED_AT")
        sunset_at = settings.get(f"V{n}_SUNSET_AT")
        brownouts = settings.get(f"V{n}_BROWNOUTS") or ()
        if sunset_at is not None and deprecated_at is None:
            raise ConfigError(f"V{n}_SUNSET_AT needs V{n}_DEPRECATED_AT")
        if sunset_at is not None and sunset_at <= deprecated_at:
            raise ConfigError(f"V{n}_SUNSET_AT must be after V{n}_DEPRECATED_AT")
        for start, end in brownouts:
            if deprecated_at is None:
                raise ConfigError(f"V{n}_BROWNOUTS needs V{n}_DEPRECATED_AT")
            if start < deprecated_at or (sunset_at is not None and end > sunset_at):
                raise ConfigError(
                    f"V{n}_BROWNOUTS: every window must lie between V{n}_DEPRECATED_AT and "
                    f"V{n}_SUNSET_AT"
                )
    return settings


# A listed host: a name or IPv4 address, without a port; a leading dot also allows every
# subdomain. Werkzeug cannot match IPv6 literals against a list, so none can be listed.
_TRUSTED_HOST = re.compile(r"^\.?[a-z0-9-]+(\.[a-z0-9-]+)*$")


def _trusted_hosts(value: str | None) -> tuple[list[str] | None, bool]:
    """(the hosts Flask's TRUSTED_HOSTS should allow, whether the operator chose them).

    Unset: any well-formed host (None), as is ``*``, which says so on purpose."""
    text = (value or "").strip()
    if not text:
        return None, False
    if text == "*":
        return None, True
    hosts = [h.strip().lower() for h in text.split(",") if h.strip()]
    for host in hosts:
        if not _TRUSTED_HOST.match(host):
            raise ConfigError(
                f"TRUSTED_HOSTS: {host!r} is not a host name or IPv4 address (list them "
                "without ports, such as books.example.com,.example.com; or * for any host)"
            )
    return hosts, True


def load_config(environ: Mapping[str, str] | None = None) -> dict:
    """Build the Flask configuration mapping from ``environ`` (default: ``os.environ``)."""
    env = os.environ if environ is None else environ
    app_env = env.get("APP_ENV", "development").strip().lower() or "development"
    if app_env not in APP_ENVS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(APP_ENVS)}, got {app_env!r}")

    # Whether the API serves that version is checked by the API layer, against its registry.
    default_text = env.get("API_DEFAULT_VERSION", "1").strip().lower() or "1"
    default_match = _VERSION_TEXT.match(default_text)
    if default_match is None:
        raise ConfigError(
            f"API_DEFAULT_VERSION must be a version such as 1 or v2, got {default_text!r}"
        )
    default_version = default_match.group(1)
    lifecycle = _lifecycle(env)

    origins = [o.strip() for o in env.get("CORS_ORIGINS", "*").split(",") if o.strip()]
    cors_credentials = _bool(env.get("CORS_ALLOW_CREDENTIALS"), False)
    if cors_credentials and "*" in origins:
        raise ConfigError("CORS_ALLOW_CREDENTIALS needs CORS_ORIGINS to list explicit origins")

    trusted_hosts, hosts_chosen = _trusted_hosts(env.get("TRUSTED_HOSTS"))

    storage_uri = env.get("RATELIMIT_STORAGE_URI") or "memory://"
    limits = {
        # Stored without the RATELIMIT_ prefix: Flask-Limiter reads RATELIMIT_* keys itself
        # (RATELIMIT_DEFAULT would add a second, per-route default limit).
        name.replace("RATELIMIT_", "LIMIT_"): _limit(name, env.get(name), default)
        for name, default in RATE_LIMIT_DEFAULTS.items()
    }

    config = {
        "APP_ENV": app_env,
        "DEBUG": _bool(env.get("FLASK_DEBUG"), False),
        "TESTING": app_env == "testing",
        "SECRET_KEY": env.get("SECRET_KEY") or DEV_SECRET_KEY,
        "JWT_SECRET_KEY": env.get("JWT_SECRET_KEY") or DEV_JWT_SECRET_KEY,
        "JWT_ALGORITHM": "HS256",
        "JWT_DECODE_ALGORITHMS": ["HS256"],
        "JWT_TOKEN_LOCATION": ["headers"],
        "JWT_ACCESS_TOKEN_EXPIRES": _int(
            "JWT_ACCESS_TOKEN_EXPIRES", env.get("JWT_ACCESS_TOKEN_EXPIRES"), 3600
        ),
        "JWT_REFRESH_TOKEN_EXPIRES": _int(
            "JWT_REFRESH_TOKEN_EXPIRES", env.get("JWT_REFRESH_TOKEN_EXPIRES"), 2592000
        ),
        "SQLALCHEMY_DATABASE_URI": env.get("DATABASE_URL") or "sqlite:///books.db",
        # Idle connections are checked before use (core.extensions), not every checkout.
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(env.get("DATABASE_URL") or ""),
        "API_DEFAULT_VERSION": default_version,
        **lifecycle,
        # How long after an upgrade a client may move its pin back; 0: never.
        "VERSION_ROLLBACK_HOURS": _int(
            "VERSION_ROLLBACK_HOURS", env.get("VERSION_ROLLBACK_HOURS"), 72, minimum=0
        ),
        # How long a stored Idempotency-Key answers retries (contract §13); then it may be reused.
        "IDEMPOTENCY_TTL_HOURS": _int(
            "IDEMPOTENCY_TTL_HOURS", env.get("IDEMPOTENCY_TTL_HOURS"), 24
        ),
        # How long a pending claim on a key is its request's alone: longer than any request
        # runs. A claim older than that was left by a process that died before its write
        # committed, and a retry with the same request takes it over.
        "IDEMPOTENCY_LEASE_SECONDS": _int(
            "IDEMPOTENCY_LEASE_SECONDS", env.get("IDEMPOTENCY_LEASE_SECONDS"), 60
        ),
        "CORS_ORIGINS": origins,
        "CORS_ALLOW_CREDENTIALS": cors_credentials,
        # Flask refuses a Host outside this list (None: any well-formed host) with a 400.
        "TRUSTED_HOSTS": trusted_hosts,
        "TRUSTED_HOSTS_CHOSEN": hosts_chosen,
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", env.get("TRUSTED_PROXIES"), 0, minimum=0),
        "MAX_HEADER_BYTES": _int("MAX_HEADER_BYTES", env.get("MAX_HEADER_BYTES"), 16 * 1024),
        # Slow clients (served by serving.Worker): a request's head must arrive within this
        # many seconds of its first byte, and each read of its body waits at most this long;
        # else 408. An idle kept-alive connection is closed after KEEPALIVE_SECONDS.
        "REQUEST_READ_TIMEOUT": _int("REQUEST_READ_TIMEOUT", env.get("REQUEST_READ_TIMEOUT"), 10),
        "KEEPALIVE_SECONDS": _int("KEEPALIVE_SECONDS", env.get("KEEPALIVE_SECONDS"), 5),
        "REQUEST_LOG": _bool(env.get("REQUEST_LOG"), True),
        # Off by default: legacy v1 clients never send If-Match.
        "REQUIRE_IF_MATCH": _bool(env.get("REQUIRE_IF_MATCH"), False),
        "MAX_CONTENT_LENGTH": _int(
            "MAX_CONTENT_LENGTH", env.get("MAX_CONTENT_LENGTH"), 1024 * 1024
        ),
        # A filtered list counts its matches up to this many; beyond, the total is a lower bound.
        "LIST_COUNT_LIMIT": _int("LIST_COUNT_LIMIT", env.get("LIST_COUNT_LIMIT"), 10_000),
        "PASSWORD_HASH_METHOD": _password_method(env.get("PASSWORD_HASH_METHOD")),
        "RATELIMIT_ENABLED": _bool(env.get("RATELIMIT_ENABLED"), True),
        "RATELIMIT_STORAGE_URI": storage_uri,
        # Redis answers within a second or the limiter falls back to per-process memory.
        "RATELIMIT_STORAGE_OPTIONS": (
            {"socket_connect_timeout": 1, "socket_timeout": 1}
            if storage_uri.startswith(("redis", "rediss"))
            else {}
        ),
        "RATELIMIT_KEY_PREFIX": env.get("RATELIMIT_KEY_PREFIX") or "bookapi",
        **limits,
        # Version usage (contract §11): counted in memory, flushed every so many seconds to
        # Redis when USAGE_STORAGE_URI (default: the rate limits' Redis) names one, else to the
        # database.
        "USAGE_COUNTING": _bool(env.get("USAGE_COUNTING"), True),
        "USAGE_FLUSH_SECONDS": _int("USAGE_FLUSH_SECONDS", env.get("USAGE_FLUSH_SECONDS"), 5),
        "USAGE_STORAGE_URI": _usage_storage(env.get("USAGE_STORAGE_URI"), storage_uri),
    }
    if app_env == "production":
        check_production(config)
    return config


# A PostgreSQL connection attempt gives up after this many seconds (libpq's connect_timeout;
# psycopg's own default is 130): a database that accepts connections but does not answer is a
# 503 soon, not a request held for minutes. ``?connect_timeout=N`` in DATABASE_URL overrides it.
DATABASE_CONNECT_TIMEOUT = 3


def _engine_options(url: str) -> dict:
    if not url.startswith("postgresql") or "connect_timeout=" in url:
        return {}
    return {"connect_args": {"connect_timeout": DATABASE_CONNECT_TIMEOUT}}


def _usage_storage(value: str | None, ratelimit_storage: str) -> str:
    value = (value or "").strip()
    if not value:
        return (
            ratelimit_storage if ratelimit_storage.startswith(("redis", "rediss")) else "database"
        )
    if value != "database" and not value.startswith(("redis://", "rediss://")):
        raise ConfigError(f"USAGE_STORAGE_URI must be database or a redis:// URL, got {value!r}")
    return value


def check_production(config: Mapping) -> None:
    """Refuse to run production with development secrets, debug on, weak password hashes or
    no TRUSTED_HOSTS."""
    problems = []
    for key, dev_value in (("SECRET_KEY", DEV_SECRET_KEY), ("JWT_SECRET_KEY", DEV_JWT_SECRET_KEY)):
        value = config.get(key) or ""
        if value == dev_value:
            problems.append(f"{key} is missing or set to the development value")
        elif len(value) < MIN_PRODUCTION_SECRET_LENGTH:
            problems.append(f"{key} must be at least {MIN_PRODUCTION_SECRET_LENGTH} characters")
    if config.get("SECRET_KEY") and config.get("SECRET_KEY") == config.get("JWT_SECRET_KEY"):
        problems.append("SECRET_KEY and JWT_SECRET_KEY must differ")
    if config.get("DEBUG"):
        problems.append("debug must be off (unset FLASK_DEBUG)")
    if not config.get("TRUSTED_HOSTS_CHOSEN"):
        # Links are built from the Host: production names the hosts it answers to.
        problems.append(
            "TRUSTED_HOSTS must list the hosts clients use (such as books.example.com), or be *"
        )
    weakness = passwords.weakness(config["PASSWORD_HASH_METHOD"])
    if weakness:
        problems.append(f"PASSWORD_HASH_METHOD is too weak ({weakness}; use argon2id)")
    if problems:
        raise ConfigError("refusing to start in production: " + "; ".join(problems))


def utc_now() -> datetime:
    return datetime.now(UTC)
