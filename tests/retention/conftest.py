"""Fixtures of the retention tests: a database of each test's own."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine

from core.db import make_engine
from core.migrate import upgrade
from core.settings import Settings
from tests.support.ids import unique


@pytest.fixture
def scratch(settings: Settings) -> Iterator[Settings]:
    """A migrated database of this test's own."""
    name = unique("ecm_retention_")
    admin_url = settings.database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    scratch = settings.model_copy(update={"database_url": admin_url.rsplit("/", 1)[0] + "/" + name})
    upgrade(scratch)
    yield scratch
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'drop database "{name}" with (force)')


@pytest.fixture
def scratch_engine(scratch: Settings) -> Iterator[Engine]:
    engine = make_engine(scratch, "tests", pool_size=2)
    yield engine
    engine.dispose()
