"""KPIs on a small day computed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.settings import Settings
from gateway.registry import Commission, Provider, RegistryDocument, seed
from ingest.verify import Evidence
from tests.api.api_support import client_for
from tests.support.devices import TestDevice
from tests.support.ids import unique
from tests.visits.support import IN, OUT, TAG, CareWorld, build, care_world, plan, store, utc

DAY = date(2026, 2, 20)
LATER = utc("2026-12-31T00:00:00")
CODE = Evidence(level="code")


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    yield from client_for(settings)


def test_kpis_of_a_hand_computed_day(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    lead = care_world(engine)
    other_id = unique("P")
    with engine.begin() as conn:
        seed(
            conn,
            RegistryDocument(
                providers=[Provider(id=other_id, name="Other Care Ltd")],
                commissions=[
                    Commission(council_id=lead.council_id, provider_id=other_id, lot=lead.lot)
                ],
            ),
        )
    other = CareWorld(engine, lead.council_id, other_id, lead.lot)
    ann, bob, cat = lead.add_handset(), lead.add_handset(), other.add_handset()
    home, second_home, third_home = lead.add_home(), lead.add_home(), other.add_home()

    def visit(handset: TestDevice, where: str, start: str, end: str, ev: Evidence) -> None:
        store(engine, handset, where, IN, utc(f"2026-02-20T{start}:00"), evidence=ev)
        store(engine, handset, where, OUT, utc(f"2026-02-20T{end}:00"), evidence=ev)

    plan(engine, lead, home, "2026-02-20T09:00:00+00:00", 30)  # on time
    plan(engine, lead, home, "2026-02-20T10:00:00+00:00", 60)  # 20 min late
    plan(engine, lead, home, "2026-02-20T12:00:00+00:00", 30)  # missed
    plan(engine, lead, second_home, "2026-02-20T14:00:00+00:00", 40)  # short
    visit(ann, home, "09:05", "09:35", TAG)
    visit(bob, home, "10:20", "11:20", CODE)
    visit(bob, second_home, "14:00", "14:20", Evidence())
    visit(ann, home, "16:00", "16:30", TAG)  # unplanned
    visit(cat, third_home, "10:00", "11:00", TAG)  # the other provider, unplanned
    build(engine, settings, lead, DAY, LATER)
    build(engine, settings, other, DAY, LATER)

    response = client.get(
        "/kpis", params={"council_id": lead.council_id, "from": "2026-02-20", "to": "2026-02-20"}
    )

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["from"], report["to"]) == ("2026-02-20", "2026-02-20")
    by_provider = {p["provider_id"]: p for p in report["providers"]}
    mine = by_provider[lead.provider_id]
    assert {k: v for k, v in mine.items() if k != "days"} == {
        "provider_id": lead.provider_id,
        "lot": lead.lot,
        "planned": 4,
        "delivered": 3,
        "on_time_15": 2,
        "on_time_30": 3,
        "on_time_15_share": 0.5,
        "on_time_30_share": 0.75,
        "missed": 1,
        "unplanned": 1,
        "planned_minutes": 160,
        "delivered_planned_minutes": 110,
        "planned_minutes_delivered_share": 0.6875,
        "delivered_minutes": 140,
        "tag_or_code_verified": 3,
        "tag_or_code_verified_share": 0.75,
        # Home one: Ann 2 of 3 visits; home two: Bob 1 of 1.
        "continuity_of_carer": 0.75,
        # 140 of the lot's 200 delivered minutes.
        "lot_hours_share": 0.7,
    }
    assert [d["london_day"] for d in mine["days"]] == ["2026-02-20"]
    assert by_provider[other_id]["lot_hours_share"] == 0.3
    assert by_provider[other_id]["unplanned"] == 1

    empty = client.get(
        "/kpis", params={"council_id": lead.council_id, "from": "2026-02-21", "to": "2026-02-22"}
    )
    assert empty.json()["providers"] == []
    backwards = client.get(
        "/kpis", params={"council_id": lead.council_id, "from": "2026-02-21", "to": "2026-02-20"}
    )
    assert backwards.status_code == 422
