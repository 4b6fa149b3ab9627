"""All SQL of live alerts: the planned visits due, the check-ins that started them, the alerts
(visit_alert), their notifications (alert_notification) and the webhook deliveries queued with
each. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

_DUE = """
select p.visit_ref, p.service_user_id, p.provider_id, p.planned_start, p.status, su.council_id,
    (select min(n.planned_start) from planned_visit_version n
     where n.superseded_at is null and n.status = 'planned'
       and n.service_user_id = p.service_user_id and n.planned_start > p.planned_start
    ) as next_start
from planned_visit_version p join service_user su on su.id = p.service_user_id
where p.superseded_at is null and p.planned_start >= :from and p.planned_start <= :now
"""

_STARTED = """
select k.visit_ref from unnest(cast(:refs as text[]), cast(:homes as text[]),
    cast(:providers as text[]), cast(:froms as timestamptz[]), cast(:untils as timestamptz[]))
    k(visit_ref, home, provider, since, until)
where exists (
    select 1 from device_event e
    where e.service_user_id = k.home and e.provider_id = k.provider
      and e.event_type = 'check_in'
      and e.device_time >= k.since and e.device_time < k.until and e.device_time <= :now
)
"""


def lock_evaluation(conn: Connection) -> None:
    """One evaluation at a time."""
    conn.execute(text("select pg_advisory_xact_lock(hashtext('ecm.visits.alerts'))"))


def due_plans(conn: Connection, since: datetime, now: datetime) -> list[dict[str, Any]]:
    """Current planned visits starting in [since, now] with their home's council and its next
    planned start."""
    return [dict(r) for r in conn.execute(text(_DUE), {"from": since, "now": now}).mappings()]


def started_plans(
    conn: Connection,
    plans: Sequence[tuple[str, str, str]],
    windows: Sequence[tuple[datetime, datetime]],
    now: datetime,
) -> set[str]:
    """visit_refs of the (visit_ref, home, provider) plans with a check-in at the home by the
    provider within their (since, until) window, up to now."""
    rows = conn.execute(
        text(_STARTED),
        {
            "refs": [p[0] for p in plans],
            "homes": [p[1] for p in plans],
            "providers": [p[2] for p in plans],
            "froms": [w[0] for w in windows],
            "untils": [w[1] for w in windows],
            "now": now,
        },
    ).scalars()
    return set(rows)


def open_alerts(conn: Connection) -> list[dict[str, Any]]:
    """Alerts that may still clear themselves: not cleared, and not resolved by a person."""
    rows = conn.execute(
        text("select * from visit_alert where cleared_at is null and resolved_at is null")
    ).mappings()
    return [dict(r) for r in rows]


def open_alert(conn: Connection, ref: str, kind: str) -> dict[str, Any]:
    """The open alert of that planned visit and kind, which the caller knows exists."""
    row = (
        conn.execute(
            text(
                "select * from visit_alert where visit_ref = :ref and kind = :kind "
                "and cleared_at is null"
            ),
            {"ref": ref, "kind": kind},
        )
        .mappings()
        .one()
    )
    return dict(row)


def still_planned(conn: Connection, ref: str, since: datetime, now: datetime) -> bool:
    return bool(
        conn.execute(
            text(
                "select exists (select 1 from planned_visit_version where visit_ref = :ref "
                "and superseded_at is null and status = 'planned' and planned_start <= :now "
                "and planned_start >= :from)"
            ),
            {"ref": ref, "now": now, "from": since},
        ).scalar_one()
    )


def insert_alert(conn: Connection, values: dict[str, Any]) -> dict[str, Any] | None:
    """The new alert, or None when it was raised before (an alert is raised once)."""
    row = (
        conn.execute(
            text(
                "insert into visit_alert (visit_ref, kind, provider_id, service_user_id, "
                "planned_start, threshold_at, raised_at) values (:ref, :kind, :provider, "
                ":home, :start, :threshold, :now) on conflict (visit_ref, kind) do nothing "
                "returning *"
            ),
            values,
        )
        .mappings()
        .one_or_none()
    )
    return dict(row) if row is not None else None


def clear_alert(conn: Connection, alert_id: int, now: datetime) -> None:
    conn.execute(
        text("update visit_alert set cleared_at = :now where id = :id"),
        {"now": now, "id": alert_id},
    )


def notify(
    conn: Connection, alert_id: int, provider_id: str, action: str, at: datetime, payload: str
) -> None:
    """A notification (payload: JSON text), and one delivery per active webhook endpoint of the
    provider."""
    notification_id = conn.execute(
        text(
            "insert into alert_notification (alert_id, provider_id, action, at, payload) "
            "values (:alert, :provider, :action, :at, cast(:payload as jsonb)) returning id"
        ),
        {
            "alert": alert_id,
            "provider": provider_id,
            "action": action,
            "at": at,
            "payload": payload,
        },
    ).scalar_one()
    conn.execute(
        text(
            "insert into webhook_delivery (notification_id, endpoint_id, next_attempt_at) "
            "select :n, id, :now from webhook_endpoint where provider_id = :provider and active"
        ),
        {"n": notification_id, "now": at, "provider": provider_id},
    )


# The console: what providers do about alerts, and escalation to the council ---------------

_ALERT_COLUMNS = (
    "a.id, a.visit_ref, a.kind, a.provider_id, a.service_user_id, a.planned_start, "
    "a.threshold_at, a.raised_at, a.cleared_at, a.acknowledged_by, a.acknowledged_at, "
    "a.assigned_to, a.reason_code, a.note, a.escalated_at, a.resolved_by, a.resolved_at, "
    "a.resolution, su.council_id, "
    "(select v.id from visit v where v.planned_visit_ref = a.visit_ref limit 1) as visit_id"
)
_FROM = "from visit_alert a left join service_user su on su.id = a.service_user_id"


def provider_alerts(
    conn: Connection, provider_id: str, *, active_only: bool, since: datetime | None
) -> list[dict[str, Any]]:
    """The provider's alerts, newest planned visit first; `active_only`: those still needing
    someone (not cleared, not resolved); `since`: planned from then on."""
    rows = conn.execute(
        text(
            f"select {_ALERT_COLUMNS} {_FROM} where a.provider_id = :p "
            + ("and a.cleared_at is null and a.resolved_at is null " if active_only else "")
            + "and (cast(:since as timestamptz) is null or a.planned_start >= :since) "
            "order by a.planned_start desc, a.id desc limit 1000"
        ),
        {"p": provider_id, "since": since},
    ).mappings()
    return [dict(r) for r in rows]


def alert(
    conn: Connection, provider_id: str, alert_id: int, *, lock: bool = False
) -> dict[str, Any] | None:
    """One of the provider's alerts (another provider's is None, like a missing one)."""
    row = (
        conn.execute(
            text(
                f"select {_ALERT_COLUMNS} {_FROM} where a.id = :id and a.provider_id = :p"
                + (" for update of a" if lock else "")
            ),
            {"id": alert_id, "p": provider_id},
        )
        .mappings()
        .one_or_none()
    )
    return dict(row) if row is not None else None


def live_alert_for_plan(conn: Connection, provider_id: str, visit_ref: str) -> int | None:
    """The provider's alert of a planned visit still needing someone (missed before late)."""
    value: int | None = conn.execute(
        text(
            "select id from visit_alert where provider_id = :p and visit_ref = :ref "
            "and cleared_at is null and resolved_at is null "
            "order by (kind = 'missed') desc, id desc limit 1"
        ),
        {"p": provider_id, "ref": visit_ref},
    ).scalar_one_or_none()
    return value


