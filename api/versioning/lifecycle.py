"""Each version's lifecycle (contract §9): current, deprecated, retired, and brownouts.

Dates come from ``V<n>_DEPRECATED_AT``, ``V<n>_SUNSET_AT`` and ``V<n>_BROWNOUTS`` (parsed and
checked per version by ``core.config``); here they are bound to the versions of the app's
registry. The time is ``app.config["CLOCK"]()``, so tests set the clock instead of sleeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app

from api.representations import timestamp
from api.versioning.registry import Registry
from core.config import LIFECYCLE_SETTING, ConfigError, utc_now
from core.errors import DomainError

CURRENT, DEPRECATED, RETIRED = "current", "deprecated", "retired"


class VersionGone(DomainError):
    status = 410


@dataclass(frozen=True)
class Lifecycle:
    deprecated_at: datetime | None = None
    sunset_at: datetime | None = None
    brownouts: tuple[tuple[datetime, datetime], ...] = ()

    def status(self, now: datetime) -> str:
        if self.sunset_at is not None and now >= self.sunset_at:
            return RETIRED
        if self.deprecated_at is not None and now >= self.deprecated_at:
            return DEPRECATED
        return CURRENT

    def brownout(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The brownout window ``now`` falls in (start included, end excluded), if any."""
        for start, end in self.brownouts:
            if start <= now < end:
                return start, end
        return None

    @property
    def announced(self) -> bool:
        """Whether responses carry Deprecation (and Sunset, when set) headers."""
        return self.deprecated_at is not None


def load(config, registry: Registry) -> dict[str, Lifecycle]:
    """Each registered version's lifecycle; ConfigError for a setting naming no served version."""
    for name in config:
        match = LIFECYCLE_SETTING.match(name)
        if match and match.group(1) not in registry:
            served = ", ".join(registry.numbers)
            raise ConfigError(f"{name} names version {match.group(1)}; served versions: {served}")
    return {
        n: Lifecycle(
            config.get(f"V{n}_DEPRECATED_AT"),
            config.get(f"V{n}_SUNSET_AT"),
            tuple(config.get(f"V{n}_BROWNOUTS") or ()),
        )
        for n in registry.numbers
    }


def now() -> datetime:
    return current_app.config["CLOCK"]()


def of(number: str) -> Lifecycle:
    return current_app.extensions["api_lifecycle"][number]


def status(number: str) -> str:
    return of(number).status(now())


def check(number: str, app=None) -> None:
    """Raise 410 when ``number`` is retired or in a brownout window right now."""
    app = app or current_app
    lifecycle, moment = app.extensions["api_lifecycle"][number], app.config["CLOCK"]()
    if lifecycle.status(moment) == RETIRED:
        raise VersionGone(
            f"API version {number} was retired; use its successor", reason="version_retired"
        )
    window = lifecycle.brownout(moment)
    if window is not None:
        seconds = max(1, math.ceil((window[1] - moment).total_seconds()))
        raise VersionGone(
            f"API version {number} is browned out until {timestamp(window[1])}; "
            "move to its successor",
            reason="version_brownout",
            headers={"Retry-After": str(seconds)},
        )


def init_app(app: Flask, registry: Registry) -> None:
    app.config.setdefault("CLOCK", utc_now)
    app.extensions["api_lifecycle"] = load(app.config, registry)
