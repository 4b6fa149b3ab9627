"""The tag taps ingest has accepted (table tag_tap), read and written inside the store
transaction; ingest/tag_counters.py judges each new tap against them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import psycopg

# uid, counter, device_time, event_id
TapRow = tuple[str, int, datetime, UUID]


def already_stored(
    conn: psycopg.Connection, event_ids: Sequence[UUID], device_times: Sequence[datetime]
) -> set[tuple[UUID, datetime]]:
    """Which of these (event id, device time) pairs are already in the event store."""
    rows = conn.execute(
        "select event_id, device_time from device_event "
        "where (event_id, device_time) in "
        "(select * from unnest(%s::uuid[], %s::timestamptz[]))",
        (list(event_ids), list(device_times)),
    ).fetchall()
    return {(row[0], row[1]) for row in rows}


def lock_tags(conn: psycopg.Connection, uids: list[str]) -> None:
    # Transaction-scoped, taken in UID order: a second worker with a tap of the same tag waits
    # here until the first commits, then sees its taps.
    conn.execute(
        "select pg_advisory_xact_lock(hashtextextended('ecm.tag:' || uid, 0)) "
        "from unnest(%s::text[]) with ordinality as t(uid, n) order by n",
        (uids,),
    )


def nearest_taps(
    conn: psycopg.Connection, uids: Sequence[str], counters: Sequence[int]
) -> list[TapRow]:
    """For each (uid, counter), the stored taps of that tag with the same counter and the
    nearest below and above."""
    rows: list[TapRow] = conn.execute(
        """
        select x.uid, x.counter, x.device_time, x.event_id
        from unnest(%s::text[], %s::int8[]) as t(uid, counter)
        cross join lateral (
            (select * from tag_tap s where s.uid = t.uid and s.counter = t.counter)
            union all
            (select * from tag_tap s where s.uid = t.uid and s.counter < t.counter
             order by s.counter desc limit 1)
            union all
            (select * from tag_tap s where s.uid = t.uid and s.counter > t.counter
             order by s.counter limit 1)
        ) as x
        """,
        (list(uids), list(counters)),
    ).fetchall()
    return rows


def record_taps(conn: psycopg.Connection, taps: Sequence[TapRow]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "insert into tag_tap (uid, counter, device_time, event_id) values (%s, %s, %s, %s)",
            taps,
        )
