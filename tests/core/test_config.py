"""Configuration from environment variables: defaults, parsing, and production safety checks."""

from datetime import UTC, datetime

import pytest

from api import create_app
from core.config import DEV_JWT_SECRET_KEY, DEV_SECRET_KEY, ConfigError, load_config

# Two distinct, long, random-looking secrets that production accepts.
GOOD_SECRET = "k7Qy2vR9mZ4pL8sT1wX6bN3cF5hJ0dGa-secret-one"
GOOD_JWT_SECRET = "Zr8Pq3Lm6Tn1Vx4Bc7Hd0Kf2Sg5Wj9Ya-secret-two"


def production(**environ: str) -> dict[str, str]:
    return {
        "APP_ENV": "production",
        "SECRET_KEY": GOOD_SECRET,
        "JWT_SECRET_KEY": GOOD_JWT_SECRET,
        "TRUSTED_HOSTS": "books.example.com",
        **environ,
    }


# Defaults


def test_defaults_without_any_environment():
    config = load_config({})
    assert config["APP_ENV"] == "development"
    assert config["API_DEFAULT_VERSION"] == "1"
    assert config["JWT_ACCESS_TOKEN_EXPIRES"] == 3600
    assert config["JWT_REFRESH_TOKEN_EXPIRES"] == 2592000
    assert config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert config["CORS_ORIGINS"] == ["*"]
    assert not [name for name in config if name.startswith("V1_")]
    assert config["DEBUG"] is False
    assert config["TESTING"] is False
    assert config["RATELIMIT_ENABLED"] is True
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["PASSWORD_HASH_METHOD"] == "argon2id"
    assert config["REQUIRE_IF_MATCH"] is False


def test_development_falls_back_to_the_development_secrets():
    config = load_config({})
    assert config["SECRET_KEY"] == DEV_SECRET_KEY
    assert config["JWT_SECRET_KEY"] == DEV_JWT_SECRET_KEY


def test_tokens_are_signed_with_hs256_only():
    config = load_config({})
    assert config["JWT_ALGORITHM"] == "HS256"
    assert config["JWT_DECODE_ALGORITHMS"] == ["HS256"]


def test_testing_environment_sets_testing():
    assert load_config({"APP_ENV": "testing"})["TESTING"] is True


def test_empty_values_mean_the_default():
    config = load_config({"JWT_ACCESS_TOKEN_EXPIRES": " ", "APP_ENV": "", "SECRET_KEY": ""})
    assert config["JWT_ACCESS_TOKEN_EXPIRES"] == 3600
    assert config["APP_ENV"] == "development"
    assert config["SECRET_KEY"] == DEV_SECRET_KEY


# Parsing


@pytest.mark.parametrize("value", ["2", "v2", "V2", " v2 "])
def test_default_version_accepts_a_bare_or_prefixed_number(value):
    assert load_config({"API_DEFAULT_VERSION": value})["API_DEFAULT_VERSION"] == "2"


def test_lifetimes_and_size_limit_are_read_as_seconds_and_bytes():
    config = load_config(
        {
            "JWT_ACCESS_TOKEN_EXPIRES": "60",
            "JWT_REFRESH_TOKEN_EXPIRES": "120",
            "MAX_CONTENT_LENGTH": "2048",
        }
    )
    assert config["JWT_ACCESS_TOKEN_EXPIRES"] == 60
    assert config["JWT_REFRESH_TOKEN_EXPIRES"] == 120
    assert config["MAX_CONTENT_LENGTH"] == 2048


def test_cors_origins_are_a_comma_separated_list():
    config = load_config({"CORS_ORIGINS": "https://a.example, https://b.example,"})
    assert config["CORS_ORIGINS"] == ["https://a.example", "https://b.example"]


def test_deprecation_dates_are_parsed_as_utc_instants():
    config = load_config(
        {"V1_DEPRECATED_AT": "2026-06-30T00:00:00Z", "V1_SUNSET_AT": "2027-01-01T02:00:00+02:00"}
    )
    assert config["V1_DEPRECATED_AT"] == datetime(2026, 6, 30, tzinfo=UTC)
    assert config["V1_SUNSET_AT"] == datetime(2027, 1, 1, tzinfo=UTC)
    assert config["V1_SUNSET_AT"].utcoffset().total_seconds() == 0