def actions_of(conn: Connection, alert_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        text(
            "select action, actor, at, reason_code, note, assigned_to from alert_action "
            "where alert_id = :id order by id"
        ),
        {"id": alert_id},
    ).mappings()
    return [dict(r) for r in rows]


def record_action(
    conn: Connection,
    alert_id: int,
    action: str,
    actor: str,
    at: datetime,
    *,
    reason_code: str | None = None,
    note: str | None = None,
    assigned_to: str | None = None,
) -> None:
    conn.execute(
        text(
            "insert into alert_action (alert_id, action, actor, at, reason_code, note, "
            "assigned_to) values (:id, :action, :actor, :at, :reason, :note, :assigned)"
        ),
        {
            "id": alert_id,
            "action": action,
            "actor": actor,
            "at": at,
            "reason": reason_code,
            "note": note,
            "assigned": assigned_to,
        },
    )


def update_alert(conn: Connection, alert_id: int, values: dict[str, Any]) -> None:
    """Sets the console's columns named in `values` (acknowledged_by, assigned_to, ...)."""
    allowed = {
        "acknowledged_by",
        "acknowledged_at",
        "assigned_to",
        "reason_code",
        "note",
        "escalated_at",
        "resolved_by",
        "resolved_at",
        "resolution",
    }
    assert set(values) <= allowed, set(values) - allowed
    assignments = ", ".join(f"{column} = :{column}" for column in sorted(values))
    conn.execute(
        text(f"update visit_alert set {assignments} where id = :alert_id"),
        {**values, "alert_id": alert_id},
    )


def escalation_candidates(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Open, unresolved, not yet escalated alerts raised before now, with their council."""
    rows = conn.execute(
        text(
            f"select {_ALERT_COLUMNS} {_FROM} where a.cleared_at is null "
            "and a.resolved_at is null and a.escalated_at is null and a.raised_at <= :now"
        ),
        {"now": now},
    ).mappings()
    return [dict(r) for r in rows]


def council_escalations(conn: Connection, council_id: str | None) -> list[dict[str, Any]]:
    """Escalated alerts still open and unresolved, of the council's service users (every
    council's: None), oldest first."""
    rows = conn.execute(
        text(
            f"select {_ALERT_COLUMNS} {_FROM} where a.escalated_at is not null "
            "and a.cleared_at is null and a.resolved_at is null "
            "and (cast(:council as text) is null or su.council_id = :council) "
            "order by a.escalated_at, a.id limit 1000"
        ),
        {"council": council_id},
    ).mappings()
    return [dict(r) for r in rows]


def carer_of_provider(conn: Connection, provider_id: str, carer_id: str) -> bool:
    found = conn.execute(
        text("select 1 from carer where id = :c and provider_id = :p"),
        {"c": carer_id, "p": provider_id},
    )
    return found.first() is not None


def latest_of_plan(conn: Connection, provider_id: str, visit_ref: str) -> dict[str, Any] | None:
    row = (
        conn.execute(
            text(
                f"select {_ALERT_COLUMNS} {_FROM} where a.provider_id = :p "
                "and a.visit_ref = :ref order by a.id desc limit 1"
            ),
            {"p": provider_id, "ref": visit_ref},
        )
        .mappings()
        .one_or_none()
    )
    return dict(row) if row is not None else None
