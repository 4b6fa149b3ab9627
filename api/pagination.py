"""Offset pagination of the list endpoints: `limit` and `offset` (core.pages splits the page)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from core.pages import page, split_page

__all__ = ["MAX_LIMIT", "MAX_OFFSET", "Limit", "Offset", "page", "split_page"]

MAX_LIMIT = 5000
# Past PostgreSQL's bigint an offset is a server error, not an empty page; no list is this long.
MAX_OFFSET = 1_000_000_000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")]
