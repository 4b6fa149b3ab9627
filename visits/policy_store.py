"""All SQL of the council thresholds (council_policy). Callers own the transaction."""

from __future__ import annotations

from datetime import time

from sqlalchemy import Connection, text


def council_policies(conn: Connection) -> list[tuple[str, int, time, int]]:
    """(council_id, late_after_minutes, missed_cutoff, correction_approval_minutes) of every
    council with thresholds of its own."""
    rows = conn.execute(
        text(
            "select council_id, late_after_minutes, missed_cutoff, correction_approval_minutes "
            "from council_policy"
        )
    )
    return [(row[0], row[1], row[2], row[3]) for row in rows]


def upsert_policy(
    conn: Connection,
    council_id: str,
    late_after_minutes: int,
    missed_cutoff: time,
    correction_approval_minutes: int,
) -> None:
    conn.execute(
        text(
            "insert into council_policy (council_id, late_after_minutes, missed_cutoff, "
            "correction_approval_minutes) values (:c, :late, :cutoff, :approval) "
            "on conflict (council_id) do update set late_after_minutes = excluded."
            "late_after_minutes, missed_cutoff = excluded.missed_cutoff, "
            "correction_approval_minutes = excluded.correction_approval_minutes"
        ),
        {
            "c": council_id,
            "late": late_after_minutes,
            "cutoff": missed_cutoff,
            "approval": correction_approval_minutes,
        },
    )
