"""Acceptance commissions the care: the package's planned visits are schedule versions, as an
imported schedule's are, so visits built from evidence match them; a change or an end is a new
version of the package and of its planned visits, never an overwrite."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from commissioning import reads, service
from commissioning.model import LONDON, VisitSlot
from core.errors import Forbidden, Unprocessable
from core.settings import Settings
from ingest.verify import Evidence
from tests.commissioning.support import MORNING, TEA, LotWorld, lot_world
from tests.visits.support import IN, OUT, CareWorld, store, visits_of
from visits.builder import build_day

SUNDAY = datetime(2026, 3, 1, 10, 0, tzinfo=LONDON)
MONDAY = date(2026, 3, 2)
LATE_TEA = VisitSlot(frozenset(range(5)), TEA.start.replace(minute=30), 30, 1, "meal")


def planned(engine: Engine, request_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(row)
            for row in conn.execute(
                text(
                    "select v.visit_ref, v.version, v.status, v.planned_start, v.planned_minutes, "
                    "v.carers_required, v.provider_id, v.service_user_id, v.superseded_at, "
                    "i.source from planned_visit_version v join schedule_import i "
                    "on i.id = v.import_id where v.visit_ref like :prefix "
                    "order by v.visit_ref, v.version"
                ),
                {"prefix": f"SR{request_id}-%"},
            ).mappings()
        ]


def current(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["visit_ref"]: r for r in rows if r["superseded_at"] is None}


def accept_lead(world: LotWorld, request_id: int, now: datetime, horizon: int = 14) -> int:
    with world.engine.begin() as conn:
        offer = next(o for o in world.offers(request_id) if o["status"] == "open")
        return service.accept(
            conn,
            world.manager(world.lead),
            world.lead,
            offer["id"],
            horizon_days=horizon,
            now=now,
        )


def test_package_to_planned_visits_to_visits_built_from_evidence(
    engine: Engine, settings: Settings
) -> None:
    world = lot_world(engine)
    request_id = world.request(SUNDAY, visits=(MORNING, TEA), start=MONDAY)
    home = world.request_row(request_id)["service_user_id"]
    package_id = accept_lead(world, request_id, SUNDAY)

    rows = planned(engine, request_id)
    # Two weeks ahead: fourteen mornings (two carers, 45 minutes) and ten weekday teas.
    assert len(rows) == 24 and {r["version"] for r in rows} == {1}
    assert {r["provider_id"] for r in rows} == {world.lead}
    assert {r["service_user_id"] for r in rows} == {home}
    assert {r["source"] for r in rows} == {f"package {package_id} v1"}
    first = current(rows)[f"SR{request_id}-20260302-0730"]
    assert first["planned_start"] == datetime(2026, 3, 2, 7, 30, tzinfo=LONDON)
    assert (first["planned_minutes"], first["carers_required"]) == (45, 2)

    # Monday morning two carers of the lead provider visit (tag taps); nobody comes for tea.
    carers = CareWorld(engine, world.council_id, world.lead, world.lot_id)
    ann, ben = carers.add_handset(), carers.add_handset()
    arrive = datetime(2026, 3, 2, 7, 33, tzinfo=LONDON)
    tag = Evidence(level="tag")
    for handset in (ann, ben):
        store(engine, handset, home, IN, arrive, evidence=tag)
        store(engine, handset, home, OUT, arrive + timedelta(minutes=44), evidence=tag)
    with engine.begin() as conn:
        build_day(
            conn,
            settings,
            MONDAY,
            now=datetime(2026, 3, 3, 9, 0, tzinfo=LONDON),
            service_user_ids=[home],
        )
    visits = {v["planned_visit_ref"]: v for v in visits_of(engine, home)}
    morning = visits[f"SR{request_id}-20260302-0730"]
    assert (morning["status"], morning["carers"], morning["minutes"]) == ("on_time", 2, 44)
    assert morning["verification"] == "tag" and morning["provider_id"] == world.lead
    assert visits[f"SR{request_id}-20260302-1700"]["status"] == "missed"


def test_a_change_and_an_end_are_new_versions(engine: Engine) -> None:
    world = lot_world(engine)
    request_id = world.request(SUNDAY, visits=(MORNING, TEA), start=MONDAY)
    package_id = accept_lead(world, request_id, SUNDAY)
    before = current(planned(engine, request_id))

    # From Wednesday, tea at 17:30 instead of 17:00 (decided on Tuesday).
    tuesday = datetime(2026, 3, 3, 12, 0, tzinfo=LONDON)
    with engine.begin() as conn:
        service.change_package(
            conn,
            world.officer,
            package_id,
            effective_from=date(2026, 3, 4),
            visits=(MORNING, LATE_TEA),
            now=tuesday,
        )
    rows = planned(engine, request_id)
    now_current = current(rows)
    old_tea = f"SR{request_id}-20260304-1700"
    assert now_current[old_tea]["status"] == "cancelled" and now_current[old_tea]["version"] == 2
    assert now_current[f"SR{request_id}-20260303-1700"] == before[f"SR{request_id}-20260303-1700"]
    assert now_current[f"SR{request_id}-20260304-1730"]["status"] == "planned"
    # Mornings are untouched: still their first version.
    assert {v["version"] for k, v in now_current.items() if k.endswith("-0730")} == {1}
    # The first version of the cancelled tea is still there, superseded: nothing overwritten.
    assert [r["status"] for r in rows if r["visit_ref"] == old_tea] == ["planned", "cancelled"]

    # The package ends on Tuesday 10 March (decided on Thursday).
    thursday = datetime(2026, 3, 5, 9, 0, tzinfo=LONDON)
    with engine.begin() as conn:
        service.end_package(
            conn, world.officer, package_id, end_date=date(2026, 3, 10), now=thursday
        )
    after_end = current(planned(engine, request_id))
    live = sorted(k for k, v in after_end.items() if v["status"] == "planned")
    assert live[-1] == f"SR{request_id}-20260310-1730"
    assert after_end[f"SR{request_id}-20260311-0730"]["status"] == "cancelled"
    assert after_end[f"SR{request_id}-20260310-0730"]["status"] == "planned"

    with engine.begin() as conn:
        package = reads.get_package(conn, world.officer, package_id)
    assert [(v.version, v.change, v.current) for v in package.versions] == [
        (1, "accepted", False),
        (2, "changed", False),
        (3, "ended", True),
    ]
    assert package.versions[-1].end_date == date(2026, 3, 10)
    assert world.events(request_id)[-2:] == [
        ("package_changed", world.lead),
        ("package_ended", world.lead),
    ]
    # An ended package rolls no further forward.
    with engine.begin() as conn:
        service.extend_plans(conn, horizon_days=30, now=thursday)
    assert max(current(planned(engine, request_id))) == max(after_end)


def test_packages_roll_forward_and_only_the_council_changes_them(engine: Engine) -> None:
    world = lot_world(engine)
    request_id = world.request(SUNDAY, visits=(MORNING,), start=MONDAY)
    package_id = accept_lead(world, request_id, SUNDAY, horizon=3)
    assert len(planned(engine, request_id)) == 3  # Monday to Wednesday (the 4th)
    a_week_later = SUNDAY + timedelta(days=7)
    with engine.begin() as conn:
        service.extend_plans(conn, horizon_days=3, now=a_week_later)
    refs = sorted(r["visit_ref"] for r in planned(engine, request_id))
    assert refs[-1] == f"SR{request_id}-20260311-0730"
    # Days between the old horizon and now are history: not planned after the fact.
    assert f"SR{request_id}-20260305-0730" not in refs

    with engine.begin() as conn, pytest.raises(Forbidden):
        service.change_package(
            conn,
            world.manager(world.lead),
            package_id,
            effective_from=date(2026, 3, 9),
            visits=(TEA,),
            now=a_week_later,
        )
    with engine.begin() as conn, pytest.raises(Unprocessable, match="today or later"):
        service.change_package(
            conn,
            world.officer,
            package_id,
            effective_from=date(2026, 3, 2),
            visits=(TEA,),
            now=a_week_later,
        )
