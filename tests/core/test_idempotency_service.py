"""The idempotency rules without HTTP: fingerprints and sealed answers."""

import pytest

from core.principal import Principal
from core.services import idempotency


def test_the_fingerprint_reads_the_body_as_json():
    a = idempotency.fingerprint("post", "create_book", "1", {"title": "Dune", "year": 1965})
    b = idempotency.fingerprint("POST", "create_book", "1", {"year": 1965, "title": "Dune"})
    assert a == b


@pytest.mark.parametrize(
    "other",
    [
        ("POST", "create_book", "2", {"title": "Dune"}),
        ("POST", "create_api_key", "1", {"title": "Dune"}),
        ("PUT", "create_book", "1", {"title": "Dune"}),
        ("POST", "create_book", "1", {"title": "Dune "}),
    ],
)
def test_the_fingerprint_tells_requests_apart(other):
    assert idempotency.fingerprint("POST", "create_book", "1", {"title": "Dune"}) != (
        idempotency.fingerprint(*other)
    )


def test_a_sealed_body_opens_only_with_its_secret(ctx):
    sealed = idempotency._seal(b'{"key": "bk_secret"}')
    assert "bk_secret" not in sealed
    assert idempotency._unseal(sealed) == b'{"key": "bk_secret"}'
    ctx.config["SECRET_KEY"] = "another-secret-key-of-some-length"
    with pytest.raises(ValueError):
        idempotency._unseal(sealed)


def test_the_operator_has_no_idempotency_scope():
    with pytest.raises(ValueError):
        idempotency.client_of(Principal.for_operator())
