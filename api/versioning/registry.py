"""What an API version is: its presenter, request schemas, behaviour flags and changes.

Each version is declared once, as a ``Version`` in its own package (``api/v1``, ``api/v2``),
and listed in ``api.versions.REGISTRY``. Everything that lists or describes versions reads a
``Registry``: routing, the directory, the OpenAPI documents, the docs page, lifecycle headers,
the changelog and the tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from api.versioning.presenter import Presenter

# Resources every version serves; a version may add more (e.g. "api_keys").
BASE_RESOURCES = frozenset({"health", "books", "auth"})
_VERSION_TEXT = re.compile(r"^v?(\d+)$")


@dataclass(frozen=True)
class Change:
    """One change from a version's predecessor, as Stripe's version change modules declare it.

    ``resource`` names the representation a shape change touches (``"book"``); ``downgrade``
    turns the new version's representation into the predecessor's (a v2 book into a v1 book)
    and ``upgrade`` the other way round, where that makes sense (input bodies).
    """

    description: str
    resource: str | None = None
    downgrade: Callable[[dict], dict] | None = None
    upgrade: Callable[[dict], dict] | None = None


@dataclass(frozen=True)
class Version:
    number: str
    presenter_class: type[Presenter]
    description: str
    predecessor: str | None = None
    changes: tuple[Change, ...] = ()
    # Behaviour flags, read by routes: never ``if version == ...``.
    strict_query: bool = True  # refuse unparseable query values (400) instead of defaulting
    rotate_refresh_tokens: bool = True
    resources: frozenset[str] = BASE_RESOURCES

    def __post_init__(self):
        if not self.number.isdigit() or self.number != str(int(self.number)) or self.number == "0":
            raise ValueError(f"a version number is a whole number, got {self.number!r}")

    @cached_property
    def presenter(self) -> Presenter:
        return self.presenter_class(self)

    def serves(self, resource: str) -> bool:
        return resource in self.resources

    def downgrade(self, resource: str, body: dict) -> dict:
        """``body`` (this version's ``resource``) as the predecessor represents it."""
        for change in reversed(self.changes):
            if change.resource == resource and change.downgrade is not None:
                body = change.downgrade(body)
        return body

    def upgrade(self, resource: str, body: dict) -> dict:
        """``body`` (the predecessor's ``resource``) as this version represents it."""
        for change in self.changes:
            if change.resource == resource and change.upgrade is not None:
                body = change.upgrade(body)
        return body


class Registry:
    """The versions an app serves, oldest first; each one's predecessor is the one before."""

    def __init__(self, versions: Iterable[Version]):
        ordered = tuple(sorted(versions, key=lambda v: int(v.number)))
        numbers = [v.number for v in ordered]
        if not ordered or len(set(numbers)) != len(numbers):
            raise ValueError(f"a registry needs distinct versions, got {numbers}")
        for previous, version in zip((None, *ordered), ordered, strict=False):
            expected = previous.number if previous else None
            if version.predecessor != expected:
                raise ValueError(
                    f"v{version.number} declares predecessor {version.predecessor!r}, "
                    f"but the version before it is {expected!r}"
                )
        self.versions = ordered
        self._by_number = {v.number: v for v in ordered}  # looked up on every request
        self._numbers = tuple(numbers)

    def __iter__(self) -> Iterator[Version]:
        return iter(self.versions)

    def __len__(self) -> int:
        return len(self.versions)

    def __contains__(self, number: object) -> bool:
        return number in self._by_number

    def __getitem__(self, number: str) -> Version:
        return self._by_number[number]

    @property
    def numbers(self) -> tuple[str, ...]:
        return self._numbers

    @property
    def latest(self) -> Version:
        return self.versions[-1]

    def extended(self, *versions: Version) -> Registry:
        """This registry plus ``versions`` (e.g. a test app serving an extra version)."""
        return Registry((*self.versions, *versions))

    def parse(self, value: str | None) -> str | None:
        """The version ``value`` names (``"2"``, ``"v2"``, ``" V2 "``), if served, else None."""
        number = version_number(value)
        return number if number in self.numbers else None


def changelog(registry: Registry, markdown: bool = False) -> list[str]:
    """Each version's declared changes from its predecessor, oldest version first; as the
    migration guide's tables when ``markdown``."""
    lines = []
    for version in registry:
        if markdown:
            if version.predecessor is not None:
                lines += [
                    f"<!-- changes:v{version.number}:start -->",
                    f"| change from v{version.predecessor} |",
                    "|---|",
                    *(f"| {change.description} |" for change in version.changes),
                    f"<!-- changes:v{version.number}:end -->",
                ]
            continue
        if version.predecessor is None:
            lines.append(f"v{version.number}: the first version. {version.description}")
            continue
        lines.append(f"v{version.number} (changes from v{version.predecessor}):")
        lines += [f"  - {change.description}" for change in version.changes]
    return lines


def version_number(value: str | None) -> str | None:
    """The number in a version string such as ``"v2"`` or ``" 1 "``, or None."""
    if value is None:
        return None
    match = _VERSION_TEXT.match(value.strip().lower())
    return match.group(1) if match else None
