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
from datetime import UTC, datetime, timedelta
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


def test_retention_drops_whole_chunks_on_the_hypertable(
    timescaledb: Settings, tmp_path: Path
) -> None:
    """The retention run's TimescaleDB branch: chunks go oldest first, up to the first chunk
    that still holds a kept record, through the retention role's drop_chunks function."""
    from api.audit.trail import SystemAuditTrail
    from core.db import make_engine
    from retention import repository, runner
    from retention.policy import RetentionPolicy
    from retention.service import ACTOR

    settled(lambda: upgrade(timescaledb))
    now = datetime.now(UTC)
    short, long = RetentionPolicy(care_records_years=1), RetentionPolicy(care_records_years=20)
    old, kept = now.replace(microsecond=0) - timedelta(days=800), now - timedelta(days=790)
    with connect(timescaledb) as conn:
        for council, policy in (("C-SHORT", short), ("C-LONG", long)):
            conn.execute("insert into council (id, name) values (%s, 'x')", (council,))
            conn.execute(
                "insert into retention_policy (council_id, care_records_years, "
                "registry_personal_data_years, quarantine_raw_days, audit_years, "
                "login_attempt_days, updated_by) values (%s, %s, 8, 90, 8, 90, 'test')",
                (council, policy.care_records_years),
            )
        for su, council in (("SU-GONE", "C-SHORT"), ("SU-KEPT", "C-LONG")):
            conn.execute(
                "insert into service_user (id, name, council_id) values (%s, 'x', %s)",
                (su, council),
            )
        for n, (su, at) in enumerate((("SU-GONE", old), ("SU-KEPT", kept)), start=1):
            event_id = uuid4()
            conn.execute(
                f"insert into device_event ({', '.join(EVENT_COLUMNS)}) "
                f"values ({', '.join(['%s'] * len(EVENT_COLUMNS))})",
                [
                    {
                        "event_id": event_id, "device_time": at, "received_at": at,
                        "device_id": "D1", "provider_id": "P1", "carer_id": "C1",
                        "service_user_id": su, "seq": n, "event_type": "check_in",
                        "protocol_version": 1, "topic": "t", "raw_jws": "a.b.c", "claims": "{}",
                        "evidence_level": "none", "late_arriving": False,
                    }.get(column)
                    for column in EVENT_COLUMNS
                ],
            )  # fmt: skip
            conn.execute(
                "insert into device_sequence (device_id, seq, event_id) values ('D1', %s, %s)",
                (n, event_id),
            )
    engine = make_engine(timescaledb, "tests", pool_size=1)
    try:
        planned = settled(lambda: runner.dry_run(engine, now))
        slices = [a for a in planned.actions if a.kind == "event_slice"]
        assert [a.rows for a in slices] == [1]
        with engine.connect() as conn:
            assert repository.is_hypertable(conn)
        audit = SystemAuditTrail(timescaledb.model_copy(update={"audit_key_dir": tmp_path}), ACTOR)
        settled(lambda: runner.run(engine, now, audit))
    finally:
        engine.dispose()
    with connect(timescaledb) as conn:
        left = conn.execute("select service_user_id from device_event").fetchall()
        sequences = conn.execute("select count(*) from device_sequence").fetchone()
    assert left == [("SU-KEPT",)]
    assert sequences == (1,)
