"""Visit maintenance: a provider corrects a carer's stay; the evidence is never touched.

A correction stands beside the device events: it names the stay (by its anchor event), the new
check-in and/or check-out, a reason code and a note, who asked and when, and the stay's times
before and after. The builder shows corrected times (verification `manual`) once the correction
counts: at once when it moves times by no more than the council's threshold, otherwise only
after the council approves it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from core.settings import Settings
from visits import correction_store
from visits.policy import load_policies

REASON_CODES = {
    "forgot_check_out": "The carer left without checking out.",
    "forgot_check_in": "The carer started without checking in.",
    "phone_dead": "The handset ran out of battery or failed during the visit.",
    "no_signal": "The handset could not record or send the event.",
    "tag_unreadable": "The home tag or code device could not be read.",
    "wrong_time": "The recorded time is wrong (for example a handset clock fault).",
}
MAX_STAY = timedelta(hours=24)


class CorrectionError(ValueError):
    """The correction cannot be made; `kind` is not_found, invalid or conflict."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class CorrectionRecord:
    id: int
    visit_id: UUID
    segment_id: UUID
    carer_id: str
    reason_code: str
    note: str
    before: dict[str, Any]
    after: dict[str, Any]
    minutes_moved: int
    requested_by: str
    requested_at: datetime
    needs_approval: bool
    approved_by: str | None
    approved_at: datetime | None

    @property
    def counts(self) -> bool:
        return not self.needs_approval or self.approved_at is not None


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def request_correction(
    conn: Connection,
    settings: Settings,
    *,
    provider_id: str,
    visit_id: UUID,
    carer_id: str | None,
    check_in: datetime | None,
    check_out: datetime | None,
    reason_code: str,
    note: str,
    requested_by: str,
    now: datetime | None = None,
) -> CorrectionRecord:
    now = now or datetime.now(UTC)
    if reason_code not in REASON_CODES:
        raise CorrectionError("invalid", f"unknown reason code {reason_code}")
    if not note.strip():
        raise CorrectionError("invalid", "a note is required")
    if check_in is None and check_out is None:
        raise CorrectionError("invalid", "give a new check_in, check_out or both")
    stays = correction_store.stays_of_visit(conn, provider_id, visit_id)
    if not stays:
        raise CorrectionError("not_found", f"visit {visit_id} not found")
    if carer_id is None:
        if len(stays) != 1:
            raise CorrectionError("invalid", "the visit has several carers: name the carer_id")
        stay = stays[0]
    else:
        matching = [s for s in stays if s["carer_id"] == carer_id]
        if not matching:
            raise CorrectionError("not_found", f"carer {carer_id} is not on visit {visit_id}")
        stay = matching[0]
    new_in = check_in or stay["check_in"]
    new_out = check_out or stay["check_out"]
    if new_in is None or new_out is None:
        raise CorrectionError("invalid", "after the correction the stay still lacks an end")
    if not new_in < new_out or new_out - new_in > MAX_STAY:
        raise CorrectionError("invalid", "check_out must follow check_in within 24 hours")
    if new_out > now:
        raise CorrectionError("invalid", "a correction cannot record a time in the future")
    moved = _minutes_moved(stay, new_in, new_out)
    policy = load_policies(conn, settings).for_council(stay["council_id"])
    before = {"check_in": _iso(stay["check_in"]), "check_out": _iso(stay["check_out"])}
    after = {"check_in": _iso(new_in), "check_out": _iso(new_out)}
    row = correction_store.insert_correction(
        conn,
        {
            "segment": stay["segment_id"],
            "visit": visit_id,
            "provider": provider_id,
            "carer": stay["carer_id"],
            "home": stay["service_user_id"],
            "reason": reason_code,
            "note": note.strip(),
            "check_in": new_in,
            "check_out": new_out,
            "before": json.dumps(before),
            "after": json.dumps(after),
            "moved": moved,
            "by": requested_by,
            "needs": moved > policy.correction_approval_minutes,
        },
    )
    return CorrectionRecord(**row)


def _minutes_moved(stay: dict[str, Any], new_in: datetime, new_out: datetime) -> int:
    """How far the correction moves the stay's ends. An end the evidence lacked is measured
    from the planned time of that end (the visit's whole length when it was unplanned)."""
    planned_start: datetime | None = stay["planned_start"]
    planned_end = (
        planned_start + timedelta(minutes=stay["planned_minutes"]) if planned_start else None
    )
    total = timedelta()
    for old, new, planned, other in (
        (stay["check_in"], new_in, planned_start, new_out),
        (stay["check_out"], new_out, planned_end, new_in),
    ):
        reference = old if old is not None else planned if planned is not None else other
        total += abs(new - reference)
    return int(total.total_seconds() // 60)


def approve_correction(
    conn: Connection,
    correction_id: int,
    *,
    approved_by: str,
    council_id: str | None,
) -> CorrectionRecord:
    """A council approves a correction beyond its threshold. `council_id` None is an
    administrator; otherwise the visit's service user must belong to that council. Times are
    the database's clock, which the visit builder's change detection reads."""
    row = correction_store.approval_state(conn, correction_id)
    if row is None or (council_id is not None and row["council_id"] != council_id):
        raise CorrectionError("not_found", f"correction {correction_id} not found")
    if not row["needs_approval"]:
        raise CorrectionError("conflict", "this correction counts without approval")
    if row["approved_at"] is not None:
        raise CorrectionError("conflict", "this correction is already approved")
    approved = correction_store.approve(conn, correction_id, approved_by)
    return CorrectionRecord(**approved)


def corrections_for_visit(conn: Connection, visit_id: UUID) -> list[CorrectionRecord]:
    return [CorrectionRecord(**row) for row in correction_store.of_visit(conn, visit_id)]
