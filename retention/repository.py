"""All SQL of the retention run and the retention policies. Callers own the transaction; the
statements that remove or change records run as the database role `ecm_retention`, the only
role the append-only triggers let delete (migration 0012_security)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from retention.policy import DEFAULT_POLICY, RetentionPolicy

RETENTION_ROLE = "ecm_retention"
PSEUDONYM = "pseudonymised"


def act_as_retention_role(conn: Connection) -> None:
    """Until the transaction ends, act as the retention role (the caller, the database owner,
    is a member): what it may delete is exactly what the grants and triggers allow it."""
    conn.execute(text(f"set local role {RETENTION_ROLE}"))


# Policies ----------------------------------------------------------------------------------------

_POLICY_COLUMNS = tuple(RetentionPolicy.model_fields)


def policies(conn: Connection) -> dict[str, RetentionPolicy]:
    """Every council's policy: its own row, else the defaults."""
    rows = conn.execute(
        text(
            f"select c.id, {', '.join('p.' + c for c in _POLICY_COLUMNS)} from council c "
            "left join retention_policy p on p.council_id = c.id order by c.id"
        )
    ).all()
    found: dict[str, RetentionPolicy] = {}
    for council_id, *values in rows:
        if values[0] is None:
            found[council_id] = DEFAULT_POLICY
        else:
            found[council_id] = RetentionPolicy(**dict(zip(_POLICY_COLUMNS, values, strict=True)))
    return found


def council_exists(conn: Connection, council_id: str) -> bool:
    found = conn.execute(text("select 1 from council where id = :c"), {"c": council_id}).first()
    return found is not None


def save_policy(
    conn: Connection, council_id: str, policy: RetentionPolicy, updated_by: str, at: datetime
) -> None:
    assignments = ", ".join(f"{c} = excluded.{c}" for c in _POLICY_COLUMNS)
    conn.execute(
        text(
            f"insert into retention_policy (council_id, {', '.join(_POLICY_COLUMNS)}, "
            f"updated_by, updated_at) values (:council_id, "
            f"{', '.join(':' + c for c in _POLICY_COLUMNS)}, :by, :at) "
            f"on conflict (council_id) do update set {assignments}, "
            "updated_by = excluded.updated_by, updated_at = excluded.updated_at"
        ),
        {"council_id": council_id, **policy.model_dump(), "by": updated_by, "at": at},
    )


# When care ended ---------------------------------------------------------------------------------


# When a person's care ended: their latest evidence, planned visit, visit or the end of a care
# package, else when they were registered (care still planned makes it a moment in the future).
CARE_ENDED = """
select coalesce(greatest(
    (select max(e.device_time) from device_event e where e.service_user_id = su.id),
    (select max(v.planned_start + make_interval(mins => v.planned_minutes))
     from planned_visit_version v where v.service_user_id = su.id),
    (select max(coalesce(w.check_out, w.check_in, w.planned_start))
     from visit w where w.home_key = su.id),
    (select max(p.planned_until)::timestamptz + interval '1 day'
     from care_package p where p.service_user_id = su.id)
), su.created_at) as at
"""


def care_ended(conn: Connection, service_user_id: str) -> datetime | None:
    value = conn.execute(
        text(
            f"select ended.at from service_user su cross join lateral ({CARE_ENDED}) ended "
            "where su.id = :su"
        ),
        {"su": service_user_id},
    ).scalar_one_or_none()
    return value


def load_people(conn: Connection, defaults: RetentionPolicy) -> None:
    """A temporary table of every service user with the day their care ended (their latest
    evidence, planned visit or visit, else when they were registered) and the moments their
    care records and their registry entry are due under their council's policy."""
    conn.execute(text("drop table if exists retention_person"))
    conn.execute(
        text(
            f"""
            create temp table retention_person on commit drop as
            select su.id as service_user_id, su.council_id, su.pseudonymised_at,
                   su.records_purged_at, ended.at as care_ended,
                   ended.at + make_interval(
                       years => coalesce(p.care_records_years, :care)) as records_until,
                   ended.at + make_interval(
                       years => coalesce(p.registry_personal_data_years, :registry))
                       as registry_until
            from service_user su
            left join retention_policy p on p.council_id = su.council_id
            cross join lateral ({CARE_ENDED}) ended
            """
        ),
        {
            "care": defaults.care_records_years,
            "registry": defaults.registry_personal_data_years,
        },
    )
    conn.execute(text("create unique index on retention_person (service_user_id)"))
    conn.execute(text("analyze retention_person"))


