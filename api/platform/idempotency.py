"""Idempotent retries (contract §13), for the routes that declare ``@idempotent``.

A request with ``Idempotency-Key`` is judged after its credentials (the key is scoped to the
client) and its body's framing (415/400 come first, as without a key). The first request with
a key runs normally and its successful response is stored in the same transaction as its
write; a retry with the same body gets that response again with ``Idempotent-Replayed: true``.
A claim left pending longer than ``IDEMPOTENCY_LEASE_SECONDS`` (its process died before its
write committed) is taken over by the next retry with the same body.
The API version is part of what a key names: the stored answer is in one version's shape, so
the same key on another version is a different request (422 ``idempotency_key_reused``); the
unversioned URL served by a version is that version.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from functools import wraps

import click
from flask import Response, current_app, request
from flask.cli import with_appcontext

from api.platform.authentication import current_principal
from api.platform.bodies import json_body
from api.versioning import current_version
from api.versioning.compare import comparing
from core.errors import BadRequest
from core.extensions import one_transaction
from core.services import idempotency

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# What a replay repeats besides status and body; the rest (API-Version, Vary, rate limits,
# X-Request-ID, lifecycle headers) belongs to the retry and is set for it as usual.
STORED_HEADERS = ("Content-Type", "Location", "ETag")
_VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")
KEY_RULE = "1-255 visible ASCII characters (0x21-0x7E)."


class InvalidIdempotencyKey(BadRequest):
    reason = "invalid_idempotency_key"
    default_message = "The Idempotency-Key header is malformed"


def idempotent(view: Callable) -> Callable:
    """Honour ``Idempotency-Key`` on a creating route; put it under ``@authenticated``."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if IDEMPOTENCY_KEY_HEADER not in request.headers or comparing():
            # A compare run is rolled back anyway, and forwards no Idempotency-Key.
            return view(*args, **kwargs)
        key = request.headers[IDEMPOTENCY_KEY_HEADER]
        if not _VALID_KEY.fullmatch(key):
            raise InvalidIdempotencyKey(details={IDEMPOTENCY_KEY_HEADER: [f"Must be {KEY_RULE}"]})
        actor = current_principal()
        operation = (request.endpoint or "").rsplit(".", 1)[-1]
        print_ = idempotency.fingerprint(request.method, operation, current_version(), json_body())
        config = current_app.config
        outcome = idempotency.claim(
            actor,
            key,
            print_,
            config["CLOCK"](),
            ttl=timedelta(hours=config["IDEMPOTENCY_TTL_HOURS"]),
            lease=timedelta(seconds=config["IDEMPOTENCY_LEASE_SECONDS"]),
        )
        if isinstance(outcome, idempotency.StoredResponse):
            response = Response(outcome.body, status=outcome.status, headers=outcome.headers)
            response.headers[REPLAYED_HEADER] = "true"
            return response
        try:
            with one_transaction():
                response = current_app.make_response(view(*args, **kwargs))
                if response.status_code >= 400:
                    raise _NotStored(response)
                kept = {n: response.headers[n] for n in STORED_HEADERS if n in response.headers}
                answer = idempotency.StoredResponse(response.status_code, kept, response.get_data())
                idempotency.complete(outcome, answer)
        except _NotStored as refused:
            idempotency.release(outcome)
            return refused.response
        except BaseException:
            idempotency.release(outcome)
            raise
        return response

    return wrapper


class _NotStored(Exception):
    """An error response returned (not raised) by the view: undone, and not stored."""

    def __init__(self, response: Response):
        super().__init__(response.status_code)
        self.response = response


@click.command("purge-idempotency-keys")
@with_appcontext
def purge_idempotency_keys():
    """Delete the Idempotency-Keys that have expired (their keys may then be used again)."""
    removed = idempotency.purge_expired(current_app.config["CLOCK"]())
    click.echo(f"Removed {removed} expired idempotency keys.")


COMMANDS = (purge_idempotency_keys,)
