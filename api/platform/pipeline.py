"""The steps every request passes through, declared once and in order.

Each step is a plain function of the request, ``g`` and the app (and, after the view, the
response). Four Flask hooks run them: Flask calls each hook on its own and every look-up of
``request``, ``g`` or ``current_app`` goes through a context-local proxy, so the hooks look
the three up once and hand them to their steps. The rate limiter's own hooks (Flask-Limiter:
check on arrival, headers on the way out) sit between them::

    ARRIVE     request log clock and id, header size (431), Host (400), keys in the URL (400)
      limiter  check (429)
    ADMIT      credentials sent to public routes (401), the serving version (400, 410)
      ... the view ...
    RESPOND    API-Version and lifecycle headers, request log line, usage count, hardening
      limiter  X-RateLimit-* headers
    SEAL       Retry-After only when limited, Vary on credentials, CORS, one Vary line

A step that raises ends its hook's steps, as a hook that raises ends Flask's: the error
handler answers and the response steps still run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app, g, request


@dataclass(frozen=True)
class Steps:
    arrive: tuple[Callable, ...]
    admit: tuple[Callable, ...]
    respond: tuple[Callable, ...]
    seal: tuple[Callable, ...]


def _before(*names: str):
    """A before-request hook running the steps named ``names``, in order."""

    def run():
        app = current_app._get_current_object()
        req, store = request._get_current_object(), g._get_current_object()
        steps = app.extensions["request_steps"]
        for name in names:
            for step in getattr(steps, name):
                step(req, store, app)

    run.__name__ = "_" + "_".join(names)
    return run


def _after(*names: str):
    """An after-request hook running the response steps named ``names``, in order."""

    def run(response):
        app = current_app._get_current_object()
        req, store = request._get_current_object(), g._get_current_object()
        steps = app.extensions["request_steps"]
        for name in names:
            for step in getattr(steps, name):
                response = step(req, store, app, response)
        return response

    run.__name__ = "_" + "_".join(names)
    return run


_arrive, _admit = _before("arrive"), _before("admit")
_respond, _seal = _after("respond"), _after("seal")
# Without the limiter's hooks between them, one hook each way (two fewer calls per request).
_arrive_admit, _respond_seal = _before("arrive", "admit"), _after("respond", "seal")


def init_app(app: Flask) -> None:
    """Register the steps and the limiter, in the order above."""
    from api.platform import authentication, cors, hardening, ratelimit, requestlog, usage
    from api.versioning import pins, select_version, version_headers

    cors_step = cors.init_app(app)
    app.extensions["request_steps"] = Steps(
        arrive=(
            requestlog.start,
            hardening.limit_header_size,
            hardening.refuse_bad_host,
            authentication.refuse_keys_in_query,
        ),
        admit=(authentication.judge_sent_credentials, select_version),
        respond=(
            version_headers,
            requestlog.finish,
            *((usage.count,) if app.config["USAGE_COUNTING"] else ()),
            hardening.harden,
        ),
        seal=(
            ratelimit.only_when_limited,
            pins.vary_on_credentials,
            cors_step,
            hardening.merge_vary,
        ),
    )
    before = app.before_request_funcs.setdefault(None, [])
    after = app.after_request_funcs.setdefault(None, [])
    hooks_before, seal_at = list(before), len(after)
    ratelimit.init_app(app)
    if before == hooks_before and len(after) == seal_at:  # the limiter is off: no hooks
        before.insert(0, _arrive_admit)
        app.after_request(_respond_seal)
        return
    # Flask runs after-request hooks last registered first: SEAL before the limiter's,
    # RESPOND after it. Before-request hooks run in order: ARRIVE goes first of all.
    after.insert(seal_at, _seal)
    before.insert(0, _arrive)
    app.before_request(_admit)
    app.after_request(_respond)