@dataclass(frozen=True)
class Person:
    service_user_id: str
    council_id: str | None
    care_ended: datetime
    until: datetime


def people_records_due(conn: Connection, now: datetime) -> list[Person]:
    rows = conn.execute(
        text(
            "select service_user_id, council_id, care_ended, records_until from retention_person "
            "where records_until < :now and records_purged_at is null order by service_user_id"
        ),
        {"now": now},
    ).all()
    return [Person(*row) for row in rows]


def people_registry_due(conn: Connection, now: datetime) -> list[Person]:
    rows = conn.execute(
        text(
            "select service_user_id, council_id, care_ended, registry_until "
            "from retention_person where registry_until < :now and pseudonymised_at is null "
            "order by service_user_id"
        ),
        {"now": now},
    ).all()
    return [Person(*row) for row in rows]


def person(conn: Connection, service_user_id: str) -> Person | None:
    row = conn.execute(
        text(
            "select service_user_id, council_id, care_ended, records_until from retention_person "
            "where service_user_id = :su"
        ),
        {"su": service_user_id},
    ).first()
    return Person(*row) if row else None


# The event store: whole partitions (or TimescaleDB chunks) --------------------------------------


@dataclass(frozen=True)
class EventSlice:
    """A partition or chunk of device_event: its table and the device times it holds."""

    table: str
    starts: datetime
    ends: datetime


_BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


def is_hypertable(conn: Connection) -> bool:
    found = conn.execute(text("select 1 from pg_extension where extname = 'timescaledb'")).first()
    return found is not None


def event_slices(conn: Connection) -> list[EventSlice]:
    """Every time slice of the event store, oldest first (not the default partition)."""
    if is_hypertable(conn):
        rows = conn.execute(
            text(
                "select format('%I.%I', chunk_schema, chunk_name), range_start, range_end "
                "from timescaledb_information.chunks where hypertable_name = 'device_event' "
                "order by range_start"
            )
        ).all()
        return [EventSlice(*row) for row in rows]
    rows = conn.execute(
        text(
            "select c.oid::regclass::text, pg_get_expr(c.relpartbound, c.oid) "
            "from pg_inherits i join pg_class c on c.oid = i.inhrelid "
            "where i.inhparent = 'device_event'::regclass"
        )
    ).all()
    slices = []
    for table, bound in rows:
        match = _BOUND.search(bound or "")
        if match:
            slices.append(
                EventSlice(
                    table,
                    datetime.fromisoformat(match.group(1)),
                    datetime.fromisoformat(match.group(2)),
                )
            )
    return sorted(slices, key=lambda s: s.starts)


# Slices are read through device_event with their time range (the planner reads only that
# slice), so no privilege is needed on partitions created after the migration.
_IN_SLICE = "e.device_time >= :starts and e.device_time < :ends"


def _range(piece: EventSlice) -> dict[str, datetime]:
    return {"starts": piece.starts, "ends": piece.ends}


def slice_events(conn: Connection, piece: EventSlice) -> tuple[int, datetime | None]:
    count, newest = conn.execute(
        text(f"select count(*), max(e.device_time) from device_event e where {_IN_SLICE}"),
        _range(piece),
    ).one()
    return int(count), newest


def slice_keeps_records(
    conn: Connection, piece: EventSlice, now: datetime, unnamed_years: int
) -> bool:
    """Whether any event in the slice is still a care record someone must keep: its service
    user's records are not yet due, or (naming no known service user) it is younger than the
    longest care-record period."""
    return bool(
        conn.execute(
            text(
                f"select exists (select 1 from device_event e "
                "left join retention_person r on r.service_user_id = e.service_user_id "
                f"where {_IN_SLICE} and coalesce(r.records_until, "
                "e.device_time + make_interval(years => :years)) >= :now)"
            ),
            {**_range(piece), "now": now, "years": unnamed_years},
        ).scalar_one()
    )


def delete_slice_side_tables(conn: Connection, piece: EventSlice) -> dict[str, int]:
    """The per-event rows that live outside the event store: sequence numbers and tag taps."""
    sequences = conn.execute(
        text(
            f"delete from device_sequence s using device_event e where {_IN_SLICE} "
            "and s.device_id = e.device_id and s.seq = e.seq and s.event_id = e.event_id"
        ),
        _range(piece),
    ).rowcount
    taps = conn.execute(
        text(
            f"delete from tag_tap t using device_event e where {_IN_SLICE} "
            "and t.uid = e.tag_uid and t.counter = e.tag_counter and t.event_id = e.event_id"
        ),
        _range(piece),
    ).rowcount
    return {"device_sequence": sequences, "tag_tap": taps}


