"""The migration's TimescaleDB branch, on TimescaleDB compiled into PGlite (npm), over the wire.

The main suite runs on Debian's PostgreSQL, which has no TimescaleDB package; docker-compose
runs TimescaleDB. This checks the hypertable DDL that only compose would otherwise exercise.
PGlite's socket server cannot take COPY FROM STDIN, so rows go in with INSERT here.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from uuid import uuid4

import psycopg
import pytest
import sqlalchemy.exc

from core.migrate import downgrade, upgrade
from core.process import child_preexec, free_port
from core.settings import Settings
from ingest.store import EVENT_COLUMNS, ensure_partitions
from tests.support.paths import ROOT
from tests.support.servers import starts_servers

HARNESS = ROOT / "tests" / "ecm" / "timescaledb"
FILES = ("package.json", "package-lock.json", "server.mjs")


def _install(work: Path, npm: str) -> None:
    work.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy(HARNESS / name, work / name)
    lock = hashlib.sha256((HARNESS / "package-lock.json").read_bytes()).hexdigest()[:16]
    stamp = work / "node_modules" / f".installed-{lock}"
    if not stamp.exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=work,
            check=True,
            timeout=300,
        )
        stamp.touch()


@pytest.fixture(scope="module")
@starts_servers
def timescaledb() -> Iterator[Settings]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("needs node and npm to run TimescaleDB's PGlite build")
    work = ROOT / ".state" / "timescaledb-harness"
    _install(work, npm)
    port = free_port()
    server = subprocess.Popen(
        [node, str(work / "server.mjs"), str(port)],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=child_preexec(signal.SIGTERM),
    )
    assert server.stdout is not None
    assert server.stdout.readline().strip() == f"listening {port}"
    settings = Settings(
        env="test",
        database_url=f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres?sslmode=disable",
    )
    yield settings
    server.terminate()
    server.wait(timeout=30)


T = TypeVar("T")


def settled(step: Callable[[], T]) -> T:
    """Run a step that opens a connection, again if PGlite refused the connection.

    Its socket server detaches a closed connection asynchronously and drops one opened in that
    moment; nothing has run on such a connection, so running the step again is safe.
    """
    for attempt in range(10):
        try:
            return step()
        except (psycopg.OperationalError, sqlalchemy.exc.OperationalError) as exc:
            if "server closed the connection" not in str(exc) or attempt == 9:
                raise
            time.sleep(0.3)
    raise AssertionError("unreachable")


def connect(settings: Settings) -> psycopg.Connection:
    return settled(lambda: psycopg.connect(settings.database_url, autocommit=True))


def test_event_store_is_a_hypertable_on_device_time(timescaledb: Settings) -> None:
    settled(lambda: upgrade(timescaledb))
    with connect(timescaledb) as conn:
        dimensions = conn.execute(
            "select column_name, time_interval from timescaledb_information.dimensions "
            "where hypertable_name = 'device_event'"
        ).fetchall()
        partition_function = conn.execute(
            "select count(*) from pg_proc where proname = 'ecm_ensure_event_partitions'"
        ).fetchone()
        # Ingest's monthly partition upkeep is for plain PostgreSQL; here it has nothing to do.
        assert ensure_partitions(conn) is None
    assert [(column, str(interval)) for column, interval in dimensions] == [
        ("device_time", "1 day, 0:00:00")
    ]
    assert partition_function == (0,)


def test_hypertable_deduplicates_and_refuses_edits(timescaledb: Settings) -> None:
    settled(lambda: upgrade(timescaledb))
    event_id, device_time = uuid4(), datetime(2026, 3, 2, 7, 31, tzinfo=UTC)
    row = {column: None for column in EVENT_COLUMNS} | {
        "event_id": event_id,
        "device_time": device_time,
        "received_at": datetime.now(UTC),
        "device_id": "D1",
        "provider_id": "P1",
        "carer_id": "C1",
        "seq": 1,
        "event_type": "check_in",
        "protocol_version": 1,
        "topic": "ecm/v1/devices/D1/events",
        "raw_jws": "a.b.c",
        "claims": "{}",
        "evidence_level": "none",
        "late_arriving": False,
    }
    insert = (
        f"insert into device_event ({', '.join(EVENT_COLUMNS)}) "
        f"values ({', '.join('%(' + c + ')s' for c in EVENT_COLUMNS)}) on conflict do nothing"
    )
    with connect(timescaledb) as conn:
        inserted = [conn.execute(insert, row).rowcount for _ in range(2)]
        assert inserted == [1, 0]
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="evidence"):
            conn.execute("update device_event set carer_id = 'C2' where event_id = %s", (event_id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="evidence"):
            conn.execute("delete from device_event where event_id = %s", (event_id,))


def test_timescaledb_migrations_go_down_and_up_again(timescaledb: Settings) -> None:
    settled(lambda: upgrade(timescaledb))
    settled(lambda: downgrade(timescaledb, "base"))
    with connect(timescaledb) as conn:
        assert conn.execute("select to_regclass('device_event')").fetchone() == (None,)
    settled(lambda: upgrade(timescaledb))
    with connect(timescaledb) as conn:
        hypertables = conn.execute(
            "select hypertable_name from timescaledb_information.hypertables"
        ).fetchall()
    assert hypertables == [("device_event",)]
