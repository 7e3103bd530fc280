"""Password hash formats without an app: methods, verification and when to rehash."""

import pytest
from werkzeug.security import generate_password_hash

from core import passwords

PASSWORD = "correct-horse-battery"


@pytest.mark.parametrize(
    "method, canonical",
    [
        ("argon2id", "argon2id"),
        ("scrypt", "scrypt:32768:8:1"),
        ("pbkdf2", "pbkdf2:sha256:1000000"),
        ("pbkdf2:sha512", "pbkdf2:sha512:1000000"),
        ("pbkdf2:sha256:1000", "pbkdf2:sha256:1000"),
    ],
)
def test_canonical_method_is_the_prefix_werkzeug_writes(method, canonical):
    assert passwords.canonical_method(method) == canonical
    if method != "argon2id":
        assert generate_password_hash(PASSWORD, method).startswith(canonical + "$")


@pytest.mark.parametrize("method", ["argon2id", "scrypt", "pbkdf2:sha256:1000"])
def test_a_fresh_hash_verifies_and_needs_no_rehash_in_its_own_method(method):
    stored = passwords.hash_password(PASSWORD, method)
    assert passwords.verify_password(stored, PASSWORD)
    assert not passwords.verify_password(stored, PASSWORD + "x")
    assert not passwords.needs_rehash(stored, method)


@pytest.mark.parametrize(
    "stored_method, method",
    [("scrypt", "argon2id"), ("argon2id", "scrypt"), ("pbkdf2:sha256:1000", "pbkdf2")],
)
def test_a_hash_in_another_method_needs_a_rehash(stored_method, method):
    assert passwords.needs_rehash(passwords.hash_password(PASSWORD, stored_method), method)


def test_a_malformed_argon2_hash_needs_a_rehash_and_matches_nothing():
    assert passwords.needs_rehash("$argon2id$garbage", "argon2id")
    assert not passwords.verify_password("$argon2id$garbage", PASSWORD)