def drop_partition(conn: Connection, table: str, cutoff: datetime) -> int:
    return int(
        conn.execute(
            text("select ecm_retention_drop_event_partition(cast(:t as regclass), :cutoff)"),
            {"t": table, "cutoff": cutoff},
        ).scalar_one()
    )


def drop_chunks_before(conn: Connection, older_than: datetime) -> int:
    return int(
        conn.execute(
            text("select ecm_retention_drop_event_chunks(:older_than)"), {"older_than": older_than}
        ).scalar_one()
    )


# One person's care records -----------------------------------------------------------------------

_ALERTS = "select id from visit_alert where service_user_id = :su"
_NOTIFICATIONS = f"select id from alert_notification where alert_id in ({_ALERTS})"
_DELIVERIES = f"select id from webhook_delivery where notification_id in ({_NOTIFICATIONS})"
_VISITS = "select id from visit where home_key = :su and service_user_id = :su"

_CALLS = "select call_sid from telephony_call where service_user_id = :su"
_REQUESTS = "select id from service_request where service_user_id = :su"
_REQUEST_NOTIFICATIONS = f"select id from request_notification where request_id in ({_REQUESTS})"
_REQUEST_DELIVERIES = (
    f"select id from request_webhook_delivery where notification_id in ({_REQUEST_NOTIFICATIONS})"
)
_PACKAGES = "select id from care_package where service_user_id = :su"

# In dependency order: each statement removes what refers to the next one's rows.
CARE_RECORD_STATEMENTS: tuple[tuple[str, str], ...] = (
    # Telephone check-ins from the home's landline (docs/telephony.md).
    ("telephony_request", f"from telephony_request where call_sid in ({_CALLS})"),
    ("telephony_pin_attempt", f"from telephony_pin_attempt where call_sid in ({_CALLS})"),
    (
        "telephony_event",
        f"from telephony_event where service_user_id = :su or call_sid in ({_CALLS})",
    ),
    ("telephony_call", "from telephony_call where service_user_id = :su"),
    # Service requests and the care packages they became (docs/service-requests.md).
    (
        "request_webhook_attempt",
        f"from request_webhook_attempt where delivery_id in ({_REQUEST_DELIVERIES})",
    ),
    (
        "request_webhook_delivery",
        f"from request_webhook_delivery where notification_id in ({_REQUEST_NOTIFICATIONS})",
    ),
    ("request_notification", f"from request_notification where request_id in ({_REQUESTS})"),
    ("service_request_event", f"from service_request_event where request_id in ({_REQUESTS})"),
    ("care_package_version", f"from care_package_version where package_id in ({_PACKAGES})"),
    ("care_package", "from care_package where service_user_id = :su"),
    ("service_offer", f"from service_offer where request_id in ({_REQUESTS})"),
    ("service_request", "from service_request where service_user_id = :su"),
    # Visits recorded by hand for a missed or late alert, and each action on the alerts.
    ("manual_visit", "from manual_visit where service_user_id = :su"),
    ("alert_action", f"from alert_action where alert_id in ({_ALERTS})"),
    ("webhook_attempt", f"from webhook_attempt where delivery_id in ({_DELIVERIES})"),
    ("webhook_delivery", f"from webhook_delivery where notification_id in ({_NOTIFICATIONS})"),
    ("alert_notification", f"from alert_notification where alert_id in ({_ALERTS})"),
    ("visit_alert", "from visit_alert where service_user_id = :su"),
    (
        "visit_correction",
        f"from visit_correction where service_user_id = :su or visit_id in ({_VISITS})",
    ),
    ("visit_anomaly", f"from visit_anomaly where visit_id in ({_VISITS})"),
    ("visit_carer", f"from visit_carer where visit_id in ({_VISITS})"),
    ("visit", "from visit where home_key = :su and service_user_id = :su"),
    ("planned_visit_version", "from planned_visit_version where service_user_id = :su"),
)


def count_care_records(conn: Connection, service_user_id: str) -> dict[str, int]:
    return {
        table: int(
            conn.execute(text(f"select count(*) {where}"), {"su": service_user_id}).scalar_one()
        )
        for table, where in CARE_RECORD_STATEMENTS
    }


def delete_care_records(conn: Connection, service_user_id: str, at: datetime) -> dict[str, int]:
    removed = {
        table: conn.execute(text(f"delete {where}"), {"su": service_user_id}).rowcount
        for table, where in CARE_RECORD_STATEMENTS
    }
    conn.execute(
        text("update service_user set records_purged_at = :at where id = :su"),
        {"at": at, "su": service_user_id},
    )
    return removed


