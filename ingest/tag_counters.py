"""A tag's read counter must rise in the order its taps happened.

Every tap of an NTAG 424 DNA tag carries the tag's read counter, which the tag increments itself.
So among the accepted taps of one tag:
- the same counter twice is a replayed tap (copied into a new event) or a clone: refused as
  tag_counter_replayed;
- a counter that contradicts the taps' time order (a higher counter tapped earlier than a lower
  one, beyond the handsets' clock tolerance) is a tap held back and sent later as if it were new,
  or a clone: refused as tag_counter_out_of_order.
A genuine tap that merely arrives late (one carer's phone offline during a double-handed visit,
or two ingest workers committing out of arrival order) agrees with the time order and is
accepted: evidence is judged by when the taps happened, not by when the server heard of them.

The check is shared by every ingest worker, so it runs inside the store transaction under a
per-tag advisory lock taken in UID order (two workers cannot deadlock). A redelivered copy of an
event already stored (same event_id and device_time) is a duplicate, not a replay: it is left
for the store's ON CONFLICT to count, and its counter is not judged.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

import psycopg

from gateway.protocol import Rejection
from ingest import tag_store
from ingest.verify import QuarantineEntry, VerifiedEvent

DEFAULT_CLOCK_TOLERANCE = timedelta(seconds=120)
_EventKey = tuple[UUID, datetime]


@dataclass
class _TagHistory:
    """The neighbours a tap is judged against: stored taps nearest in counter, plus this batch's."""

    counters: list[int] = field(default_factory=list)
    times: dict[int, datetime] = field(default_factory=dict)
    events: dict[int, UUID] = field(default_factory=dict)

    def add(self, counter: int, at: datetime, event_id: UUID) -> None:
        if counter not in self.times:
            bisect.insort(self.counters, counter)
        self.times[counter] = at
        self.events[counter] = event_id

    def neighbours(self, counter: int) -> tuple[int | None, int | None]:
        i = bisect.bisect_left(self.counters, counter)
        below = self.counters[i - 1] if i > 0 else None
        j = bisect.bisect_right(self.counters, counter)
        above = self.counters[j] if j < len(self.counters) else None
        return below, above


def judge_taps(
    conn: psycopg.Connection,
    events: Sequence[VerifiedEvent],
    clock_tolerance: timedelta = DEFAULT_CLOCK_TOLERANCE,
) -> tuple[list[VerifiedEvent], list[QuarantineEntry]]:
    """The events to store and the taps refused. Call inside the store transaction."""
    taps = [e for e in events if e.evidence.tag_uid and e.evidence.tag_counter is not None]
    if not taps:
        return list(events), []
    stored = tag_store.already_stored(
        conn, [e.claims.event_id for e in taps], [e.claims.device_time for e in taps]
    )
    fresh: dict[_EventKey, VerifiedEvent] = {}
    for event in taps:
        key = (event.claims.event_id, event.claims.device_time)
        if key not in stored:
            fresh.setdefault(key, event)
    if not fresh:
        return list(events), []
    uids = sorted({str(e.evidence.tag_uid) for e in fresh.values()})
    tag_store.lock_tags(conn, uids)
    histories = _neighbours_stored(conn, list(fresh.values()))
    refused: dict[_EventKey, tuple[Rejection, str]] = {}
    accepted: list[VerifiedEvent] = []
    # Oldest first, so within one batch the earlier tap is the one that stands.
    for key, event in sorted(fresh.items(), key=lambda kv: (kv[1].claims.device_time, kv[0][0])):
        uid, counter = str(event.evidence.tag_uid), int(event.evidence.tag_counter or 0)
        at = event.claims.device_time
        history = histories.setdefault(uid, _TagHistory())
        verdict = _judge(uid, counter, at, history, clock_tolerance)
        if verdict is None:
            history.add(counter, at, event.claims.event_id)
            accepted.append(event)
        else:
            refused[key] = verdict
    if accepted:
        tag_store.record_taps(
            conn,
            [
                (
                    str(e.evidence.tag_uid),
                    int(e.evidence.tag_counter or 0),
                    e.claims.device_time,
                    e.claims.event_id,
                )
                for e in accepted
            ],
        )
    kept: list[VerifiedEvent] = []
    rejects: list[QuarantineEntry] = []
    for event in events:
        # Every copy of a refused event in the batch goes to quarantine; none is stored.
        verdict = refused.get((event.claims.event_id, event.claims.device_time))
        if verdict is None:
            kept.append(event)
            continue
        reason, detail = verdict
        rejects.append(
            QuarantineEntry(
                event.message, reason, detail, event.claims.device_id, event.claims.event_id
            )
        )
    return kept, rejects


def _key(event: VerifiedEvent) -> tuple[datetime, UUID]:
    return event.claims.device_time, event.claims.event_id


def _judge(
    uid: str, counter: int, at: datetime, history: _TagHistory, tolerance: timedelta
) -> tuple[Rejection, str] | None:
    if counter in history.times:
        return (
            Rejection.TAG_COUNTER_REPLAYED,
            f"tag {uid} read counter {counter} was already accepted "
            f"(event {history.events[counter]}): a replayed or cloned tap",
        )
    below, above = history.neighbours(counter)
    if below is not None and history.times[below] > at + tolerance:
        return (
            Rejection.TAG_COUNTER_OUT_OF_ORDER,
            f"tag {uid} read counter {counter} at {at.isoformat()} is above counter {below} "
            f"tapped later, at {history.times[below].isoformat()}: a held-back or cloned tap",
        )
    if above is not None and history.times[above] < at - tolerance:
        return (
            Rejection.TAG_COUNTER_OUT_OF_ORDER,
            f"tag {uid} read counter {counter} at {at.isoformat()} is below counter {above} "
            f"tapped earlier, at {history.times[above].isoformat()}: a held-back or cloned tap",
        )
    return None


def _neighbours_stored(
    conn: psycopg.Connection, taps: Sequence[VerifiedEvent]
) -> dict[str, _TagHistory]:
    """For each tap, the stored taps of its tag with the same counter and the nearest below and
    above: enough to judge it, as accepted taps already agree with each other's time order."""
    rows = tag_store.nearest_taps(
        conn,
        [str(e.evidence.tag_uid) for e in taps],
        [int(e.evidence.tag_counter or 0) for e in taps],
    )
    histories: dict[str, _TagHistory] = {}
    for uid, counter, device_time, event_id in rows:
        histories.setdefault(uid, _TagHistory()).add(counter, device_time, event_id)
    return histories
