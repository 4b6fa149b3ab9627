"""Clock rules: tell a handset whose clock is wrong from one that was offline.

Both times are kept on every event: device_time (signed by the handset) and received_at
(stamped by ingest). An event whose device time is ahead of the receive time beyond the
tolerance cannot be true and is quarantined as `clock_skew`. An old event is normally a
handset that was offline: it is stored and marked late-arriving. A clock set back looks the
same from the device time alone, so a handset may also send its clock at transmission (the
`sent-at` user property): a sent-at far from the receive time is `clock_skew` too.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from gateway.protocol import Rejection
from ingest.verify import QuarantineEntry, VerifiedEvent

SENT_AT_PROPERTY = "sent-at"


def apply_clock_rules(
    event: VerifiedEvent, *, skew_tolerance_s: float, late_after_s: float
) -> VerifiedEvent | QuarantineEntry:
    message = event.message
    claims = event.claims
    ahead_s = (claims.device_time - message.received_at).total_seconds()
    if ahead_s > skew_tolerance_s:
        return _skew(
            event,
            f"device time is {ahead_s:.0f} s ahead of receive time "
            f"(tolerance {skew_tolerance_s:.0f} s)",
        )
    if message.sent_at is not None:
        offset_s = (message.sent_at - message.received_at).total_seconds()
        if abs(offset_s) > skew_tolerance_s:
            direction = "ahead of" if offset_s > 0 else "behind"
            return _skew(
                event,
                f"handset clock at transmission (sent-at) is {abs(offset_s):.0f} s {direction} "
                f"receive time (tolerance {skew_tolerance_s:.0f} s)",
            )
    if -ahead_s > late_after_s:
        return replace(event, evidence=replace(event.evidence, late_arriving=True))
    return event


def parse_sent_at(value: str) -> datetime | None:
    """The user property's time, or None when absent or unreadable (it is advisory, unsigned)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    return parsed


def _skew(event: VerifiedEvent, detail: str) -> QuarantineEntry:
    claims = event.claims
    return QuarantineEntry(
        event.message, Rejection.CLOCK_SKEW, detail, claims.device_id, claims.event_id
    )
