"""What people do about late and missed alerts: the provider acknowledges an alert, assigns a
carer to it, gives a reason from the list below and a note, and resolves it, either as not
delivered (with the reason) or as delivered, with a manual visit record the council approves
(visits/manual_visits.py). An alert nobody resolved in the council's time goes to the council
(visits/alerts.py escalates it); the council's worklist lists it.

Every action is kept in alert_action (who, when, what) beside the alert's current state; the
evidence is never touched. The reasons are documented in docs/visits.md ("Alert console")."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from core.access import Scope
from core.errors import Conflict, Forbidden, NotFound, Unprocessable
from core.settings import Settings
from gateway.registry.queries import require_provider
from visits import alert_store
from visits.policy import PolicyBook, load_policies
from visits.views import Alert, AlertAction, AlertDetail

# Why a visit was late or did not happen, in the words a coordinator uses.
ALERT_REASONS = {
    "hospital": "The service user is in hospital",
    "cancelled_by_service_user": "The service user or their family cancelled the visit",
    "no_access": "The carer could not get into the home",
    "declined_care": "The service user declined the care",
    "carer_delayed": "The carer was delayed (traffic, an earlier visit overran)",
    "carer_unavailable": "No carer was available (sickness, absence)",
    "visit_moved": "The visit was moved to another time",
    "delivered_not_recorded": "The visit happened but the handset did not record it",
    "other": "Another reason (say what in the note)",
}
# Closing an alert as "not delivered" with this reason would contradict it: record the visit.
DELIVERED_REASON = "delivered_not_recorded"
# The attention list reaches this far back: older open alerts are in the full list.
ATTENTION_DAYS = 7


def _acting(scope: Scope, provider_id: str) -> None:
    """Alerts are the provider's to deal with (an administrator may act for one)."""
    if not scope.can_read_provider(provider_id):
        raise NotFound(f"provider {provider_id} not found")
    if scope.provider_id is None and not scope.is_admin:
        raise Forbidden("the provider deals with its alerts; the council reads them")


def _view(row: dict[str, Any], policies: PolicyBook) -> Alert:
    escalates_at = None
    if row["cleared_at"] is None and row["resolved_at"] is None and row["escalated_at"] is None:
        escalates_at = row["raised_at"] + policies.for_council(row["council_id"]).escalate_after
    return Alert.model_validate({**row, "escalates_at": escalates_at})


def provider_alerts(
    conn: Connection,
    settings: Settings,
    scope: Scope,
    provider_id: str,
    *,
    active_only: bool,
    now: datetime,
) -> list[Alert]:
    """The provider's alerts: those still needing someone (`active_only`, the attention list,
    the last ATTENTION_DAYS), or all of them (newest first)."""
    if not scope.can_read_provider(provider_id):
        raise NotFound(f"provider {provider_id} not found")
    require_provider(conn, provider_id)
    since = now - timedelta(days=ATTENTION_DAYS) if active_only else None
    policies = load_policies(conn, settings)
    rows = alert_store.provider_alerts(conn, provider_id, active_only=active_only, since=since)
    return [_view(row, policies) for row in rows]


def get_alert(
    conn: Connection, settings: Settings, scope: Scope, provider_id: str, alert_id: int
) -> AlertDetail:
    if not scope.can_read_provider(provider_id):
        raise NotFound(f"provider {provider_id} not found")
    row = alert_store.alert(conn, provider_id, alert_id)
    if row is None:
        raise NotFound(f"alert {alert_id} not found")
    alert = _view(row, load_policies(conn, settings))
    actions = [AlertAction.model_validate(a) for a in alert_store.actions_of(conn, alert_id)]
    return AlertDetail.model_validate({**alert.model_dump(), "actions": actions})


def _open_alert(conn: Connection, provider_id: str, alert_id: int) -> dict[str, Any]:
    row = alert_store.alert(conn, provider_id, alert_id, lock=True)
    if row is None:
        raise NotFound(f"alert {alert_id} not found")
    if row["resolved_at"] is not None:
        raise Conflict("this alert is already resolved", code="alert_resolved")
    return row


def _reason(reason_code: str | None) -> str | None:
    if reason_code is None or not reason_code.strip():
        return None
    if reason_code not in ALERT_REASONS:
        raise Unprocessable(f"unknown reason {reason_code!r}", code="alert_reason")
    return reason_code


def _note(note: str | None) -> str | None:
    return note.strip() if note and note.strip() else None