def test_a_naive_deprecation_date_is_taken_as_utc():
    config = load_config({"V1_DEPRECATED_AT": "2026-06-30T12:00:00"})
    assert config["V1_DEPRECATED_AT"] == datetime(2026, 6, 30, 12, tzinfo=UTC)


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("ON", True), ("0", False)])
def test_require_if_match_is_a_boolean(value, expected):
    assert load_config({"REQUIRE_IF_MATCH": value})["REQUIRE_IF_MATCH"] is expected


def test_database_url_is_used_as_given():
    url = "postgresql+psycopg://app@db.example/books"
    assert load_config({"DATABASE_URL": url})["SQLALCHEMY_DATABASE_URI"] == url


@pytest.mark.parametrize(
    "environ",
    [
        {"API_DEFAULT_VERSION": "latest"},
        {"API_DEFAULT_VERSION": "1.0"},
        {"JWT_ACCESS_TOKEN_EXPIRES": "abc"},
        {"JWT_ACCESS_TOKEN_EXPIRES": "0"},
        {"JWT_ACCESS_TOKEN_EXPIRES": "-5"},
        {"JWT_REFRESH_TOKEN_EXPIRES": "1.5"},
        {"MAX_CONTENT_LENGTH": "big"},
        {"APP_ENV": "staging"},
        {"V1_DEPRECATED_AT": "garbage"},
        {"V1_SUNSET_AT": "2027-01-01T00:00:00Z"},
        {"V1_DEPRECATED_AT": "2026-06-30T00:00:00Z", "V1_SUNSET_AT": "soon"},
        {"RATELIMIT_ENABLED": "maybe"},
        {"FLASK_DEBUG": "sometimes"},
        {"REQUIRE_IF_MATCH": "perhaps"},
    ],
    ids=lambda environ: ",".join(f"{k}={v}" for k, v in environ.items()),
)
def test_bad_values_raise_config_error(environ):
    with pytest.raises(ConfigError):
        load_config(environ)


def test_a_bad_value_names_the_variable():
    with pytest.raises(ConfigError, match="JWT_ACCESS_TOKEN_EXPIRES"):
        load_config({"JWT_ACCESS_TOKEN_EXPIRES": "abc"})
    with pytest.raises(ConfigError, match="V1_DEPRECATED_AT"):
        load_config({"V1_SUNSET_AT": "2027-01-01T00:00:00Z"})


@pytest.mark.parametrize(
    "method",
    ["argon2id", "scrypt", "scrypt:16384:8:2", "pbkdf2", "pbkdf2:sha512", "pbkdf2:sha256:1000"],
)
def test_password_hash_method_accepts_argon2id_and_werkzeug_methods(method):
    assert load_config({"PASSWORD_HASH_METHOD": f" {method} "})["PASSWORD_HASH_METHOD"] == method


@pytest.mark.parametrize(
    "method",
    [
        "bcrypt",
        "Argon2id",
        "argon2id:m=65536",
        "scrypt:16384",
        "scrypt:1000:8:1",
        "scrypt:16384:0:1",
        "pbkdf2:no-such-hash:1000",
        "pbkdf2:sha256:many",
        "pbkdf2:sha256:0",
        "pbkdf2:sha256:1000:1",
    ],
)
def test_an_unusable_password_hash_method_is_refused_by_name(method, tmp_path):
    with pytest.raises(ConfigError, match="PASSWORD_HASH_METHOD"):
        load_config({"PASSWORD_HASH_METHOD": method})
    environ = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "PASSWORD_HASH_METHOD": method}
    with pytest.raises(ConfigError):
        create_app(environ=environ)


@pytest.mark.parametrize("value", ["3", "v9", "0"])
def test_create_app_refuses_a_default_version_it_does_not_serve(tmp_path, value):
    environ = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "API_DEFAULT_VERSION": value}
    with pytest.raises(ConfigError, match="API_DEFAULT_VERSION must be one of 1, 2"):
        create_app(environ=environ)


# Production


