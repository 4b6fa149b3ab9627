"""Paying a stored run, and undoing a payment.

A run is paid once: its lines' visits are then claimed (a later run pays no line on them
again). A council may want two officers for it (its reconciliation settings): the first
confirmation records who asked, and a different officer's confirmation pays. A paid run can be
voided with a reason: the payment is undone (its visits are no longer claimed), the run, its
lines and who paid and voided it stay on record; nothing is deleted. Every call is a request in
the audit trail (api.deps)."""

from __future__ import annotations

from sqlalchemy import Connection

from core.access import Scope
from core.errors import Conflict, Unprocessable
from reconciliation import run_store
from reconciliation.runs import get_run
from reconciliation.views import ReconciliationSettings, Run


def pay(conn: Connection, scope: Scope, council_id: str, run_id: int) -> Run:
    # The runs' lock: a run that has started either sees this payment or finished before it.
    run_store.lock_council(conn, council_id)
    run = get_run(conn, council_id, run_id)
    if run.voided_at is not None:
        raise Conflict(f"reconciliation run {run_id} was voided", code="voided")
    if run.paid_at is not None:
        raise Conflict(f"reconciliation run {run_id} was already paid", code="already_paid")
    if run_store.second_payment_approval(conn, council_id):
        if run.payment_requested_by is None:
            run_store.request_payment(conn, run_id, scope.subject)
            return get_run(conn, council_id, run_id)
        if run.payment_requested_by == scope.subject:
            raise Conflict(
                "you confirmed this payment: a second officer must approve it",
                code="second_approval_needed",
            )
    run_store.mark_paid(conn, run_id, scope.subject)
    return get_run(conn, council_id, run_id)


def void(conn: Connection, scope: Scope, council_id: str, run_id: int, reason: str) -> Run:
    reason = reason.strip()
    if not reason:
        raise Unprocessable("say why the payment is voided", code="reason_required")
    run_store.lock_council(conn, council_id)
    run = get_run(conn, council_id, run_id)
    if run.paid_at is None:
        raise Conflict(f"reconciliation run {run_id} is not paid", code="not_paid")
    if run.voided_at is not None:
        raise Conflict(f"reconciliation run {run_id} was already voided", code="voided")
    run_store.void(conn, run_id, scope.subject, reason)
    return get_run(conn, council_id, run_id)


def get_settings(conn: Connection, council_id: str) -> ReconciliationSettings:
    return ReconciliationSettings(
        second_payment_approval=run_store.second_payment_approval(conn, council_id)
    )


def put_settings(
    conn: Connection, council_id: str, body: ReconciliationSettings
) -> ReconciliationSettings:
    run_store.set_second_payment_approval(conn, council_id, body.second_payment_approval)
    return get_settings(conn, council_id)
