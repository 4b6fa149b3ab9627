"""Corrections stand beside the evidence: audited, approved when large, never editing it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from core.settings import Settings
from tests.api.api_support import administrator, client_for
from tests.visits.support import IN, TAG, care_world, plan, store, utc


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    yield from client_for(settings)


def evidence(engine: Engine, device_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("select * from device_event where device_id = :d order by seq"), {"d": device_id}
        ).mappings()
        return [dict(r) for r in rows]


def visit(client: TestClient, provider_id: str, visit_id: object) -> dict[str, Any]:
    response = client.get(f"/providers/{provider_id}/visits/{visit_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_forgotten_check_out_is_corrected_beside_the_evidence(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    home = w.add_home()
    plan(engine, w, home, "2026-02-12T09:00:00+00:00", 30)
    visit_id = store(engine, ann, home, IN, utc("2026-02-12T09:02:00"), evidence=TAG)
    assert visit(client, w.provider_id, visit_id)["status"] == "open"
    before = evidence(engine, ann.device_id)

    response = client.post(
        f"/providers/{w.provider_id}/visits/{visit_id}/corrections",
        json={
            "check_out": "2026-02-12T09:33:00Z",
            "reason_code": "forgot_check_out",
            "note": "Carer confirmed by phone she left at 09:33.",
        },
    )

    assert response.status_code == 201, response.text
    correction = response.json()
    assert correction["before"] == {"check_in": "2026-02-12T09:02:00+00:00", "check_out": None}
    assert correction["after"] == {
        "check_in": "2026-02-12T09:02:00+00:00",
        "check_out": "2026-02-12T09:33:00+00:00",
    }
    # Measured from the planned end (09:30): within the default 30-minute threshold.
    assert (correction["minutes_moved"], correction["needs_approval"]) == (3, False)
    assert correction["counts"] is True
    assert correction["requested_by"] == administrator(settings)
    assert correction["carer_id"] == ann.carer_id

    corrected = visit(client, w.provider_id, visit_id)
    assert (corrected["status"], corrected["minutes"]) == ("on_time", 31)
    assert corrected["verification"] == "manual"
    [stay] = corrected["carers"]
    assert stay["check_out"] == "2026-02-12T09:33:00Z"
    assert stay["check_out_event_id"] is None
    assert stay["correction_id"] == correction["id"]

    assert evidence(engine, ann.device_id) == before
    with pytest.raises(DBAPIError, match="evidence and cannot be changed"), engine.begin() as conn:
        conn.execute(
            text("update device_event set device_time = device_time where event_id = :e"),
            {"e": visit_id},
        )


def test_a_large_correction_counts_only_after_council_approval(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    home = w.add_home()
    visit_id = store(engine, ann, home, IN, utc("2026-02-12T13:00:00"))
    path = f"/providers/{w.provider_id}/visits/{visit_id}/corrections"

    response = client.post(
        path,
        json={
            "check_out": "2026-02-12T15:00:00Z",
            "reason_code": "phone_dead",
            "note": "Battery died at the start of a long visit.",
        },
    )

    assert response.status_code == 201, response.text
    correction = response.json()
    assert (correction["minutes_moved"], correction["needs_approval"]) == (120, True)
    pending = visit(client, w.provider_id, visit_id)
    assert (pending["status"], pending["corrections_pending"]) == ("open", 1)

    approve = f"{path}/{correction['id']}/approve"
    approved = client.post(approve)
    assert approved.status_code == 200, approved.text
    assert approved.json()["approved_by"] == administrator(settings)
    assert approved.json()["counts"] is True
    after = visit(client, w.provider_id, visit_id)
    assert (after["status"], after["minutes"], after["corrections_pending"]) == (
        "unplanned",
        120,
        0,
    )
    assert client.post(approve).status_code == 409
    [listed] = client.get(path).json()
    assert listed["id"] == correction["id"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"check_out": "2026-02-12T10:00:00Z", "reason_code": "bored", "note": "x"}, 422),
        ({"check_out": "2026-02-12T10:00:00Z", "reason_code": "phone_dead", "note": " "}, 422),
        ({"reason_code": "phone_dead", "note": "no times"}, 422),
        ({"check_out": "2026-02-12T08:00:00Z", "reason_code": "phone_dead", "note": "x"}, 422),
        ({"check_out": "2099-02-12T10:00:00Z", "reason_code": "phone_dead", "note": "x"}, 422),
    ],
)
def test_invalid_corrections_are_refused(
    client: TestClient, engine: Engine, body: dict[str, str], status: int
) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    home = w.add_home()
    visit_id = store(engine, ann, home, IN, utc("2026-02-12T09:00:00"))
    visit(client, w.provider_id, visit_id)

    response = client.post(f"/providers/{w.provider_id}/visits/{visit_id}/corrections", json=body)

    assert response.status_code == status, response.text


def test_a_visit_of_another_provider_is_not_found(client: TestClient, engine: Engine) -> None:
    w, other = care_world(engine), care_world(engine)
    ann = w.add_handset()
    home = w.add_home()
    visit_id = store(engine, ann, home, IN, utc("2026-02-12T09:00:00"))
    visit(client, w.provider_id, visit_id)

    response = client.post(
        f"/providers/{other.provider_id}/visits/{visit_id}/corrections",
        json={"check_out": "2026-02-12T09:30:00Z", "reason_code": "phone_dead", "note": "x"},
    )

    assert response.status_code == 404