@pytest.mark.parametrize(
    "environ",
    [
        {"SECRET_KEY": "", "JWT_SECRET_KEY": ""},
        {"SECRET_KEY": ""},
        {"JWT_SECRET_KEY": ""},
        {"SECRET_KEY": DEV_SECRET_KEY},
        {"JWT_SECRET_KEY": DEV_JWT_SECRET_KEY},
        {"SECRET_KEY": "short-secret-value"},
        {"JWT_SECRET_KEY": "tiny-jwt-value"},
        {"JWT_SECRET_KEY": GOOD_SECRET},
        {"FLASK_DEBUG": "1"},
    ],
    ids=[
        "both-missing",
        "secret-missing",
        "jwt-secret-missing",
        "dev-secret",
        "dev-jwt-secret",
        "short-secret",
        "short-jwt-secret",
        "same-secrets",
        "debug",
    ],
)
def test_production_refuses_to_start_with_unsafe_settings(environ, tmp_path):
    environ = production(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", **environ)
    with pytest.raises(ConfigError):
        load_config(environ)
    with pytest.raises(ConfigError):
        create_app(environ=environ)


@pytest.mark.parametrize(
    "method",
    ["pbkdf2:sha256:1000", "pbkdf2:sha1:2000000", "pbkdf2:sha512:1000", "scrypt:16384:8:1"],
)
def test_production_refuses_a_weak_password_hash_method(method):
    with pytest.raises(ConfigError, match="PASSWORD_HASH_METHOD is too weak"):
        load_config(production(PASSWORD_HASH_METHOD=method))


@pytest.mark.parametrize(
    "method", ["argon2id", "scrypt", "scrypt:32768:8:1", "pbkdf2", "pbkdf2:sha512:210000"]
)
def test_production_accepts_argon2id_and_strong_werkzeug_methods(method):
    config = load_config(production(PASSWORD_HASH_METHOD=method))
    assert config["PASSWORD_HASH_METHOD"] == method


def test_production_without_secret_variables_refuses_to_start():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config({"APP_ENV": "production"})


@pytest.mark.parametrize(
    "environ",
    [
        {"SECRET_KEY": "short-secret-value"},
        {"JWT_SECRET_KEY": "tiny-jwt-value"},
        {"FLASK_DEBUG": "1"},
        {"JWT_SECRET_KEY": GOOD_SECRET},
    ],
    ids=["short-secret", "short-jwt-secret", "debug", "same-secrets"],
)
def test_production_error_does_not_reveal_the_secrets(environ):
    environ = production(**environ)
    with pytest.raises(ConfigError) as caught:
        load_config(environ)
    message = str(caught.value)
    for secret in (environ["SECRET_KEY"], environ["JWT_SECRET_KEY"]):
        assert secret not in message


def test_production_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as caught:
        load_config(production(SECRET_KEY="short", JWT_SECRET_KEY="", FLASK_DEBUG="true"))
    message = str(caught.value)
    assert "SECRET_KEY" in message
    assert "JWT_SECRET_KEY" in message
    assert "debug" in message.lower()


def test_production_starts_with_two_distinct_long_secrets(tmp_path):
    environ = production(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    config = load_config(environ)
    assert config["APP_ENV"] == "production"
    assert config["DEBUG"] is False
    assert config["TESTING"] is False
    assert config["SECRET_KEY"] == GOOD_SECRET
    assert config["JWT_SECRET_KEY"] == GOOD_JWT_SECRET
    app = create_app(environ=environ)
    assert app.config["SECRET_KEY"] == GOOD_SECRET
    assert not app.debug


# Trusted hosts


def test_any_well_formed_host_is_allowed_by_default_outside_production():
    config = load_config({})
    assert config["TRUSTED_HOSTS"] is None


def test_trusted_hosts_are_a_comma_separated_list():
    config = load_config({"TRUSTED_HOSTS": " Books.Example.com, .example.org ,127.0.0.1,"})
    assert config["TRUSTED_HOSTS"] == ["books.example.com", ".example.org", "127.0.0.1"]


@pytest.mark.parametrize("entry", ["books.example.com:443", "[::1]", "::1", "a b", "*.example.com"])
def test_a_trusted_host_that_cannot_be_matched_is_refused(entry):
    with pytest.raises(ConfigError, match="TRUSTED_HOSTS"):
        load_config({"TRUSTED_HOSTS": f"localhost,{entry}"})


def test_production_refuses_to_start_without_trusted_hosts():
    environ = production()
    del environ["TRUSTED_HOSTS"]
    with pytest.raises(ConfigError, match="TRUSTED_HOSTS must list"):
        load_config(environ)


def test_production_accepts_any_host_when_told_so_with_a_star():
    assert load_config(production(TRUSTED_HOSTS="*"))["TRUSTED_HOSTS"] is None


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("postgresql+psycopg://books@db/books", {"connect_args": {"connect_timeout": 3}}),
        ("postgresql+psycopg://books@db/books?connect_timeout=9", {}),  # the URL's own
        ("sqlite:///books.db", {}),
        ("", {}),
    ],
)
def test_a_postgresql_connection_attempt_gives_up_after_a_few_seconds(url, options):
    assert load_config({"DATABASE_URL": url})["SQLALCHEMY_ENGINE_OPTIONS"] == options
