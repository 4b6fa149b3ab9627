"""What people do about alerts, on an injected clock: acknowledge with a reason and a note,
send a carer, resolve as not delivered, escalation to the council after its set time, and a
missed visit recorded as delivered by hand, approved or rejected by the council."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import Engine, text

from core.access import Role, Scope
from core.errors import Conflict, Forbidden, NotFound, Unprocessable
from core.settings import Settings
from tests.visits.support import IN, OUT, CareWorld, build, care_world, plan, store, utc
from visits import alert_console, manual_visits, worklist
from visits.alerts import evaluate
from visits.freshness import VisitFreshness
from visits.policy import set_policy
from visits.views import ManualVisitRequest, WorklistDecision

PLANNED = "2026-03-10T09:00:00+00:00"


def provider_scope(world: CareWorld) -> Scope:
    return Scope("pat.manager", frozenset({Role.PROVIDER_MANAGER}), provider_id=world.provider_id)


def council_scope(world: CareWorld) -> Scope:
    return Scope(
        "ann.officer",
        frozenset({Role.COUNCIL_OFFICER}),
        council_id=world.council_id,
        provider_ids=frozenset({world.provider_id}),
    )


def tick(engine: Engine, settings: Settings, now: datetime) -> None:
    with engine.begin() as conn:
        evaluate(conn, settings, now)


def world_with_policy(engine: Engine, escalate_after: int = 60) -> CareWorld:
    world = care_world(engine)
    with engine.begin() as conn:
        set_policy(
            conn,
            world.council_id,
            late_after_minutes=15,
            missed_cutoff=time(12, 0),
            correction_approval_minutes=30,
            escalate_after_minutes=escalate_after,
        )
    return world


def only_alert(engine: Engine, settings: Settings, world: CareWorld, now: datetime) -> int:
    with engine.connect() as conn:
        [alert] = alert_console.provider_alerts(
            conn, settings, provider_scope(world), world.provider_id, active_only=True, now=now
        )
    return alert.id


def test_acknowledge_assign_and_resolve_are_kept_with_their_history(
    engine: Engine, settings: Settings
) -> None:
    world = world_with_policy(engine)
    home = world.add_home(name="Bea User")
    carer = world.add_handset("Ann Carer")
    plan(engine, world, home, PLANNED)
    now = utc("2026-03-10T09:20:00")
    tick(engine, settings, now)
    alert_id = only_alert(engine, settings, world, now)
    me = provider_scope(world)
    with engine.begin() as conn:
        alert_console.acknowledge(
            conn, me, world.provider_id, alert_id, reason_code=None, note=None, now=now
        )
        alert_console.acknowledge(
            conn,
            me,
            world.provider_id,
            alert_id,
            reason_code="carer_delayed",
            note="Stuck behind a tractor",
            now=now + timedelta(minutes=1),
        )
        alert_console.assign(
            conn,
            me,
            world.provider_id,
            alert_id,
            carer_id=carer.carer_id,
            note=None,
            now=now + timedelta(minutes=2),
        )
        with pytest.raises(Unprocessable):  # a reason not in the documented list
            alert_console.acknowledge(
                conn, me, world.provider_id, alert_id, reason_code="bored", note=None, now=now
            )
    with engine.begin() as conn, pytest.raises(Unprocessable):  # another provider's carer
        alert_console.assign(
            conn, me, world.provider_id, alert_id, carer_id="C-nobody", note=None, now=now
        )
    with engine.begin() as conn:
        detail = alert_console.get_alert(conn, settings, me, world.provider_id, alert_id)
    assert (detail.acknowledged_by, detail.reason_code, detail.assigned_to) == (
        "pat.manager",
        "carer_delayed",
        carer.carer_id,
    )
    assert [a.action for a in detail.actions] == ["acknowledged", "reason", "assigned"]
    assert detail.escalates_at == utc("2026-03-10T10:20:00")  # raised at 09:20, 60 minutes
    # Closing it as not delivered needs a reason other than "it happened" and a note.
    with engine.begin() as conn, pytest.raises(Unprocessable):
        alert_console.resolve(
            conn,
            me,
            world.provider_id,
            alert_id,
            reason_code="delivered_not_recorded",
            note="It happened",
            now=now,
        )
    with engine.begin() as conn:
        alert_console.resolve(
            conn,
            me,
            world.provider_id,
            alert_id,
            reason_code="hospital",
            note="Admitted overnight",
            now=now + timedelta(minutes=5),
        )
    with engine.begin() as conn:
        with pytest.raises(Conflict):
            alert_console.resolve(
                conn, me, world.provider_id, alert_id, reason_code="hospital", note="x", now=now
            )
        active = alert_console.provider_alerts(
            conn, settings, me, world.provider_id, active_only=True, now=now
        )
    assert active == []  # resolved: it has left the attention list
    # A council officer reads alerts but does not act on them; another provider sees nothing.
    other = care_world(engine)
    with engine.begin() as conn:
        with pytest.raises(Forbidden):
            alert_console.acknowledge(
                conn,
                council_scope(world),
                world.provider_id,
                alert_id,
                reason_code=None,
                note=None,
                now=now,
            )
        with pytest.raises(NotFound):
            alert_console.get_alert(conn, settings, provider_scope(other), world.provider_id, 1)
        with pytest.raises(NotFound):
            alert_console.get_alert(
                conn, settings, provider_scope(other), other.provider_id, alert_id
            )


def test_an_alert_nobody_resolves_goes_to_the_council_after_its_time(
    engine: Engine, settings: Settings
) -> None:
    world = world_with_policy(engine, escalate_after=30)
    home = world.add_home()
    plan(engine, world, home, PLANNED)
    tick(engine, settings, utc("2026-03-10T09:15:00"))  # late
    tick(engine, settings, utc("2026-03-10T09:44:59"))
    with engine.connect() as conn:
        assert alert_console.council_escalations(conn, settings, world.council_id) == []
    tick(engine, settings, utc("2026-03-10T09:45:00"))  # 30 minutes on, unresolved
    with engine.connect() as conn:
        [escalated] = alert_console.council_escalations(conn, settings, world.council_id)
        notified = conn.execute(
            text("select action from alert_notification where alert_id = :a order by id"),
            {"a": escalated.id},
        ).scalars()
        assert list(notified) == ["raised", "escalated"]
    assert escalated.escalated_at == utc("2026-03-10T09:45:00")
    # The worklist shows it to the council; it stays until someone resolves it.
    with engine.begin() as conn:
        freshness = VisitFreshness(settings)
        try:
            listed = worklist.worklist(conn, freshness, council_scope(world), world.council_id)
        finally:
            freshness.dispose()
    assert [a.id for a in listed.escalated_alerts] == [escalated.id]


def test_a_missed_visit_recorded_by_hand_counts_once_the_council_approves_it(
    engine: Engine, settings: Settings
) -> None:
    world = world_with_policy(engine)
    home = world.add_home(name="Bea User")
    carer = world.add_handset("Ann Carer")
    ref = plan(engine, world, home, PLANNED, minutes=30)
    now = utc("2026-03-10T12:05:00")  # after the 12:00 cut-off: missed
    tick(engine, settings, now)
    build(engine, settings, world, utc("2026-03-10T00:00:00").date(), now)
    alert_id = only_alert(engine, settings, world, now)
    me = provider_scope(world)
    body = ManualVisitRequest(
        visit_ref=ref,
        carer_id=carer.carer_id,
        check_in=utc("2026-03-10T09:04:00"),
        check_out=utc("2026-03-10T09:33:00"),
        note="The phone was left in the car; Bea's daughter confirms.",
    )
    with engine.begin() as conn:
        for wrong, why in (
            (body.model_copy(update={"check_out": now + timedelta(hours=1)}), Unprocessable),
            (
                body.model_copy(
                    update={
                        "check_in": utc("2026-03-11T09:04:00"),
                        "check_out": utc("2026-03-11T09:33:00"),
                    }
                ),
                Unprocessable,
            ),
            (body.model_copy(update={"carer_id": "C-nobody"}), Unprocessable),
            (body.model_copy(update={"visit_ref": "V-nobody"}), NotFound),
        ):
            with pytest.raises(why):
                manual_visits.request_manual_visit(conn, me, world.provider_id, wrong, now)
    with engine.begin() as conn:
        record = manual_visits.request_manual_visit(conn, me, world.provider_id, body, now)
    with engine.begin() as conn, pytest.raises(Conflict):
        manual_visits.request_manual_visit(conn, me, world.provider_id, body, now)
    with engine.connect() as conn:
        detail = alert_console.get_alert(conn, settings, me, world.provider_id, alert_id)
        status = conn.execute(
            text("select status, verification from visit where planned_visit_ref = :r"),
            {"r": ref},
        ).one()
    assert (detail.resolution, detail.id) == ("delivered", alert_id)
    assert tuple(status) == ("missed", "none")  # nothing counts before the council approves
    freshness = VisitFreshness(settings)
    try:
        with engine.begin() as conn:
            listed = worklist.worklist(conn, freshness, council_scope(world), world.council_id)
            assert [m.id for m in listed.manual_visits] == [record.id]
            outcome = worklist.decide(
                conn,
                freshness,
                council_scope(world),
                world.council_id,
                WorklistDecision(decision="approve", manual_visits=[record.id]),
                now,
            )
        assert [o.done for o in outcome.outcomes] == [True]
        with engine.connect() as conn:
            visit = conn.execute(
                text(
                    "select v.status, v.verification, v.minutes, vc.carer_id, "
                    "vc.check_in_event_id from visit v join visit_carer vc on vc.visit_id = v.id "
                    "where v.planned_visit_ref = :r"
                ),
                {"r": ref},
            ).one()
            events = conn.execute(
                text("select count(*) from device_event where service_user_id = :h"), {"h": home}
            ).scalar_one()
        # Delivered, on time, 29 minutes, by hand: beside the evidence, not in it.
        assert tuple(visit) == ("on_time", "manual", 29, carer.carer_id, None)
        assert events == 0
        # Deciding again is refused and reported, not fatal.
        with engine.begin() as conn:
            again = worklist.decide(
                conn,
                freshness,
                council_scope(world),
                world.council_id,
                WorklistDecision(decision="reject", reason="x", manual_visits=[record.id]),
                now,
            )
        assert [(o.done, o.message) for o in again.outcomes] == [
            (False, "this manual visit was already approved")
        ]
    finally:
        freshness.dispose()


def test_a_rejected_manual_visit_reopens_its_alert_and_a_visit_with_evidence_is_corrected(
    engine: Engine, settings: Settings
) -> None:
    world = world_with_policy(engine)
    home, visited = world.add_home(), world.add_home()
    carer = world.add_handset()
    ref = plan(engine, world, home, PLANNED)
    seen = plan(engine, world, visited, PLANNED)
    store(engine, carer, visited, IN, utc("2026-03-10T09:02:00"))
    store(engine, carer, visited, OUT, utc("2026-03-10T09:30:00"))
    now = utc("2026-03-10T12:05:00")
    tick(engine, settings, now)
    build(engine, settings, world, utc("2026-03-10T00:00:00").date(), now)
    me = provider_scope(world)
    request = ManualVisitRequest(
        visit_ref=ref,
        carer_id=carer.carer_id,
        check_in=utc("2026-03-10T09:00:00"),
        check_out=utc("2026-03-10T09:30:00"),
        note="Went, phone dead",
    )
    with engine.begin() as conn:
        with pytest.raises(Conflict):  # evidence: correct it, do not invent a second visit
            manual_visits.request_manual_visit(
                conn, me, world.provider_id, request.model_copy(update={"visit_ref": seen}), now
            )
        record = manual_visits.request_manual_visit(conn, me, world.provider_id, request, now)
    freshness = VisitFreshness(settings)
    try:
        with engine.begin() as conn, pytest.raises(Unprocessable):  # rejecting needs a reason
            worklist.decide(
                conn,
                freshness,
                council_scope(world),
                world.council_id,
                WorklistDecision(decision="reject", manual_visits=[record.id]),
                now,
            )
        with engine.begin() as conn:
            worklist.decide(
                conn,
                freshness,
                council_scope(world),
                world.council_id,
                WorklistDecision(
                    decision="reject", reason="The rota shows nobody", manual_visits=[record.id]
                ),
                now,
            )
        with engine.connect() as conn:
            [alert] = alert_console.provider_alerts(
                conn, settings, me, world.provider_id, active_only=True, now=now
            )
            detail = alert_console.get_alert(conn, settings, me, world.provider_id, alert.id)
            status = conn.execute(
                text("select status from visit where planned_visit_ref = :r"), {"r": ref}
            ).scalar_one()
        assert alert.visit_ref == ref and alert.resolved_at is None
        assert [a.action for a in detail.actions][-1] == "reopened"
        assert status == "missed"
        # Another council cannot decide it.
        stranger = care_world(engine)
        with engine.begin() as conn:
            again = worklist.decide(
                conn,
                freshness,
                council_scope(stranger),
                stranger.council_id,
                WorklistDecision(decision="approve", manual_visits=[record.id]),
                now,
            )
        assert [o.done for o in again.outcomes] == [False]
    finally:
        freshness.dispose()
