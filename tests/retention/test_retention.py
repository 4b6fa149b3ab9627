"""The retention run, on a database of its own with an injected clock: it removes exactly what
each council's policy says is due, drops only whole months no kept record shares, pseudonymises
where records stay, and audits every purge; the event store refuses any other way to drop it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from api.audit import chain, checkpoints
from api.audit.trail import SystemAuditTrail
from core.settings import Settings
from retention import repository, runner
from retention.policy import RetentionPolicy
from retention.service import ACTOR
from tests.retention.world import (
    add_event,
    add_person,
    add_service_request,
    add_telephone_check_in,
    care_record_counts,
    count,
    make_world,
    month_start,
)
from tests.support.ids import unique

SHORT = RetentionPolicy(
    care_records_years=1,
    registry_personal_data_years=1,
    quarantine_raw_days=30,
    audit_years=1,
    login_attempt_days=30,
)
LONG = RetentionPolicy(
    care_records_years=20,
    registry_personal_data_years=20,
    quarantine_raw_days=60,
    audit_years=5,
    login_attempt_days=60,
)


def partition_of(engine: Engine, moment: datetime) -> str:
    return f"device_event_{moment:%Y_%m}"


def exists(engine: Engine, table: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("select to_regclass(:t)"), {"t": table}).scalar() is not None


def quarantine(engine: Engine, received_at: datetime) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    "insert into quarantined_message (received_at, topic, payload, reason, "
                    "detail) values (:at, 't', 'raw bytes', 'not_jws', 'x') returning id"
                ),
                {"at": received_at},
            ).scalar_one()
        )


def login_attempt(engine: Engine, at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into login_attempt (at, username, client_addr, succeeded) "
                "values (:at, 'someone', '10.0.0.1', false)"
            ),
            {"at": at},
        )


def test_retention_removes_exactly_what_each_councils_policy_says(
    scratch: Settings, scratch_engine: Engine, tmp_path: Path
) -> None:
    engine, settings = scratch_engine, scratch.model_copy(update={"audit_key_dir": tmp_path})
    real_now = datetime.now(UTC)
    month_1, month_2, month_3 = (
        month_start(real_now, 20) + timedelta(days=3, hours=9),
        month_start(real_now, 18) + timedelta(days=3, hours=9),
        month_start(real_now, 16) + timedelta(days=3, hours=9),
    )
    short_council, long_council = unique("CA"), unique("CB")
    world = make_world(engine, [short_council, long_council])
    with engine.begin() as conn:
        repository.save_policy(conn, short_council, SHORT, "test", real_now)
        repository.save_policy(conn, long_council, LONG, "test", real_now)
    # a1 alone in month 1; a2 (short policy) shares month 2 with b1 (long policy); month 3
    # holds only an event that names no service user.
    a1 = add_person(engine, world, short_council, month_1)
    a2 = add_person(engine, world, short_council, month_2)
    b1 = add_person(engine, world, long_council, month_2 + timedelta(days=1))
    with engine.begin() as conn:
        # a1 also checked in once by telephone from the home's landline, and came to the
        # provider through a service request that became a care package.
        add_telephone_check_in(conn, world, a1)
        add_service_request(conn, world, a1)
    with engine.begin() as conn:
        add_event(conn, world, None, month_3)
    at = real_now + timedelta(days=6 * 365)  # the injected clock: six years on
    old_quarantine, new_quarantine = quarantine(engine, real_now), quarantine(engine, at)
    login_attempt(engine, real_now)
    login_attempt(engine, at - timedelta(days=10))
    # Audit entries: three written now (older than the longest audit period, 5 years, at the
    # clock) and one a year before the clock (kept).
    with engine.begin() as conn:
        for n in range(3):
            chain.append_system(conn, actor="test", method="GET", path=f"/old/{n}")
        chain.append_system(
            conn, actor="test", method="GET", path="/kept", at=at - timedelta(days=365)
        )

    planned = runner.dry_run(engine, at)
    summary = {(a.kind, a.target): a.rows for a in planned.actions}
    assert summary == {
        ("event_slice", partition_of(engine, month_1)): 2,
        ("care_records", a1.service_user_id): 18,
        ("care_records", a2.service_user_id): 11,
        ("registry", a1.service_user_id): 1,
        ("registry", a2.service_user_id): 1,
        ("quarantine_payloads", "quarantined_message"): 1,
        ("login_attempts", "login_attempt"): 1,
        ("audit_entries", "audit_log"): 3,
    }
    # The dry run changed nothing.
    assert exists(engine, partition_of(engine, month_1))

    done = runner.run(engine, at, SystemAuditTrail(settings, ACTOR))

    with engine.connect() as conn:
        # Month 1 is gone with its sequence numbers and tag taps; months 2 and 3 stay whole.
        assert not exists(engine, partition_of(engine, month_1))
        assert exists(engine, partition_of(engine, month_2))
        assert exists(engine, partition_of(engine, month_3))
        assert count(conn, "device_event", "service_user_id = :su", su=a1.service_user_id) == 0
        for event_id in a1.event_ids:
            assert count(conn, "device_sequence", "event_id = :e", e=event_id) == 0
            assert count(conn, "tag_tap", "event_id = :e", e=event_id) == 0
        # a2's evidence stays (its month holds b1's), but names no one any more.
        assert count(conn, "device_event", "service_user_id = :su", su=a2.service_user_id) == 2
        assert count(conn, "device_sequence", "event_id = :e", e=a2.event_ids[0]) == 1
        assert count(conn, "device_event", "service_user_id is null") == 1
        assert count(conn, "telephony_call", "service_user_id = :su", su=a1.service_user_id) == 0
        assert count(conn, "telephony_event", "service_user_id = :su", su=a1.service_user_id) == 0
        for table in ("service_request", "care_package"):
            assert count(conn, table, "service_user_id = :su", su=a1.service_user_id) == 0
        # Care records: a1's and a2's gone, b1's all there.
        assert set(care_record_counts(conn, a1.service_user_id).values()) == {0}
        assert set(care_record_counts(conn, a2.service_user_id).values()) == {0}
        assert set(care_record_counts(conn, b1.service_user_id).values()) == {1}
        # Registry: a1 and a2 pseudonymised with their tag and fob keys wiped; b1 untouched.
        for person, pseudonymised in ((a1, True), (a2, True), (b1, False)):
            name, lat = conn.execute(
                text("select name, home_lat from service_user where id = :su"),
                {"su": person.service_user_id},
            ).one()
            keys = conn.execute(
                text("select keys_ciphertext from home_tag where service_user_id = :su"),
                {"su": person.service_user_id},
            ).scalar_one()
            assert (name == "pseudonymised") is pseudonymised
            assert (lat is None) is pseudonymised
            assert (bytes(keys) == b"") is pseudonymised
        assert count(conn, "carer", "pseudonymised_at is not null") == 0
        # Quarantine: the old message's bytes gone (hash kept), the recent one whole.
        old = conn.execute(
            text("select payload, payload_sha256 from quarantined_message where id = :id"),
            {"id": old_quarantine},
        ).one()
        assert bytes(old[0]) == b"" and len(old[1]) == 64
        recent = conn.execute(
            text("select payload from quarantined_message where id = :id"), {"id": new_quarantine}
        ).scalar_one()
        assert bytes(recent) == b"raw bytes"
        assert count(conn, "login_attempt", "true") == 1
        # Audit: the three old entries gone under a signed purge; the chain still verifies.
        assert count(conn, "audit_log", "path like '/old/%'") == 0
        assert count(conn, "audit_log", "path = '/kept'") == 1
        loaded = checkpoints.load(settings, conn)
        assert [c.kind for c in loaded.valid] == ["purge"] and not loaded.invalid
        verified = chain.verify(conn, checkpoints=loaded.valid)
        assert verified.intact, verified.first_break
        assert verified.first_id == 4
        # Every action is recorded and audited.
        purges = conn.execute(
            text("select kind, target, rows from retention_purge where run_id = :r"),
            {"r": done.run_id},
        ).all()
        assert {(kind, target): rows for kind, target, rows in purges} == summary
        audited = conn.execute(
            text("select path from audit_log where actor = :actor"), {"actor": ACTOR}
        ).all()
        assert {row[0] for row in audited} == {f"/retention/{k}/{t}" for k, t in summary}

    # Run again at the same moment: only the run's own audit entries (written now, so old at
    # the clock) are due.
    again = runner.dry_run(engine, at)
    assert {a.kind for a in again.actions} <= {"audit_entries"}


def test_nothing_is_due_under_the_default_policies_before_eight_years(
    scratch_engine: Engine,
) -> None:
    engine = scratch_engine
    real_now = datetime.now(UTC)
    council = unique("C")
    world = make_world(engine, [council])
    add_person(engine, world, council, month_start(real_now, 20))
    at = real_now + timedelta(days=5 * 365)
    planned = runner.dry_run(engine, at)
    assert planned.actions == [] or {a.kind for a in planned.actions} <= {
        "quarantine_payloads",
        "login_attempts",
    }


def test_only_the_retention_role_may_drop_or_delete_evidence(
    scratch: Settings, scratch_engine: Engine
) -> None:
    engine = scratch_engine
    real_now = datetime.now(UTC)
    world = make_world(engine, [unique("C")])
    old = month_start(real_now, 22) + timedelta(days=2)
    with engine.begin() as conn:
        add_event(conn, world, None, old)
        chain.append_system(conn, actor="test", method="GET", path="/something")
    table = partition_of(engine, old)
    # The database owner is refused too: by the event trigger (drop) and the row triggers.
    for statement in (
        f"drop table {table}",
        "drop table device_event",
        "delete from device_sequence",
        "delete from audit_log",
    ):
        with (
            psycopg.connect(scratch.database_url, autocommit=True) as conn,
            pytest.raises(psycopg.Error) as refused,
        ):
            conn.execute(statement)
        assert refused.value.sqlstate == "42501", statement
    # The retention role's own function refuses a slice with events after the cut-off.
    with engine.begin() as conn, pytest.raises(DBAPIError) as refused_drop:
        repository.act_as_retention_role(conn)
        repository.drop_partition(conn, table, old - timedelta(days=1))
    assert "after the cut-off" in str(refused_drop.value)
    # The API's role cannot call it at all.
    with (
        psycopg.connect(scratch.api_sqlalchemy_url.replace("+psycopg", "")) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("select ecm_retention_drop_event_partition(%s::regclass, now())", (table,))
    assert exists(engine, table)
    with engine.connect() as conn:
        assert count(conn, "device_event", "true") == 1
