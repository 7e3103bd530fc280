"""Start-up refusals as operators see them: one line on stderr, no traceback, a failing exit."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import NoReturn, TypeVar

from core.config import ConfigError, load_config

# gunicorn's status for "the app failed to load": a worker exiting with it makes the master stop
# at once instead of starting another worker, and scripts see a failure.
EXIT_STATUS = 4
PREFIX = "book-api: configuration refused: "

T = TypeVar("T")


def refusal_line(error: ConfigError) -> str:
    """The one line an operator reads; the message is already phrased for them."""
    return PREFIX + " ".join(str(error).split())


def refuse(error: ConfigError) -> NoReturn:
    print(refusal_line(error), file=sys.stderr, flush=True)
    raise SystemExit(EXIT_STATUS)


def check_environment(environ: Mapping[str, str] | None = None) -> dict:
    """The environment's configuration; exit with the refusal line when it is refused.

    gunicorn.conf.py calls it, so gunicorn's master refuses once, before forking any worker."""
    try:
        return load_config(environ)
    except ConfigError as error:
        refuse(error)


def build_or_refuse(factory: Callable[[], T]) -> T:
    """``factory()``, or the refusal line and exit when it raises ConfigError."""
    try:
        return factory()
    except ConfigError as error:
        refuse(error)
