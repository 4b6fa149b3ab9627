"""A tag's read counter must rise: a repeated or lower counter is a replayed or cloned tap.

The check is stateful and shared by every ingest worker, so it runs inside the store
transaction: each batch locks the tag_counter rows of the tags it carries (in UID order, so two
workers cannot deadlock), judges its taps in counter order, and moves the counters on. A second
worker with a tap of the same tag waits for the first to commit and then sees its counter.

A redelivered copy of an event already stored (same event_id and device_time) is a duplicate,
not a replay: it is left for the store's ON CONFLICT to count, and its counter is not judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import psycopg

from gateway.protocol import Rejection
from ingest.verify import QuarantineEntry, VerifiedEvent

_NO_EVENT = UUID(int=0)


def judge_taps(
    conn: psycopg.Connection, events: Sequence[VerifiedEvent]
) -> tuple[list[VerifiedEvent], list[QuarantineEntry]]:
    """The events to store and the taps refused as replays. Call inside the store transaction."""
    taps = [e for e in events if e.evidence.tag_uid and e.evidence.tag_counter is not None]
    if not taps:
        return list(events), []
    stored = _already_stored(conn, taps)
    fresh: list[VerifiedEvent] = []
    seen: set[tuple[UUID, object]] = set()
    for event in taps:
        key = (event.claims.event_id, event.claims.device_time)
        if key not in stored and key not in seen:
            seen.add(key)
            fresh.append(event)
    if not fresh:
        return list(events), []
    uids = sorted({str(e.evidence.tag_uid) for e in fresh})
    last = _lock_counters(conn, uids)
    refused: dict[tuple[UUID, object], str] = {}
    moved: dict[str, tuple[int, UUID]] = {}
    for event in sorted(fresh, key=lambda e: (str(e.evidence.tag_uid), e.evidence.tag_counter)):
        uid, counter = str(event.evidence.tag_uid), int(event.evidence.tag_counter or 0)
        previous, previous_event = moved.get(uid) or last[uid]
        if counter <= previous:
            refused[(event.claims.event_id, event.claims.device_time)] = (
                f"tag {uid} read counter {counter} is not above {previous} "
                f"(event {previous_event}): a replayed or cloned tap"
            )
        else:
            moved[uid] = (counter, event.claims.event_id)
    if moved:
        with conn.cursor() as cur:
            cur.executemany(
                "update tag_counter set last_counter = %s, last_event_id = %s, "
                "updated_at = now() where uid = %s",
                [(counter, event_id, uid) for uid, (counter, event_id) in moved.items()],
            )
    kept: list[VerifiedEvent] = []
    rejects: list[QuarantineEntry] = []
    for event in events:
        # Every copy of a refused event in the batch goes to quarantine; none is stored.
        detail = refused.get((event.claims.event_id, event.claims.device_time))
        if detail is None or event.evidence.tag_counter is None:
            kept.append(event)
            continue
        rejects.append(
            QuarantineEntry(
                event.message,
                Rejection.TAG_COUNTER_REPLAYED,
                detail,
                event.claims.device_id,
                event.claims.event_id,
            )
        )
    return kept, rejects


def _already_stored(
    conn: psycopg.Connection, taps: Sequence[VerifiedEvent]
) -> set[tuple[UUID, object]]:
    rows = conn.execute(
        "select event_id, device_time from device_event "
        "where (event_id, device_time) in "
        "(select * from unnest(%s::uuid[], %s::timestamptz[]))",
        ([e.claims.event_id for e in taps], [e.claims.device_time for e in taps]),
    ).fetchall()
    return {(row[0], row[1]) for row in rows}


def _lock_counters(conn: psycopg.Connection, uids: list[str]) -> dict[str, tuple[int, UUID]]:
    # A tag never seen starts below any real counter; the row exists from now on, so the
    # lock below serialises every worker on it.
    conn.execute(
        "insert into tag_counter (uid, last_counter, last_event_id) "
        "select uid, -1, %s from unnest(%s::text[]) as uid order by uid on conflict do nothing",
        (_NO_EVENT, uids),
    )
    rows = conn.execute(
        "select uid, last_counter, last_event_id from tag_counter where uid = any(%s) "
        "order by uid for update",
        (uids,),
    ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}
