"""The council's worklist: corrections beyond its threshold and manual visit records awaiting
its approval, and the alerts providers left unresolved (escalated), of its own service users.
An officer approves or rejects (saying why) one item or several at once; each item is decided
on its own, so one already decided by a colleague does not stop the others."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from core.access import Scope
from core.errors import DomainError, Forbidden, NotFound, Unprocessable
from gateway.registry.queries import require_council
from visits import alert_console, corrections, manual_visits
from visits.correction_store import pending_for_council
from visits.freshness import VisitFreshness
from visits.views import (
    DecisionOutcome,
    PendingCorrection,
    Worklist,
    WorklistDecision,
    WorklistOutcome,
)


def ensure_council_officer(conn: Connection, scope: Scope, council_id: str) -> str | None:
    """The council's officers and administrators; another council's is 404. Returns the
    council to restrict records to (None: an administrator, who may decide any)."""
    if scope.is_admin:
        require_council(conn, council_id)
        return None
    if not scope.is_council:
        raise Forbidden("council officers and administrators only")
    if scope.council_id != council_id:
        raise NotFound(f"council {council_id} not found")
    return council_id


def worklist(
    conn: Connection, freshness: VisitFreshness, scope: Scope, council_id: str
) -> Worklist:
    ensure_council_officer(conn, scope, council_id)
    return Worklist(
        corrections=[
            PendingCorrection.model_validate(
                {**row, "counts": not row["needs_approval"] or row["approved_at"] is not None}
            )
            for row in pending_for_council(conn, council_id)
        ],
        manual_visits=manual_visits.pending_for_council(conn, council_id),
        escalated_alerts=alert_console.council_escalations(conn, freshness.settings, council_id),
    )


def decide(
    conn: Connection,
    freshness: VisitFreshness,
    scope: Scope,
    council_id: str,
    body: WorklistDecision,
    now: datetime,
) -> WorklistOutcome:
    restrict = ensure_council_officer(conn, scope, council_id)
    # An administrator deciding through a council's worklist decides that council's items.
    own = restrict if restrict is not None else council_id
    approve = body.decision == "approve"
    done = "approved" if approve else "rejected"
    reason = (body.reason or "").strip() or None
    if not approve and reason is None:
        raise Unprocessable("say why: the provider reads the reason", code="reason_required")
    if not body.corrections and not body.manual_visits:
        raise Unprocessable("choose at least one item", code="nothing_chosen")
    outcomes: list[DecisionOutcome] = []
    for correction_id in body.corrections:
        try:
            if approve:
                corrections.approve_correction(
                    conn, correction_id, approved_by=scope.subject, council_id=own
                )
            else:
                corrections.reject_correction(
                    conn,
                    correction_id,
                    rejected_by=scope.subject,
                    council_id=own,
                    reason=reason or "",
                )
            outcomes.append(
                DecisionOutcome(
                    kind="correction", id=correction_id, done=True, message=f"correction {done}"
                )
            )
        except corrections.CorrectionError as exc:
            outcomes.append(
                DecisionOutcome(kind="correction", id=correction_id, done=False, message=str(exc))
            )
    for record_id in body.manual_visits:
        try:
            manual_visits.decide(
                conn,
                record_id,
                approve=approve,
                council_id=own,
                actor=scope.subject,
                reason=reason,
                now=now,
            )
            outcomes.append(
                DecisionOutcome(
                    kind="manual_visit", id=record_id, done=True, message=f"manual visit {done}"
                )
            )
        except DomainError as exc:
            outcomes.append(
                DecisionOutcome(kind="manual_visit", id=record_id, done=False, message=exc.message)
            )
    if any(outcome.done for outcome in outcomes):
        # The visits the decisions change are rebuilt now, so the next read shows them.
        freshness.rebuild_in(conn)
    return WorklistOutcome(outcomes=outcomes)
