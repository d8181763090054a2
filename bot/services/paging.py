"""Pages of a long list, for every list the dashboard shows (conversations, people, the
catalogue)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


def page_count(total: int, per_page: int) -> int:
    """How many pages `total` items fill (at least one, so an empty list has a page)."""
    return max(1, -(-total // per_page))


def clamp(page: int, total: int, per_page: int) -> int:
    """`page` brought within the pages there are."""
    return max(1, min(page, page_count(total, per_page)))


@dataclass
class Page(Generic[T]):
    """One page of a list, and how many items the whole list has."""

    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the whole list has (at least one)."""
        return page_count(self.total, self.per_page)
