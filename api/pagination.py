"""Offset pagination shared by the list endpoints: fetch one row more than asked to learn
whether another page exists, without a count over the evidence store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, TypeVar

from fastapi import Query

T = TypeVar("T")

MAX_LIMIT = 5000
# Past PostgreSQL's bigint an offset is a server error, not an empty page; no list is this long.
MAX_OFFSET = 1_000_000_000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")]


def split_page(rows: Sequence[T], limit: int, offset: int) -> tuple[list[T], int | None]:
    """`rows` were fetched with `limit + 1`; returns the page and the next page's offset."""
    if len(rows) > limit:
        return list(rows[:limit]), offset + limit
    return list(rows), None


def page(rows: Sequence[T], limit: int, offset: int) -> tuple[list[T], int | None]:
    """A page of a list already in memory (the registry's lists are small: tens to thousands)."""
    return split_page(rows[offset : offset + limit + 1], limit, offset)
