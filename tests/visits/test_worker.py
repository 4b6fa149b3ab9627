"""The visits role's pass on an injected clock: build, alerts and webhook delivery together."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Engine, text

from core.settings import Settings
from tests.visits.alerts_support import Receiver
from tests.visits.support import care_world, plan, utc
from visits.webhooks import register_endpoint
from visits.worker import VisitsWorker


def test_one_pass_builds_raises_and_delivers_on_the_given_clock(
    engine: Engine, settings: Settings
) -> None:
    w = care_world(engine)
    home = w.add_home()
    ref = plan(engine, w, home, "2026-03-03T09:00:00+00:00")
    clock = [utc("2026-03-03T09:14:59")]

    def now() -> datetime:
        return clock[0]

    with Receiver(failures=0) as receiver:
        with engine.begin() as conn:
            register_endpoint(conn, settings, w.provider_id, receiver.url)
        worker = VisitsWorker(settings, clock=now)
        try:
            worker.tick(force=True)
            assert receiver.requests == []
            clock[0] = utc("2026-03-03T09:15:00")
            worker.tick(force=True)
            assert len(receiver.requests) == 1
            clock[0] = utc("2026-03-03T23:00:00")
            worker.tick(force=True)
        finally:
            worker.close()
    sent = [json.loads(r[1]) for r in receiver.requests]
    # The late alert, then at the cut-off the missed one, which replaces the late one.
    assert [(s["action"], s["kind"]) for s in sent] == [
        ("raised", "late"),
        ("raised", "missed"),
        ("cleared", "late"),
    ]
    with engine.connect() as conn:
        status = conn.execute(
            text("select status from visit where planned_visit_ref = :r"), {"r": ref}
        ).scalar_one()
    assert status == "missed"
