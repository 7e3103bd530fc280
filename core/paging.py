"""The page object every list service returns; each API version presents it its own way."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Position:
    """A place in a sorted list: an item's sort key and id (keyset paging).

    ``backward`` reads the page that ends just before the position instead of the one that
    starts just after it.
    """

    key: object
    id: int
    backward: bool = False


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    # The page number; None for a page reached from a position (cursor).
    page: int | None
    per_page: int
    # Whether items exist after / before this page, when known from the query itself (a cursor
    # page, or a filtered total that was only counted up to a limit, and so is a lower bound);
    # None: derived from the total.
    more: bool | None = None
    earlier: bool | None = None
    # Where this page starts and ends, for cursors to the neighbouring pages.
    first: Position | None = None
    last: Position | None = None

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.per_page) if self.total else 0

    @property
    def last_page(self) -> int:
        """The last page number worth linking to (1 for an empty result)."""
        return max(self.total_pages, 1)

    @property
    def has_next(self) -> bool:
        if self.more is not None:
            return self.more
        return self.page is not None and self.page < self.total_pages

    @property
    def has_prev(self) -> bool:
        if self.earlier is not None:
            return self.earlier
        return self.page is not None and self.page > 1
