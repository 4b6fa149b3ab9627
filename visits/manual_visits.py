"""Manual visit records: a planned visit that happened but left no evidence (the handset was
lost, the home had no signal all day), recorded by the provider with the carer, the times and
a note, beside the evidence and never in it. It counts only once the council approves it: then
the visit builder shows the planned visit as delivered, verification `manual` (visits/pairing
`manual_visit`); until then, and if rejected, the visit stays missed.

Rules: the planned visit is the provider's, current and not cancelled; no evidence matched it
(a visit with evidence is corrected instead, visits/corrections.py); the carer works for the
provider; check-out follows check-in within 24 hours, not in the future, and the check-in is
on the planned visit's London day; one live record (awaiting or approved) per planned visit.
Recording it resolves the visit's alert as delivered; a rejection reopens that alert."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from core.access import Scope
from core.errors import Conflict, Forbidden, NotFound, Unprocessable
from core.vocabulary import VisitStatus
from gateway.registry.queries import require_provider
from visits import alert_console, alert_store, manual_visit_store
from visits.days import london_date
from visits.views import ManualVisit, ManualVisitRequest

MAX_STAY = timedelta(hours=24)


def _acting(scope: Scope, provider_id: str) -> None:
    if not scope.can_read_provider(provider_id):
        raise NotFound(f"provider {provider_id} not found")
    if scope.provider_id is None and not scope.is_admin:
        raise Forbidden("the provider records its visits; the council approves them")


def request_manual_visit(
    conn: Connection, scope: Scope, provider_id: str, body: ManualVisitRequest, now: datetime
) -> ManualVisit:
    _acting(scope, provider_id)
    require_provider(conn, provider_id)
    manual_visit_store.lock_plan(conn, body.visit_ref)
    plan = manual_visit_store.current_plan(conn, provider_id, body.visit_ref)
    if plan is None:
        raise NotFound(f"planned visit {body.visit_ref} not found")
    if plan["visit_status"] is not None and plan["visit_status"] != VisitStatus.MISSED:
        raise Conflict(
            "this visit has evidence: correct its times on the visit page instead",
            code="visit_has_evidence",
        )
    if not alert_store.carer_of_provider(conn, provider_id, body.carer_id):
        raise Unprocessable(f"carer {body.carer_id} does not work for this provider", code="carer")
    if not body.check_in < body.check_out or body.check_out - body.check_in > MAX_STAY:
        raise Unprocessable("the check-out must follow the check-in within 24 hours")
    if body.check_out > now:
        raise Unprocessable("a manual visit cannot end in the future")
    if london_date(body.check_in) != london_date(plan["planned_start"]):
        raise Unprocessable("the check-in must be on the planned visit's day")
    if manual_visit_store.live_record(conn, body.visit_ref) is not None:
        raise Conflict(
            "this visit already has a manual record awaiting or approved", code="manual_exists"
        )
    note = body.note.strip()
    if not note:
        raise Unprocessable("write a note saying how you know the visit happened")
    alert_id = alert_store.live_alert_for_plan(conn, provider_id, body.visit_ref)
    record_id = manual_visit_store.insert(
        conn,
        {
            "provider": provider_id,
            "home": plan["service_user_id"],
            "ref": body.visit_ref,
            "planned_start": plan["planned_start"],
            "alert": alert_id,
            "carer": body.carer_id,
            "check_in": body.check_in,
            "check_out": body.check_out,
            "note": note,
            "by": scope.subject,
            "at": now,
        },
    )
    if alert_id is not None:
        alert_console.mark_delivered(conn, alert_id, scope.subject, note, now)
    return get_manual_visit(conn, scope, provider_id, record_id)


def get_manual_visit(
    conn: Connection, scope: Scope, provider_id: str, record_id: int
) -> ManualVisit:
    if not scope.can_read_provider(provider_id):
        raise NotFound(f"provider {provider_id} not found")
    row = manual_visit_store.record(conn, record_id, provider_id=provider_id)
    if row is None:
        raise NotFound(f"manual visit {record_id} not found")
    return ManualVisit.model_validate(row)


def list_manual_visits(conn: Connection, scope: Scope, provider_id: str) -> list[ManualVisit]:
    if not scope.can_read_provider(provider_id):
        raise NotFound(f"provider {provider_id} not found")
    require_provider(conn, provider_id)
    return [
        ManualVisit.model_validate(r) for r in manual_visit_store.of_provider(conn, provider_id)
    ]


def of_plan(conn: Connection, provider_id: str, visit_ref: str) -> list[ManualVisit]:
    """The manual records of one planned visit (the caller has checked the provider)."""
    return [
        ManualVisit.model_validate(r)
        for r in manual_visit_store.of_plan(conn, provider_id, visit_ref)
    ]


def pending_for_council(conn: Connection, council_id: str) -> list[ManualVisit]:
    return [
        ManualVisit.model_validate(r)
        for r in manual_visit_store.pending_for_council(conn, council_id)
    ]


def decide(
    conn: Connection,
    record_id: int,
    *,
    approve: bool,
    council_id: str | None,
    actor: str,
    reason: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A council approves or rejects (with a reason) a record of one of its service users;
    `council_id` None is an administrator. The caller rebuilds visits afterwards."""
    row = manual_visit_store.record(conn, record_id, lock=True)
    if row is None or (council_id is not None and row["council_id"] != council_id):
        raise NotFound(f"manual visit {record_id} not found")
    if row["decision"] is not None:
        raise Conflict(f"this manual visit was already {row['decision']}", code="decided")
    why = reason.strip() if reason and reason.strip() else None
    if not approve and why is None:
        raise Unprocessable("say why the manual visit is rejected", code="reason_required")
    manual_visit_store.decide(conn, record_id, "approved" if approve else "rejected", actor, why)
    if not approve and row["alert_id"] is not None:
        alert_console.reopen(
            conn, row["alert_id"], actor, f"manual visit rejected by the council: {why}", now
        )
    return row
