"""The house rules that are about where code lives (docs/architecture.md)."""

from __future__ import annotations

from tests.support.sql_scan import EXCEPTIONS, is_store, scan


def test_sql_is_written_only_in_repository_and_store_modules() -> None:
    counts = scan()
    outside = {f: n for f, n in counts.items() if not is_store(f) and f not in EXCEPTIONS}
    assert outside == {}, f"SQL outside a repository or store module: {outside}"


def test_every_exception_still_needs_its_place_on_the_list() -> None:
    # An exception whose SQL has moved comes off the list, so the list only shrinks.
    counts = scan()
    stale = sorted(f for f in EXCEPTIONS if counts.get(f, 0) == 0)
    assert stale == [], f"no SQL left in {stale}: remove them from EXCEPTIONS"
