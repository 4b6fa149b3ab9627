"""All SQL of the demo: what it reads back from the store to print (counts, the alerts it
replays, what each played anomaly came to). The demo owns its transactions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg
from sqlalchemy import Connection, text

from core.vocabulary import EvidenceLevel


def store_counts(db: psycopg.Connection) -> tuple[int, dict[str, int], dict[str, int]]:
    """Events stored, quarantined messages by reason, and stored events by evidence level
    (strongest first)."""
    stored = db.execute("select count(*) from device_event").fetchone()
    reasons = db.execute(
        "select reason, count(*) from quarantined_message group by reason order by reason"
    ).fetchall()
    levels: dict[str, int] = dict(
        db.execute("select evidence_level, count(*) from device_event group by 1").fetchall()
    )
    by_evidence = {level.value: levels[level] for level in EvidenceLevel if level in levels}
    return (stored[0] if stored else 0), dict(reasons), by_evidence


def notifications_after(conn: Connection, after: int) -> Sequence[Any]:
    """Alert notifications after id `after`: id, action, kind, visit_ref, provider_id,
    service_user_id, planned_start."""
    return conn.execute(
        text(
            "select n.id, n.action, a.kind, a.visit_ref, a.provider_id, "
            "a.service_user_id, a.planned_start from alert_notification n "
            "join visit_alert a on a.id = n.alert_id where n.id > :after order by n.id"
        ),
        {"after": after},
    ).all()


def quarantine_reasons(conn: Connection, event_ids: Sequence[str]) -> list[tuple[str, int]]:
    rows = conn.execute(
        text(
            "select reason, count(*) from quarantined_message "
            "where event_id = any(cast(:ids as uuid[])) group by reason order by reason"
        ),
        {"ids": list(event_ids)},
    )
    return [(row[0], row[1]) for row in rows]


def late_arriving(conn: Connection, event_ids: Sequence[str]) -> int:
    count: int = conn.execute(
        text(
            "select count(*) from device_event where event_id = any(cast(:ids as uuid[])) "
            "and late_arriving"
        ),
        {"ids": list(event_ids)},
    ).scalar_one()
    return count


def visit_of_played(
    conn: Connection, visit_ref: str, event_ids: Sequence[str]
) -> tuple[UUID, str] | None:
    """(id, status) of the visit holding the played events, else (nothing stored) of the
    planned one."""
    row = conn.execute(
        text(
            "select v.id, v.status, 0 as rank from visit v join visit_carer c "
            "on c.visit_id = v.id where c.check_in_event_id = any(cast(:ids as uuid[])) "
            "or c.check_out_event_id = any(cast(:ids as uuid[])) "
            "union all select v.id, v.status, 1 from visit v "
            "where v.planned_visit_ref = :ref order by rank limit 1"
        ),
        {"ref": visit_ref, "ids": list(event_ids)},
    ).first()
    return (row[0], row[1]) if row is not None else None


def anomaly_codes(conn: Connection, visit_id: UUID, carer_id: str) -> list[str]:
    rows = conn.execute(
        text(
            "select distinct code from visit_anomaly where visit_id = :v "
            "and (carer_id = :carer or carer_id is null) order by code"
        ),
        {"v": visit_id, "carer": carer_id},
    ).scalars()
    return list(rows)


def landline_counts(conn: Connection) -> tuple[int, int]:
    """Stored events with landline evidence, and visits verified by landline."""
    events, visits = conn.execute(
        text(
            "select (select count(*) from device_event where evidence_level = 'landline'), "
            "(select count(*) from visit where verification = 'landline')"
        )
    ).one()
    return int(events), int(visits)
