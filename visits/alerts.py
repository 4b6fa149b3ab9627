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

from sqlalchemy import Connection

from core.settings import Settings
from visits import alert_store
from visits.policy import load_policies

LOOK_BACK = timedelta(days=2)


@dataclass
class AlertReport:
    raised: int = 0
    cleared: int = 0


def evaluate(conn: Connection, settings: Settings, now: datetime | None = None) -> AlertReport:
    """One evaluation in the caller's transaction."""
    now = now or datetime.now(UTC)
    alert_store.lock_evaluation(conn)
    policies = load_policies(conn, settings)
    window = timedelta(minutes=settings.visits_match_window_minutes)
    plans = [
        r for r in alert_store.due_plans(conn, now - LOOK_BACK, now) if r["status"] == "planned"
    ]
    for plan in plans:
        policy = policies.for_council(plan["council_id"])
        plan["late_at"] = plan["planned_start"] + policy.late_after
        plan["deadline"] = policy.missed_deadline(plan["planned_start"], plan["next_start"])
    started = alert_store.started_plans(
        conn,
        [(p["visit_ref"], p["service_user_id"], p["provider_id"]) for p in plans],
        [(p["planned_start"] - window, p["deadline"]) for p in plans],
        now,
    )
    open_alerts = {(r["visit_ref"], r["kind"]): r for r in alert_store.open_alerts(conn)}
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
    return alert_store.still_planned(conn, ref, now - LOOK_BACK, now)


def _raise(
    conn: Connection, plan: dict[str, Any], kind: str, threshold: datetime, now: datetime
) -> bool:
    alert = alert_store.insert_alert(
        conn,
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
    if alert is None:
        return False  # raised before (and perhaps cleared): an alert is raised once
    _notify(conn, alert, "raised", now, None)
    return True


def _clear(conn: Connection, alert: dict[str, Any], now: datetime, why: str) -> None:
    alert_store.clear_alert(conn, alert["id"], now)
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
    alert_store.notify(conn, alert["id"], alert["provider_id"], action, now, json.dumps(payload))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
