"""Password hashes: the one place that knows their formats.

A *method* is the configuration's name for how new hashes are made: ``argon2id`` (m=7 MiB,
t=5, p=1: one of the five settings OWASP's Password Storage Cheat Sheet gives as equally
strong, from m=46 MiB t=1 to m=7 MiB t=5; the least memory per hash, about as fast as
m=19 MiB t=2) or a Werkzeug method string (``scrypt``, ``scrypt:N:r:p``,
``pbkdf2``, ``pbkdf2:HASH:ITERATIONS``). A stored hash of any of these formats verifies,
whatever the method; ``needs_rehash`` says when it should be replaced by one in the method.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from werkzeug.security import (
    DEFAULT_PBKDF2_ITERATIONS,
    check_password_hash,
    generate_password_hash,
)

ARGON2ID = "argon2id"
ARGON2_MEMORY_KIB = 7 * 1024
ARGON2_TIME_COST = 5
ARGON2_PARALLELISM = 1
ARGON2_PREFIX = "$argon2"

# Production floors. PBKDF2: OWASP's Password Storage Cheat Sheet iteration counts. scrypt:
# Werkzeug's default (N=2^15, r=8: 32 MiB), kept acceptable for operators who chose it.
PBKDF2_MIN_ITERATIONS = {"sha256": 600_000, "sha512": 210_000}
SCRYPT_MIN_N_TIMES_R = 2**15 * 8

_argon2 = PasswordHasher(
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_KIB,
    parallelism=ARGON2_PARALLELISM,
    type=Type.ID,
)


@lru_cache
def canonical_method(method: str) -> str:
    """``method`` with Werkzeug's defaults filled in, as it appears in the hashes it makes
    (``scrypt`` is ``scrypt:32768:8:1``). Raises ValueError saying what is wrong."""
    if method == ARGON2ID:
        return method
    name, *args = method.split(":")
    if name == ARGON2ID:
        raise ValueError("argon2id takes no parameters (it uses m=7 MiB, t=5, p=1)")
    if name == "scrypt":
        if not args:
            return "scrypt:32768:8:1"
        try:
            n, r, p = (int(arg) for arg in args)
        except ValueError:
            raise ValueError("scrypt takes three whole numbers: scrypt:N:r:p") from None
        if n < 2 or n & (n - 1) or r < 1 or p < 1:
            raise ValueError("scrypt needs N a power of 2 above 1, and r and p at least 1")
        return f"scrypt:{n}:{r}:{p}"
    if name == "pbkdf2":
        if len(args) > 2:
            raise ValueError("pbkdf2 takes a hash name and an iteration count")
        hash_name = args[0] if args else "sha256"
        try:
            iterations = int(args[1]) if len(args) == 2 else DEFAULT_PBKDF2_ITERATIONS
            hashlib.pbkdf2_hmac(hash_name, b"", b"", 1)  # unknown hash names raise
        except ValueError:
            raise ValueError("pbkdf2 takes a hashlib hash name and a whole number") from None
        if iterations < 1:
            raise ValueError("pbkdf2 needs at least 1 iteration")
        return f"pbkdf2:{hash_name}:{iterations}"
    raise ValueError(f"unknown method {name!r}: use argon2id, scrypt[:N:r:p] or pbkdf2[:HASH:N]")


def weakness(method: str) -> str | None:
    """Why a valid ``method`` is too weak for production, or None."""
    canonical = canonical_method(method)
    if canonical == ARGON2ID:
        return None
    name, *args = canonical.split(":")
    if name == "scrypt":
        n, r, _ = (int(arg) for arg in args)
        if n * r < SCRYPT_MIN_N_TIMES_R:
            return "scrypt needs N*r of at least 2^18 (32 MiB)"
        return None
    hash_name, iterations = args[0], int(args[1])
    minimum = PBKDF2_MIN_ITERATIONS.get(hash_name)
    if minimum is None:
        return "pbkdf2 needs sha256 or sha512"
    if iterations < minimum:
        return f"pbkdf2 with {hash_name} needs at least {minimum} iterations"
    return None


def hash_password(password: str, method: str) -> str:
    """A new hash of ``password`` made with ``method``."""
    if canonical_method(method) == ARGON2ID:
        return _argon2.hash(password)
    return generate_password_hash(password, method=method)


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored``; a malformed or unknown hash matches nothing."""
    if stored.startswith(ARGON2_PREFIX):
        try:
            return _argon2.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    try:
        return check_password_hash(stored, password)
    except ValueError:  # an unknown Werkzeug method or malformed parameters
        return False


def needs_rehash(stored: str, method: str) -> bool:
    """Whether ``stored`` was made by another method, or by ``method`` with other parameters."""
    canonical = canonical_method(method)
    if canonical == ARGON2ID:
        if not stored.startswith(ARGON2_PREFIX):
            return True
        try:
            return _argon2.check_needs_rehash(stored)
        except InvalidHashError:
            return True
    return stored.split("$", 1)[0] != canonical
