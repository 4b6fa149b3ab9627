"""Offset pagination: fetch one row more than asked to learn whether another page exists,
without a count over the evidence store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def split_page(rows: Sequence[T], limit: int, offset: int) -> tuple[list[T], int | None]:
    """`rows` were fetched with `limit + 1`; returns the page and the next page's offset."""
    if len(rows) > limit:
        return list(rows[:limit]), offset + limit
    return list(rows), None


def page(rows: Sequence[T], limit: int, offset: int) -> tuple[list[T], int | None]:
    """A page of a list already in memory (the registry's lists are small: tens to thousands)."""
    return split_page(rows[offset : offset + limit + 1], limit, offset)