def acknowledge(
    conn: Connection,
    scope: Scope,
    provider_id: str,
    alert_id: int,
    *,
    reason_code: str | None,
    note: str | None,
    now: datetime,
) -> None:
    """Someone at the provider has seen the alert and is dealing with it; a reason and a
    note may be given at once (the reason may also come later)."""
    _acting(scope, provider_id)
    row = _open_alert(conn, provider_id, alert_id)
    reason, text = _reason(reason_code), _note(note)
    values: dict[str, Any] = {}
    if row["acknowledged_at"] is None:
        values.update(acknowledged_by=scope.subject, acknowledged_at=now)
        alert_store.record_action(
            conn, alert_id, "acknowledged", scope.subject, now, reason_code=reason, note=text
        )
    elif reason is not None or text is not None:
        alert_store.record_action(
            conn, alert_id, "reason", scope.subject, now, reason_code=reason, note=text
        )
    if reason is not None:
        values["reason_code"] = reason
    if text is not None:
        values["note"] = text
    if values:
        alert_store.update_alert(conn, alert_id, values)


def assign(
    conn: Connection,
    scope: Scope,
    provider_id: str,
    alert_id: int,
    *,
    carer_id: str,
    note: str | None,
    now: datetime,
) -> None:
    """A carer of the provider is sent to deal with it (assigning also acknowledges)."""
    _acting(scope, provider_id)
    row = _open_alert(conn, provider_id, alert_id)
    if not alert_store.carer_of_provider(conn, provider_id, carer_id):
        raise Unprocessable(f"carer {carer_id} does not work for this provider", code="carer")
    text = _note(note)
    values: dict[str, Any] = {"assigned_to": carer_id}
    if row["acknowledged_at"] is None:
        values.update(acknowledged_by=scope.subject, acknowledged_at=now)
    if text is not None:
        values["note"] = text
    alert_store.update_alert(conn, alert_id, values)
    alert_store.record_action(
        conn, alert_id, "assigned", scope.subject, now, note=text, assigned_to=carer_id
    )


def resolve(
    conn: Connection,
    scope: Scope,
    provider_id: str,
    alert_id: int,
    *,
    reason_code: str,
    note: str,
    now: datetime,
) -> None:
    """Closed as not delivered, with the reason and a note. A visit that did happen is
    recorded as delivered instead (a manual visit record)."""
    _acting(scope, provider_id)
    row = _open_alert(conn, provider_id, alert_id)
    reason = _reason(reason_code)
    if reason is None:
        raise Unprocessable("choose a reason from the list", code="alert_reason")
    if reason == DELIVERED_REASON:
        raise Unprocessable(
            "the visit happened: record it as delivered (a manual visit record) instead",
            code="alert_reason",
        )
    text = _note(note)
    if text is None:
        raise Unprocessable("write a note saying what happened", code="alert_note")
    values: dict[str, Any] = {
        "reason_code": reason,
        "note": text,
        "resolved_by": scope.subject,
        "resolved_at": now,
        "resolution": "not_delivered",
    }
    if row["acknowledged_at"] is None:
        values.update(acknowledged_by=scope.subject, acknowledged_at=now)
    alert_store.update_alert(conn, alert_id, values)
    alert_store.record_action(
        conn, alert_id, "resolved", scope.subject, now, reason_code=reason, note=text
    )


def mark_delivered(conn: Connection, alert_id: int, actor: str, note: str, now: datetime) -> None:
    """The alert is answered by a manual visit record (visits/manual_visits.py)."""
    alert_store.update_alert(
        conn,
        alert_id,
        {
            "reason_code": DELIVERED_REASON,
            "note": note,
            "resolved_by": actor,
            "resolved_at": now,
            "resolution": "delivered",
        },
    )
    alert_store.record_action(
        conn, alert_id, "delivered", actor, now, reason_code=DELIVERED_REASON, note=note
    )


def reopen(conn: Connection, alert_id: int, actor: str, why: str, now: datetime) -> None:
    """The council rejected the manual visit record that answered the alert: it needs the
    provider again."""
    alert_store.update_alert(
        conn, alert_id, {"resolved_by": None, "resolved_at": None, "resolution": None}
    )
    alert_store.record_action(conn, alert_id, "reopened", actor, now, note=why)


def council_escalations(conn: Connection, settings: Settings, council_id: str) -> list[Alert]:
    """Escalated alerts still unresolved of the council's service users (the caller has
    checked that it may read the council: visits/worklist.py)."""
    policies = load_policies(conn, settings)
    return [_view(row, policies) for row in alert_store.council_escalations(conn, council_id)]


def alert_for_plan(
    conn: Connection, settings: Settings, provider_id: str, visit_ref: str
) -> Alert | None:
    """The latest alert of a planned visit (the caller has checked the provider)."""
    row = alert_store.latest_of_plan(conn, provider_id, visit_ref)
    return None if row is None else _view(row, load_policies(conn, settings))
