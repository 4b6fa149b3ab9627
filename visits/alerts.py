"""Live alerts: late and missed planned visits, raised and cleared as the clock moves.

A planned visit is started by any check-in at its home by its provider from `match window`
before its planned start until its missed deadline (the home's next planned visit, or the daily
cut-off). Not started `late_after` minutes after the planned start raises `late`; not started by
the deadline raises `missed`. An alert clears itself when the visit starts (or is cancelled).
Each raise and clear is a notification: the SSE stream reads them, and one webhook delivery per
active endpoint of the provider is queued in the same transaction.

`evaluate` takes the time as an argument, so tests and the demo drive the clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from core.settings import Settings
from visits.policy import load_policies

LOOK_BACK = timedelta(days=2)

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


@dataclass
class AlertReport:
    raised: int = 0
    cleared: int = 0


def evaluate(conn: Connection, settings: Settings, now: datetime | None = None) -> AlertReport:
    """One evaluation in the caller's transaction."""
    now = now or datetime.now(UTC)
    conn.execute(text("select pg_advisory_xact_lock(hashtext('ecm.visits.alerts'))"))
    policies = load_policies(conn, settings)
    window = timedelta(minutes=settings.visits_match_window_minutes)
    plans = [
        dict(r)
        for r in conn.execute(text(_DUE), {"from": now - LOOK_BACK, "now": now}).mappings()
        if r["status"] == "planned"
    ]
    for plan in plans:
        policy = policies.for_council(plan["council_id"])
        plan["late_at"] = plan["planned_start"] + policy.late_after
        plan["deadline"] = policy.missed_deadline(plan["planned_start"], plan["next_start"])
    started = set(
        conn.execute(
            text(_STARTED),
            {
                "refs": [p["visit_ref"] for p in plans],
                "homes": [p["service_user_id"] for p in plans],
                "providers": [p["provider_id"] for p in plans],
                "froms": [p["planned_start"] - window for p in plans],
                "untils": [p["deadline"] for p in plans],
                "now": now,
            },
        ).scalars()
    )
    open_alerts = {
        (r["visit_ref"], r["kind"]): dict(r)
        for r in conn.execute(text("select * from visit_alert where cleared_at is null")).mappings()
    }
    report = AlertReport()
    current = {p["visit_ref"] for p in plans}
    for plan in plans:
        ref = plan["visit_ref"]
        if ref in started:
            for kind in ("late", "missed"):
                alert = open_alerts.get((ref, kind))
                if alert is not None:
                    _clear(conn, alert, now, "visit started")
                    report.cleared += 1
            continue
        for kind, threshold in (("late", plan["late_at"]), ("missed", plan["deadline"])):
            due = now >= threshold and (ref, kind) not in open_alerts
            if due and _raise(conn, plan, kind, threshold, now):
                report.raised += 1
    # A planned visit cancelled or moved out of reach no longer needs anyone to act.
    for (ref, _), alert in open_alerts.items():
        if ref not in current and not _still_planned(conn, ref, now):
            _clear(conn, alert, now, "planned visit cancelled or moved")
            report.cleared += 1
    return report


def _still_planned(conn: Connection, ref: str, now: datetime) -> bool:
    return bool(
        conn.execute(
            text(
                "select exists (select 1 from planned_visit_version where visit_ref = :ref "
                "and superseded_at is null and status = 'planned' and planned_start <= :now "
                "and planned_start >= :from)"
            ),
            {"ref": ref, "now": now, "from": now - LOOK_BACK},
        ).scalar_one()
    )


def _raise(
    conn: Connection, plan: dict[str, Any], kind: str, threshold: datetime, now: datetime
) -> bool:
    alert = (
        conn.execute(
            text(
                "insert into visit_alert (visit_ref, kind, provider_id, service_user_id, "
                "planned_start, threshold_at, raised_at) values (:ref, :kind, :provider, "
                ":home, :start, :threshold, :now) on conflict (visit_ref, kind) do nothing "
                "returning *"
            ),
            {
                "ref": plan["visit_ref"],
                "kind": kind,
                "provider": plan["provider_id"],
                "home": plan["service_user_id"],
                "start": plan["planned_start"],
                "threshold": threshold,
                "now": now,
            },
        )
        .mappings()
        .one_or_none()
    )
    if alert is None:
        return False  # raised before (and perhaps cleared): an alert is raised once
    _notify(conn, dict(alert), "raised", now, None)
    return True


def _clear(conn: Connection, alert: dict[str, Any], now: datetime, why: str) -> None:
    conn.execute(
        text("update visit_alert set cleared_at = :now where id = :id"),
        {"now": now, "id": alert["id"]},
    )
    _notify(conn, {**alert, "cleared_at": now}, "cleared", now, why)


def _notify(
    conn: Connection, alert: dict[str, Any], action: str, now: datetime, why: str | None
) -> None:
    payload = {
        "alert_id": alert["id"],
        "action": action,
        "kind": alert["kind"],
        "visit_ref": alert["visit_ref"],
        "provider_id": alert["provider_id"],
        "service_user_id": alert["service_user_id"],
        "planned_start": _iso(alert["planned_start"]),
        "threshold_at": _iso(alert["threshold_at"]),
        "at": _iso(now),
    }
    if why is not None:
        payload["reason"] = why
    notification_id = conn.execute(
        text(
            "insert into alert_notification (alert_id, provider_id, action, at, payload) "
            "values (:alert, :provider, :action, :at, cast(:payload as jsonb)) returning id"
        ),
        {
            "alert": alert["id"],
            "provider": alert["provider_id"],
            "action": action,
            "at": now,
            "payload": json.dumps(payload),
        },
    ).scalar_one()
    conn.execute(
        text(
            "insert into webhook_delivery (notification_id, endpoint_id, next_attempt_at) "
            "select :n, id, :now from webhook_endpoint where provider_id = :provider and active"
        ),
        {"n": notification_id, "now": now, "provider": alert["provider_id"]},
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
