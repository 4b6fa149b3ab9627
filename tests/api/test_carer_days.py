"""The carer's day over HTTP: the provider reads its carers' days, the council reads the
anonymised aggregates, nobody reads another tenant's; pay rates and telephone PINs."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.auth.roles import Role
from core.settings import Settings
from tests.api.api_support import client_for
from tests.api.carer_day_world import DAY, CarerWorld, make_world
from tests.support.ids import unique

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(engine: Engine) -> CarerWorld:
    return make_world(engine)


@pytest.fixture(scope="module")
def manager(settings: Settings, world: CarerWorld) -> Iterator[TestClient]:
    yield from client_for(settings, Role.PROVIDER_MANAGER, provider_id=world.provider_id)


@pytest.fixture(scope="module")
def stranger(settings: Settings, world: CarerWorld) -> Iterator[TestClient]:
    yield from client_for(settings, Role.PROVIDER_MANAGER, provider_id=world.other_provider_id)


@pytest.fixture(scope="module")
def officer(settings: Settings, world: CarerWorld) -> Iterator[TestClient]:
    yield from client_for(settings, Role.COUNCIL_OFFICER, council_id=world.council_id)


def test_the_provider_reads_its_carers_day_with_travel_and_the_pay_check(
    manager: TestClient, world: CarerWorld
) -> None:
    declared = manager.put(
        f"/providers/{world.provider_id}/pay-rate",
        json={"effective_from": "2025-04-01", "hourly_rate_gbp": "11.50", "travel_paid": False},
    )
    assert declared.status_code == 200, declared.text
    assert declared.json() == {
        "effective_from": "2025-04-01",
        "hourly_rate_gbp": "11.50",
        "travel_paid": False,
    }
    listed = manager.get(f"/providers/{world.provider_id}/carer-days", params={"date": DAY})
    assert listed.status_code == 200, listed.text
    [day] = listed.json()["items"]
    assert {k: day[k] for k in ("carer_id", "carer_name", "visits")} == {
        "carer_id": world.carer_id,
        "carer_name": "Ann Carer",
        "visits": 4,
    }
    assert (day["contact_minutes"], day["travel_minutes"], day["unpaid_gap_minutes"]) == (
        125,
        37,
        168,
    )
    assert (day["first_check_in"], day["last_check_out"]) == (
        "2026-01-15T07:00:00Z",
        "2026-01-15T12:30:00Z",
    )
    assert day["pay"] == {
        "hourly_rate_gbp": "11.50",
        "travel_paid": False,
        "floor_gbp_per_hour": "12.21",
        "paid_minutes": 125,
        "worked_minutes": 162,
        "pay_gbp": "23.96",
        "floor_gbp": "32.97",
        "below_floor": True,
        "shortfall_gbp": "9.01",
        "effective_gbp_per_hour": "8.87",
    }

    detail = manager.get(f"/providers/{world.provider_id}/carers/{world.carer_id}/days/{DAY}")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert [s["minutes"] for s in body["stays"]] == [30, 45, 20, 30]
    assert [
        (g["gap_minutes"], g["travel_minutes"], g["unpaid_gap_minutes"]) for g in body["legs"]
    ] == [
        (15, 15, 0),
        (10, 10, 0),
        (180, 12, 168),
    ]
    assert [g["distance_km"] for g in body["legs"]] == [2.0, 1.89, 3.89]
    assert body["legs"][0]["speed_kmh"] == 8.0

    exported = manager.get(
        f"/providers/{world.provider_id}/carer-days.csv", params={"from": DAY, "to": DAY}
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(exported.text)))
    assert (row["carer_id"], row["travel_minutes"], row["below_floor"]) == (
        world.carer_id,
        "37",
        "yes",
    )
    rates = manager.get(f"/providers/{world.provider_id}/pay-rates").json()
    assert rates["items"] == [declared.json()]


def test_another_provider_gets_404_for_everything_of_this_one(
    stranger: TestClient, world: CarerWorld
) -> None:
    base = f"/providers/{world.provider_id}"
    for response in (
        stranger.get(f"{base}/carer-days", params={"date": DAY}),
        stranger.get(f"{base}/carers/{world.carer_id}/days/{DAY}"),
        stranger.get(f"{base}/carer-days.csv", params={"from": DAY, "to": DAY}),
        stranger.get(f"{base}/pay-rates"),
        stranger.put(
            f"{base}/pay-rate",
            json={"effective_from": DAY, "hourly_rate_gbp": "20.00", "travel_paid": True},
        ),
        stranger.put(f"/carers/{world.carer_id}/telephone-pin", json={}),
    ):
        assert response.status_code == 404, response.request.url
        assert "Ann Carer" not in response.text


def test_a_carer_of_another_provider_is_not_found_under_this_one(
    manager: TestClient, world: CarerWorld
) -> None:
    for carer_id in (world.other_carer_id, "nobody"):
        response = manager.get(f"/providers/{world.provider_id}/carers/{carer_id}/days/{DAY}")
        assert response.status_code == 404


def test_the_council_reads_aggregates_and_no_carer(
    officer: TestClient, manager: TestClient, settings: Settings, world: CarerWorld
) -> None:
    refused = officer.get(f"/providers/{world.provider_id}/carer-days", params={"date": DAY})
    assert refused.status_code == 403
    response = officer.get(
        f"/councils/{world.council_id}/carer-days", params={"from": DAY, "to": DAY}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["council_id"], body["from"], body["to"]) == (world.council_id, DAY, DAY)
    [provider] = body["providers"]
    # One carer-day is fewer than the smallest cell shown (3): withheld.
    assert (provider["provider_id"], provider["carer_days"], provider["withheld"]) == (
        world.provider_id,
        1,
        True,
    )
    assert provider["below_floor_share"] is None and provider["travel_minutes"] is None
    assert world.carer_id not in response.text and "Ann Carer" not in response.text
    exported = officer.get(
        f"/councils/{world.council_id}/carer-days.csv", params={"from": DAY, "to": DAY}
    )
    assert exported.status_code == 200 and world.carer_id not in exported.text
    # Another council's figures, and the council's figures for a provider: 404 and 403.
    assert (
        officer.get(
            f"/councils/{unique('CO')}/carer-days", params={"from": DAY, "to": DAY}
        ).status_code
        == 404
    )
    assert (
        manager.get(
            f"/councils/{world.council_id}/carer-days", params={"from": DAY, "to": DAY}
        ).status_code
        == 403
    )


def test_the_council_sees_the_figures_once_there_are_enough_carer_days(
    settings: Settings, world: CarerWorld
) -> None:
    shown = settings.model_copy(update={"carer_day_min_cell": 1})
    for officer in client_for(shown, Role.COUNCIL_OFFICER, council_id=world.council_id):
        body = officer.get(
            f"/councils/{world.council_id}/carer-days", params={"from": DAY, "to": DAY}
        ).json()
    [provider] = body["providers"]
    assert provider["withheld"] is False
    assert (provider["contact_minutes"], provider["travel_minutes"]) == (125, 37)
    assert provider["travel_minutes_per_contact_hour"] == 17.8


def test_bad_periods_and_rates_are_refused(manager: TestClient, world: CarerWorld) -> None:
    base = f"/providers/{world.provider_id}"
    assert (
        manager.get(f"{base}/carer-days.csv", params={"from": DAY, "to": "2026-01-14"}).status_code
        == 422
    )
    assert (
        manager.get(
            f"{base}/carer-days.csv", params={"from": "2026-01-01", "to": "2026-06-30"}
        ).status_code
        == 422
    )
    for bad in ({"hourly_rate_gbp": "0"}, {"hourly_rate_gbp": "12.715"}, {"extra": 1}):
        body = {"effective_from": DAY, "hourly_rate_gbp": "12.71", "travel_paid": True, **bad}
        assert manager.put(f"{base}/pay-rate", json=body).status_code == 422, bad


def test_setting_a_telephone_pin(
    manager: TestClient, settings: Settings, engine: Engine, world: CarerWorld
) -> None:
    generated = manager.put(f"/carers/{world.carer_id}/telephone-pin")
    assert generated.status_code == 200, generated.text
    pin = generated.json()["pin"]
    assert pin is not None and pin.isdigit() and len(pin) == 6
    chosen = manager.put(f"/carers/{world.carer_id}/telephone-pin", json={"pin": "4711"})
    assert chosen.status_code == 200 and chosen.json()["pin"] is None
    assert (
        manager.put(f"/carers/{world.carer_id}/telephone-pin", json={"pin": "12"}).status_code
        == 422
    )
    with engine.connect() as conn:
        stored = conn.execute(
            text("select pin_hash from carer_pin where carer_id = :c"), {"c": world.carer_id}
        ).scalar_one()
    assert stored.startswith("$argon2id$") and "4711" not in stored
