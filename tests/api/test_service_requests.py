"""Service requests over HTTP: a council officer makes a request, providers read and answer
their offers, the accepted package appears, the case system's files go in and out, and the
monitoring report; on the app's injected clock."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.auth.roles import Role
from commissioning.model import LONDON
from core.settings import Settings
from tests.api.api_support import client_for
from tests.commissioning.support import LotWorld, lot_world
from tests.support.ids import unique

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=LONDON)
MORNING = {
    "days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    "start": "07:30",
    "minutes": 45,
    "carers": 2,
}


@contextmanager
def signed_in(settings: Settings, role: Role, **tenant: str) -> Iterator[TestClient]:
    for client in client_for(settings, role, **tenant):
        client.app.state.clock = lambda: NOW  # type: ignore[attr-defined]
        yield client


def at(client: TestClient, moment: datetime) -> TestClient:
    client.app.state.clock = lambda: moment  # type: ignore[attr-defined]
    return client


def test_a_request_from_the_officer_to_an_accepted_package(
    settings: Settings, engine: Engine
) -> None:
    world: LotWorld = lot_world(engine)
    a1 = world.additional[0]
    home = world.add_home()
    with (
        signed_in(settings, Role.COUNCIL_OFFICER, council_id=world.council_id) as officer,
        signed_in(settings, Role.PROVIDER_MANAGER, provider_id=world.lead) as lead,
        signed_in(settings, Role.PROVIDER_MANAGER, provider_id=a1) as additional,
        signed_in(settings, Role.PROVIDER_MANAGER, provider_id=world.dps[0]) as dps,
    ):
        lots = officer.get(f"/councils/{world.council_id}/lots").json()["items"]
        assert [lot["in_force"]["lead"] for lot in lots] == [world.lead]
        made = officer.post(
            "/service-requests",
            json={
                "service_user_id": home,
                "lot_id": world.lot_id,
                "start_date": "2026-03-09",
                "visits": [MORNING],
                "notes": "Hoist in the bedroom.",
            },
        )
        assert made.status_code == 201, made.text
        request = made.json()
        request_id = request["id"]
        assert request["status"] == "open" and request["weekly_hours"] == 10.5
        assert [o["provider_id"] for o in request["offers"]] == [world.lead]
        assert request["cascade"][0] == {
            "role": "lead",
            "providers": [world.lead],
            "state": "current",
        }

        offers = lead.get(f"/providers/{world.lead}/offers", params={"status": "open"}).json()
        [offer] = [o for o in offers["items"] if o["offer"]["request_id"] == request_id]
        assert offer["offer"]["deadline"] == "2026-03-05T10:00:00Z"
        seen = lead.get(f"/providers/{world.lead}/offers/{offer['offer']['id']}").json()
        assert seen["offer"]["views"] == 1 and seen["notes"] == "Hoist in the bedroom."

        # "other" needs a note; a reason off the list is refused.
        url = f"/providers/{world.lead}/offers/{offer['offer']['id']}/decline"
        assert lead.post(url, json={"reason": "other"}).status_code == 422
        assert lead.post(url, json={"reason": "too_far"}).status_code == 422
        declined = at(lead, NOW + timedelta(hours=1)).post(url, json={"reason": "no_capacity"})
        assert declined.status_code == 200 and declined.json()["offer"]["status"] == "declined"

        # The first additional provider is offered it, accepts, and holds the package.
        [a1_offer] = (
            at(additional, NOW + timedelta(hours=2))
            .get(f"/providers/{a1}/offers", params={"status": "open"})
            .json()["items"]
        )
        accepted = additional.post(f"/providers/{a1}/offers/{a1_offer['offer']['id']}/accept")
        assert accepted.status_code == 200, accepted.text
        package = accepted.json()
        assert package["provider_id"] == a1 and package["versions"][0]["change"] == "accepted"
        again = additional.post(f"/providers/{a1}/offers/{a1_offer['offer']['id']}/accept")
        assert again.status_code == 409 and again.json()["error"]["code"] == "offer_closed"

        # The package's visits are in the provider's schedule (planned visits).
        with engine.connect() as conn:
            planned = conn.execute(
                text(
                    "select count(*) from planned_visit_version where provider_id = :p "
                    "and service_user_id = :s and superseded_at is null"
                ),
                {"p": a1, "s": home},
            ).scalar_one()
        assert planned == settings.requests_plan_horizon_days - 4  # from Monday 9 March

        # Each side reads its own part; a provider never offered it finds nothing.
        council_view = officer.get(f"/service-requests/{request_id}").json()
        assert council_view["status"] == "placed" and council_view["placed_with"] == a1
        assert [h["kind"] for h in council_view["history"]] == [
            "created",
            "offered",
            "viewed",
            "declined",
            "offered",
            "accepted",
        ]
        lead_view = lead.get(f"/service-requests/{request_id}").json()
        assert [o["provider_id"] for o in lead_view["offers"]] == [world.lead]
        assert lead_view["placed_with"] is None and lead_view["cascade"] == []
        assert lead.get(f"/packages/{package['id']}").status_code == 404
        assert additional.get(f"/packages/{package['id']}").status_code == 200
        assert dps.get(f"/service-requests/{request_id}").status_code == 404
        listed = {r["id"] for r in dps.get("/service-requests").json()["items"]}
        assert request_id not in listed

        # The officer cannot withdraw a placed request, but ends its package.
        withdrawn = officer.post(
            f"/service-requests/{request_id}/withdraw", json={"reason": "no longer needed"}
        )
        assert withdrawn.status_code == 409
        ended = officer.post(f"/packages/{package['id']}/end", json={"end_date": "2026-03-15"})
        assert ended.status_code == 200 and ended.json()["versions"][-1]["change"] == "ended"
        assert (
            additional.post(
                f"/packages/{package['id']}/end", json={"end_date": "2026-03-14"}
            ).status_code
            == 403
        )

    # The provider's reading of its offer and its answer are in the audit trail, as a read and
    # a change of its own tenant (the two refused answers are not: refusals change nothing).
    offer_path = f"/providers/{world.lead}/offers/{offer['offer']['id']}"
    with engine.connect() as conn:
        audited = conn.execute(
            text(
                "select method, path, action, role, tenant from audit_log "
                "where path = :view or path = :answer order by id"
            ),
            {"view": offer_path, "answer": f"{offer_path}/decline"},
        ).all()
    assert [tuple(a) for a in audited] == [
        ("GET", offer_path, "read", "provider_manager", world.lead),
        ("POST", f"{offer_path}/decline", "change", "provider_manager", world.lead),
    ]


def test_the_case_systems_files_and_the_monitoring_report(
    settings: Settings, engine: Engine
) -> None:
    world = lot_world(engine)
    home = world.add_home()
    ref = unique("MOSAIC-")
    content = (
        "request_ref,service_user_ref,lot_ref,start_date,end_date,days,start_time,minutes,"
        "carers,service_type,notes\n"
        f"{ref},{home},{world.lot_id},2026-03-09,,daily,07:30,45,2,personal care,\n"
        f"{ref},{home},{world.lot_id},2026-03-09,,Mon-Fri,17:00,30,1,meal,\n"
        f"BAD-1,{home},{world.lot_id},2026-03-09,,Funday,07:30,45,2,personal care,\n"
    )
    with signed_in(settings, Role.COUNCIL_OFFICER, council_id=world.council_id) as officer:
        imported = officer.post(
            "/service-requests/import",
            content=content,
            headers={"content-type": "text/csv"},
            params={"source": "mosaic-2026-03-04.csv"},
        )
        assert imported.status_code == 200, imported.text
        report = imported.json()
        assert (report["rows_read"], report["requests_created"], report["rejected"]) == (3, 1, 1)
        assert report["errors"][0]["line"] == 4
        assert (
            officer.post(
                "/service-requests/import", content=content, headers={"content-type": "text/csv"}
            ).json()["requests_unchanged"]
            == 1
        )

        decisions = officer.get(
            "/service-requests/decisions.csv", params={"from": "2026-03-04", "to": "2026-03-04"}
        )
        assert decisions.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(decisions.text)))
        assert [(r["request_ref"], r["provider_ref"], r["outcome"]) for r in rows] == [
            (ref, world.lead, "open")
        ]
        monitoring = officer.get(
            "/commissioning/monitoring", params={"from": "2026-03-04", "to": "2026-03-04"}
        )
        assert monitoring.status_code == 200, monitoring.text
        body = monitoring.json()
        assert body["from"] == "2026-03-04" and body["lots"][0]["requests_made"] == 1
        assert body["lots"][0]["weekly_hours_lead"] == 0.0
        exported = officer.get(
            "/commissioning/monitoring.csv", params={"from": "2026-03-04", "to": "2026-03-04"}
        )
        assert exported.text.splitlines()[1].startswith(f"{world.council_id},{world.lot_id},")
        bad_period = officer.get(
            "/commissioning/monitoring", params={"from": "2026-03-04", "to": "2026-03-01"}
        )
        assert bad_period.status_code == 422


def test_lots_and_settings_through_the_api(settings: Settings, engine: Engine) -> None:
    world = lot_world(engine)
    a1, a2 = world.additional
    with signed_in(settings, Role.COUNCIL_OFFICER, council_id=world.council_id) as officer:
        policy = officer.put(
            f"/councils/{world.council_id}/commissioning-policy",
            json={
                "response_working_hours": 8,
                "additional_mode": "all_at_once",
                "dps_mode": "one_at_a_time",
            },
        )
        assert policy.status_code == 200
        assert (
            officer.get(f"/councils/{world.council_id}/commissioning-policy").json()[
                "response_working_hours"
            ]
            == 8
        )
        lineup = {
            "name": "North",
            "effective_from": "2026-04-01",
            "lead": a1,
            "additional": [world.lead, a2],
        }
        put = officer.put(f"/councils/{world.council_id}/lots/{world.lot_id}", json=lineup)
        assert put.status_code == 200 and put.json()["changed"] is True
        twice = {**lineup, "dps": [a1]}
        assert (
            officer.put(f"/councils/{world.council_id}/lots/{world.lot_id}", json=twice).status_code
            == 422
        )
        in_force = {**lineup, "effective_from": "2026-01-05"}
        refused = officer.put(f"/councils/{world.council_id}/lots/{world.lot_id}", json=in_force)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "lineup_in_force"
        other = lot_world(engine)
        assert officer.get(f"/councils/{other.council_id}/lots").status_code == 404