def pseudonymise_service_user(
    conn: Connection, service_user_id: str, at: datetime
) -> dict[str, int]:
    """Name, address, home location, landline and tag go; the id stays, so kept records still
    join up."""
    changed = conn.execute(
        text(
            "update service_user set name = :pseudonym, address = null, home_lat = null, "
            "home_lon = null, home_tag_uid = null, landline = null, pseudonymised_at = :at "
            "where id = :su"
        ),
        {"pseudonym": PSEUDONYM, "at": at, "su": service_user_id},
    ).rowcount
    tags = conn.execute(
        text(
            "update home_tag set retired_at = coalesce(retired_at, :at), "
            "keys_wrapped_key = ''::bytea, keys_ciphertext = ''::bytea "
            "where service_user_id = :su and keys_ciphertext <> ''::bytea"
        ),
        {"at": at, "su": service_user_id},
    ).rowcount
    fobs = conn.execute(
        text(
            "update home_code_device set retired_at = coalesce(retired_at, :at), "
            "secret_wrapped_key = ''::bytea, secret_ciphertext = ''::bytea "
            "where service_user_id = :su and secret_ciphertext <> ''::bytea"
        ),
        {"at": at, "su": service_user_id},
    ).rowcount
    return {"service_user": changed, "home_tag": tags, "home_code_device": fobs}


# Carers ------------------------------------------------------------------------------------------


def carers_due(conn: Connection, before: datetime) -> list[str]:
    """Carers not yet pseudonymised whose last visit (or registration) is before `before`."""
    rows = conn.execute(
        text(
            "select c.id from carer c where c.pseudonymised_at is null and coalesce("
            "(select max(vc.check_in) from visit_carer vc where vc.carer_id = c.id), "
            "c.created_at) < :before "
            "order by c.id"
        ),
        {"before": before},
    ).all()
    return [row[0] for row in rows]


def pseudonymise_carer(conn: Connection, carer_id: str, at: datetime) -> int:
    return conn.execute(
        text("update carer set name = :pseudonym, pseudonymised_at = :at where id = :id"),
        {"pseudonym": PSEUDONYM, "at": at, "id": carer_id},
    ).rowcount


# Deployment-wide records -------------------------------------------------------------------------


def count_quarantine_payloads(conn: Connection, before: datetime) -> int:
    return int(
        conn.execute(
            text(
                "select count(*) from quarantined_message "
                "where received_at < :before and payload_purged_at is null"
            ),
            {"before": before},
        ).scalar_one()
    )


def purge_quarantine_payloads(conn: Connection, before: datetime, at: datetime) -> int:
    """The raw bytes go; their SHA-256, the reason and the times stay."""
    return conn.execute(
        text(
            "update quarantined_message set payload_sha256 = encode(sha256(payload), 'hex'), "
            "payload = ''::bytea, payload_purged_at = :at "
            "where received_at < :before and payload_purged_at is null"
        ),
        {"before": before, "at": at},
    ).rowcount


def count_login_attempts(conn: Connection, before: datetime) -> int:
    """Sign-in attempts and telephone PIN attempts (the caller's number) older than `before`."""
    return int(
        conn.execute(
            text(
                "select (select count(*) from login_attempt where at < :before) + "
                "(select count(*) from telephony_pin_attempt where at < :before)"
            ),
            {"before": before},
        ).scalar_one()
    )


def delete_login_attempts(conn: Connection, before: datetime) -> int:
    logins = conn.execute(
        text("delete from login_attempt where at < :before"), {"before": before}
    ).rowcount
    pins = conn.execute(
        text("delete from telephony_pin_attempt where at < :before"), {"before": before}
    ).rowcount
    return logins + pins


def audit_entries_before(conn: Connection, before: datetime) -> tuple[int, int] | None:
    """The first and last id of the oldest entries, those older than `before`."""
    first, last = conn.execute(
        text("select min(id), max(id) from audit_log where at < :before"), {"before": before}
    ).one()
    return (int(first), int(last)) if last is not None else None


def record_purge(
    conn: Connection,
    run_id: str,
    at: datetime,
    kind: str,
    target: str,
    rows: int,
    detail: dict[str, Any],
) -> None:
    conn.execute(
        text(
            "insert into retention_purge (run_id, at, kind, target, rows, detail) "
            "values (:run, :at, :kind, :target, :rows, cast(:detail as jsonb))"
        ),
        {
            "run": run_id,
            "at": at,
            "kind": kind,
            "target": target,
            "rows": rows,
            "detail": _json(detail),
        },
    )


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, default=str)
