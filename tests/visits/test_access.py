"""Every visit, alert, webhook, schedule and KPI endpoint checks who owns the object."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.auth.roles import Role
from api.deps import Principal, current_principal
from core.settings import Settings
from tests.support.ids import unique
from tests.visits.support import HEADER, IN, care_world, store, utc

POLICY = {"late_after_minutes": 5, "missed_cutoff": "20:00", "correction_approval_minutes": 0}


@dataclass(frozen=True)
class CouncilPrincipal(Principal):
    """What sign-in will give a council user: the `council` role and its council."""

    council_id: str | None = None


def client_as(settings: Settings, principal: Principal) -> TestClient:
    app = create_app(settings)
    app.dependency_overrides[current_principal] = lambda: principal
    return TestClient(app)


def test_a_provider_sees_only_its_own_visits_alerts_and_webhooks(
    engine: Engine, settings: Settings
) -> None:
    mine, theirs = care_world(engine), care_world(engine)
    ann = theirs.add_handset()
    home = theirs.add_home()
    visit_id = store(engine, ann, home, IN, utc("2026-02-25T09:00:00"))
    manager = Principal(subject="m", roles=frozenset({"manager"}), provider_id=mine.provider_id)

    with client_as(settings, manager) as client:
        assert client.get(f"/providers/{mine.provider_id}/alerts").status_code == 200
        base = f"/providers/{theirs.provider_id}"
        for method, path in [
            ("GET", f"{base}/visits/{visit_id}"),
            ("GET", f"{base}/visits/{visit_id}/corrections"),
            ("POST", f"{base}/visits/{visit_id}/corrections"),
            ("GET", f"{base}/alerts"),
            ("GET", f"{base}/alerts/stream"),
            ("POST", f"{base}/webhooks"),
            ("GET", f"{base}/webhooks/deliveries"),
        ]:
            body = (
                {"check_out": "2026-02-25T09:30:00Z", "reason_code": "phone_dead", "note": "x"}
                if path.endswith("corrections")
                else {"url": "http://127.0.0.1:9/x"}
            )
            response = client.request(method, path, json=body if method == "POST" else None)
            assert response.status_code == 404, (method, path, response.text)
        # Providers neither import schedules, approve corrections, nor set council policy.
        assert client.post("/schedules", content=b"x").status_code == 403
        assert client.post(f"{base}/visits/{visit_id}/corrections/1/approve").status_code == 403
        policy = POLICY
        assert client.put(f"/councils/{mine.council_id}/policy", json=policy).status_code == 403
        # KPIs: a provider reads its own rows of a council, never another provider's.
        kpis = client.get(
            "/kpis",
            params={"council_id": theirs.council_id, "from": "2026-02-25", "to": "2026-02-25"},
        )
        assert kpis.status_code == 200
        assert kpis.json()["providers"] == []


def test_a_council_imports_and_reads_its_own_council_only(
    engine: Engine, settings: Settings
) -> None:
    ours, elsewhere = care_world(engine), care_world(engine)
    our_home, their_home = ours.add_home(), elsewhere.add_home()
    council = CouncilPrincipal(
        subject="c", roles=frozenset({Role.COUNCIL_OFFICER.value}), council_id=ours.council_id
    )
    content = (
        f"{HEADER}\n"
        f"{unique('V')},{our_home},{ours.provider_id},2026-02-26T09:00:00+00:00,30,1,personal\n"
        f"{unique('V')},{their_home},{elsewhere.provider_id},2026-02-26T09:00:00+00:00,30,1,x\n"
    )

    with client_as(settings, council) as client:
        response = client.post(
            "/schedules", content=content.encode(), headers={"content-type": "text/csv"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["created"] == 1
        assert response.json()["errors"] == [
            {
                "line": 3,
                "visit_ref": response.json()["errors"][0]["visit_ref"],
                "reason": "service user is not in the importing council",
            }
        ]
        params = {"from": "2026-02-26", "to": "2026-02-26"}
        assert client.get("/kpis", params={**params, "council_id": ours.council_id}).is_success
        other = client.get("/kpis", params={**params, "council_id": elsewhere.council_id})
        assert other.status_code == 404
        policy = POLICY
        assert client.put(f"/councils/{ours.council_id}/policy", json=policy).status_code == 200
        refused = client.put(f"/councils/{elsewhere.council_id}/policy", json=policy)
        assert refused.status_code == 404
