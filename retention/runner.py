"""`ecm retention run` and the housekeeping role's retention step: plan, then each action in a
transaction of its own (the outermost layer owns the transactions)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from retention import service
from retention.policy import DEFAULT_POLICY, RetentionPolicy
from retention.service import Action, AuditTrail, Plan


@dataclass(frozen=True)
class Done:
    run_id: str
    plan: Plan
    rows: dict[str, int]


def dry_run(engine: Engine, now: datetime, defaults: RetentionPolicy = DEFAULT_POLICY) -> Plan:
    with engine.connect() as conn:
        planned = service.plan(conn, now, defaults)
        conn.rollback()
    return planned


def run(
    engine: Engine,
    now: datetime,
    audit: AuditTrail,
    *,
    defaults: RetentionPolicy = DEFAULT_POLICY,
    progress: Callable[[Action], None] | None = None,
) -> Done:
    planned = dry_run(engine, now, defaults)
    run_id = str(uuid.uuid4())
    rows: dict[str, int] = {}
    for action in planned.actions:
        with engine.begin() as conn:
            done = service.do(conn, action, now, audit, run_id)
        rows[action.kind] = rows.get(action.kind, 0) + done
        if progress is not None:
            progress(action)
    return Done(run_id, planned, rows)
