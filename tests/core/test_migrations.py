"""The real migrations on a scratch database: partitioned evidence, clean down and up again."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from alembic.script import ScriptDirectory

from core.migrate import alembic_config, downgrade, upgrade
from core.settings import Settings
from tests.support.ids import unique


@pytest.fixture
def scratch(settings: Settings) -> Iterator[Settings]:
    name = unique("ecm_migrations_")
    admin_url = settings.database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    yield settings.model_copy(update={"database_url": admin_url.rsplit("/", 1)[0] + "/" + name})
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'drop database "{name}" with (force)')


def test_event_store_is_partitioned_by_device_time(scratch: Settings) -> None:
    upgrade(scratch)
    with psycopg.connect(scratch.database_url) as conn:
        key = conn.execute("select pg_get_partkeydef('device_event'::regclass)").fetchone()
        partitions = conn.execute(
            "select count(*) from pg_inherits where inhparent = 'device_event'::regclass"
        ).fetchone()
        default = conn.execute("select to_regclass('device_event_default')").fetchone()
    assert key == ("RANGE (device_time)",)
    assert partitions is not None and partitions[0] >= 49
    assert default == ("device_event_default",)


def test_migrations_go_down_and_up_again(scratch: Settings) -> None:
    upgrade(scratch)
    downgrade(scratch, "base")
    with psycopg.connect(scratch.database_url) as conn:
        assert conn.execute("select to_regclass('device_event')").fetchone() == (None,)
    upgrade(scratch)
    with psycopg.connect(scratch.database_url) as conn:
        version = conn.execute("select version_num from alembic_version").fetchone()
    # One linear history: a second head would make `ecm migrate` refuse to choose.
    head = ScriptDirectory.from_config(alembic_config(scratch)).get_heads()
    assert len(head) == 1
    assert version == (head[0],)
