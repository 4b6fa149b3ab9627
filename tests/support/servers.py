"""Fixtures that start real servers say so; the tests that use them are marked integration.

`@starts_servers` goes under `@pytest.fixture` on every fixture that starts PostgreSQL, Mosquitto
or another real server (tests/conftest.py's `stack`, the TimescaleDB harness, `ecm services up`).
tests/conftest.py marks each test whose fixtures include one, however indirectly, so
`pytest -m "not integration"` (make test-fast) runs exactly the tests that need no servers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

F = TypeVar("F", bound=Callable[..., Any])
FLAG = "_ecm_starts_servers"


def starts_servers(fixture: F) -> F:
    setattr(fixture, FLAG, True)
    return fixture


def needs_servers(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        getattr(definition.func, FLAG, False)
        for definitions in info.name2fixturedefs.values()
        for definition in definitions
    )
