from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.times import LONDON
from core.settings import Settings
from gateway.protocol import EventType
from gateway.registry import Carer, RegistryDocument, ServiceUser, seed
from tests.api.api_support import client_for, insert_event, utc
from tests.support.devices import TestDevice
from tests.support.ids import unique

IN = EventType.CHECK_IN
OUT = EventType.CHECK_OUT


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    yield from client_for(settings)


def visits(client: TestClient, provider_id: str, **params: str) -> list[dict[str, Any]]:
    response = client.get(f"/providers/{provider_id}/visits", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def stay(visit: dict[str, Any]) -> dict[str, Any]:
    [only] = visit["carers"]
    return dict(only)


def test_check_in_then_check_out_is_one_complete_visit(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    check_in = insert_event(engine, d, IN, utc("2026-02-03T09:00:00"), tag_uid=d.tag_uid)
    check_out = insert_event(engine, d, OUT, utc("2026-02-03T09:45:30"))

    [visit] = visits(client, d.provider_id)

    # Stored long after their device time, as a backfill would be (not marked late-arriving).
    assert [(a["code"], a["event_id"]) for a in visit["anomalies"]] == [
        ("device_clock_skew", str(check_in)),
        ("device_clock_skew", str(check_out)),
    ]
    assert {k: v for k, v in visit.items() if k != "anomalies"} == {
        "id": str(check_in),
        "provider_id": d.provider_id,
        "service_user_id": d.service_user_id,
        "london_day": "2026-02-03",
        "planned_visit_ref": None,
        "planned_start": None,
        "planned_minutes": None,
        "carers_required": None,
        "check_in": "2026-02-03T09:00:00Z",
        "check_out": "2026-02-03T09:45:30Z",
        "minutes": 45,
        "status": "unplanned",
        "verification": "none",
        "corrections_pending": 0,
        "carers": [
            {
                "carer_id": d.carer_id,
                "device_id": d.device_id,
                "check_in": "2026-02-03T09:00:00Z",
                "check_out": "2026-02-03T09:45:30Z",
                "check_in_event_id": str(check_in),
                "check_out_event_id": str(check_out),
                "verification": "none",
                "correction_id": None,
            }
        ],
    }
    response = client.get(f"/providers/{d.provider_id}/visits/{check_in}")
    assert response.status_code == 200
    assert response.json() == visit


def test_check_in_followed_by_check_in_leaves_the_first_open(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    first = insert_event(engine, d, IN, utc("2026-02-03T09:00:00"))
    second = insert_event(engine, d, IN, utc("2026-02-03T10:00:00"))
    out = insert_event(engine, d, OUT, utc("2026-02-03T10:20:00"))
    last = insert_event(engine, d, IN, utc("2026-02-03T18:00:00"))

    found = visits(client, d.provider_id)

    assert [
        (stay(v)["check_in_event_id"], stay(v)["check_out_event_id"], v["status"]) for v in found
    ] == [
        (str(first), None, "open"),
        (str(second), str(out), "unplanned"),
        (str(last), None, "open"),
    ]
    assert found[0]["minutes"] is None
    assert found[0]["check_out"] is None
    assert found[1]["minutes"] == 20


def test_check_out_without_check_in_is_open_with_no_check_in(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    orphan = insert_event(engine, d, OUT, utc("2026-02-03T08:00:00"))
    insert_event(engine, d, IN, utc("2026-02-03T09:00:00"), tag_uid=d.tag_uid)
    insert_event(engine, d, OUT, utc("2026-02-03T09:30:00"))
    second_orphan = insert_event(engine, d, OUT, utc("2026-02-03T09:40:00"))

    found = visits(client, d.provider_id)

    assert [v["status"] for v in found] == ["open", "unplanned", "open"]
    for visit, event_id, time in [
        (found[0], orphan, "2026-02-03T08:00:00Z"),
        (found[2], second_orphan, "2026-02-03T09:40:00Z"),
    ]:
        assert visit["id"] == str(event_id)
        assert visit["check_in"] is None
        assert stay(visit)["check_in_event_id"] is None
        assert stay(visit)["check_out_event_id"] == str(event_id)
        assert stay(visit)["check_out"] == time
        assert visit["minutes"] is None


def test_two_visits_in_a_row(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    for start in ("2026-02-03T09:00:00", "2026-02-03T09:30:00"):
        insert_event(engine, d, IN, utc(start), tag_uid=d.tag_uid)
        insert_event(engine, d, OUT, utc(start) + timedelta(minutes=15))

    found = visits(client, d.provider_id)

    assert [(v["check_in"], v["check_out"], v["status"]) for v in found] == [
        ("2026-02-03T09:00:00Z", "2026-02-03T09:15:00Z", "unplanned"),
        ("2026-02-03T09:30:00Z", "2026-02-03T09:45:00Z", "unplanned"),
    ]


def test_equal_device_times_pair_in_sequence_order(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    at = utc("2026-02-03T09:00:00")
    insert_event(engine, d, IN, at)
    insert_event(engine, d, OUT, at)

    [visit] = visits(client, d.provider_id)

    assert (visit["status"], visit["minutes"]) == ("unplanned", 0)


def test_visit_across_midnight_belongs_to_its_check_in_day(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    # January: London is on GMT, so London midnight is 00:00Z.
    insert_event(engine, d, IN, utc("2026-01-10T23:30:00"))
    check_out = insert_event(engine, d, OUT, utc("2026-01-11T00:45:00"))
    next_morning = insert_event(engine, d, IN, utc("2026-01-11T08:00:00"))

    [late] = visits(client, d.provider_id, date="2026-01-10")
    [morning] = visits(client, d.provider_id, date="2026-01-11")

    assert stay(late)["check_out_event_id"] == str(check_out)
    assert late["status"] == "unplanned"
    assert late["minutes"] == 75
    # The 00:45 check-out is not an orphan on the 11th: it was paired with the 10th's check-in.
    assert stay(morning)["check_in_event_id"] == str(next_morning)
    assert morning["status"] == "open"


def test_pairing_reaches_to_the_end_of_the_next_day_only(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    insert_event(engine, d, IN, utc("2026-01-05T10:00:00"))
    insert_event(engine, d, OUT, utc("2026-01-06T20:00:00"))
    insert_event(engine, d, IN, utc("2026-01-08T10:00:00"))
    insert_event(engine, d, OUT, utc("2026-01-10T10:00:00"))

    [visit] = visits(client, d.provider_id, date="2026-01-05")
    assert (visit["status"], visit["minutes"]) == ("unplanned", 34 * 60)
    assert visits(client, d.provider_id, date="2026-01-06") == []
    # Two days apart: no home-care stay lasts that long, so both ends stay open.
    [started] = visits(client, d.provider_id, date="2026-01-08")
    [ended] = visits(client, d.provider_id, date="2026-01-10")
    assert (started["status"], ended["status"]) == ("open", "open")
    assert ended["check_in"] is None


def test_date_is_the_london_date_in_summer_time(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    # 23:30Z on 1 June is 00:30 BST on 2 June.
    insert_event(engine, d, IN, utc("2026-06-01T23:30:00"))
    insert_event(engine, d, OUT, utc("2026-06-02T00:10:00"))

    assert visits(client, d.provider_id, date="2026-06-01") == []
    [visit] = visits(client, d.provider_id, date="2026-06-02")
    assert visit["check_in"] == "2026-06-01T23:30:00Z"
    assert visit["london_day"] == "2026-06-02"


def test_check_out_only_visit_is_dated_by_its_check_out(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    insert_event(engine, d, OUT, utc("2026-06-01T23:15:00"))

    assert visits(client, d.provider_id, date="2026-06-01") == []
    [visit] = visits(client, d.provider_id, date="2026-06-02")
    assert (visit["check_in"], stay(visit)["check_out"]) == (None, "2026-06-01T23:15:00Z")


def seed_colleagues(engine: Engine, d: TestDevice) -> tuple[str, str]:
    """A second carer of the same provider and a second service user."""
    carer_id, service_user_id = unique("C"), unique("SU")
    with engine.begin() as conn:
        seed(
            conn,
            RegistryDocument(
                carers=[Carer(id=carer_id, provider_id=d.provider_id, name="Cal Carer")],
                service_users=[ServiceUser(id=service_user_id, name="Dee User")],
            ),
        )
    return carer_id, service_user_id


def test_filters_by_service_user_and_carer(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    other_carer, other_user = seed_colleagues(engine, d)
    start = utc("2026-03-04T09:00:00")
    for hours, carer_id, service_user_id in [
        (0, d.carer_id, d.service_user_id),
        (1, d.carer_id, other_user),
        (2, other_carer, d.service_user_id),
    ]:
        at = start + timedelta(hours=hours)
        who: dict[str, Any] = {"carer_id": carer_id, "service_user_id": service_user_id}
        insert_event(engine, d, IN, at, **who)
        insert_event(engine, d, OUT, at + timedelta(minutes=30), **who)

    def pairs(**params: str) -> list[tuple[str, str]]:
        return [
            (stay(v)["carer_id"], v["service_user_id"])
            for v in visits(client, d.provider_id, **params)
        ]

    assert pairs(service_user_id=other_user) == [(d.carer_id, other_user)]
    assert pairs(carer_id=other_carer) == [(other_carer, d.service_user_id)]
    assert pairs(carer_id=d.carer_id, service_user_id=d.service_user_id) == [
        (d.carer_id, d.service_user_id)
    ]
    assert len(pairs(date="2026-03-04")) == 3
    assert pairs(service_user_id="nobody") == []
    assert len(pairs(status="unplanned")) == 3
    assert pairs(status="missed") == []


def test_pairing_is_per_carer_and_another_carers_stay_joins_the_visit(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    other_carer, _ = seed_colleagues(engine, d)
    insert_event(engine, d, IN, utc("2026-03-04T09:00:00"))
    # Another carer's check-out in between must not close this carer's visit.
    insert_event(engine, d, OUT, utc("2026-03-04T09:10:00"), carer_id=other_carer)
    insert_event(engine, d, OUT, utc("2026-03-04T09:30:00"))

    [visit] = visits(client, d.provider_id)

    # Two carers at the home at once are one (double-handed) visit; the other carer's stay
    # has no check-in, so the visit is open.
    assert [(c["carer_id"], c["check_in"], c["check_out"]) for c in visit["carers"]] == [
        (d.carer_id, "2026-03-04T09:00:00Z", "2026-03-04T09:30:00Z"),
        (other_carer, None, "2026-03-04T09:10:00Z"),
    ]
    assert visit["status"] == "open"


def test_summary_counts_complete_and_open(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    insert_event(engine, d, IN, utc("2026-04-01T09:00:00"))
    insert_event(engine, d, OUT, utc("2026-04-01T09:30:00"))
    insert_event(engine, d, IN, utc("2026-04-01T10:00:00"))
    insert_event(engine, d, IN, utc("2026-04-01T22:50:00"))  # 23:50 BST
    insert_event(engine, d, OUT, utc("2026-04-01T23:20:00"))  # 00:20 BST on the 2nd
    insert_event(engine, d, OUT, utc("2026-04-02T08:00:00"))

    def summary(**params: str) -> dict[str, Any]:
        response = client.get(f"/providers/{d.provider_id}/visits/summary", params=params)
        assert response.status_code == 200, response.text
        counts: dict[str, Any] = response.json()
        return counts

    assert summary(date="2026-04-01") == {
        "complete": 2,
        "open": 1,
        "by_status": {"unplanned": 2, "open": 1},
    }
    assert summary(date="2026-04-02") == {"complete": 0, "open": 1, "by_status": {"open": 1}}
    assert summary(date="2026-04-03") == {"complete": 0, "open": 0, "by_status": {}}
    assert summary()["complete"] == 2
    assert summary()["open"] == 2


def test_day_queries_agree_with_pairing_the_whole_history(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    """A visit's London day is the day of its first stay's first event, across the spring
    clock change, and the dated query returns exactly that day's visits."""
    d = make_device()
    other_carer, other_user = seed_colleagues(engine, d)
    rng = random.Random(20260329)  # spans the spring clock change
    at = utc("2026-03-27T00:00:00")
    for _ in range(60):
        at += timedelta(minutes=rng.choice([5, 40, 200, 700, 1500]))
        who: dict[str, Any] = {
            "carer_id": rng.choice([d.carer_id, other_carer]),
            "service_user_id": rng.choice([d.service_user_id, other_user]),
        }
        insert_event(engine, d, rng.choice([IN, OUT]), at, **who)

    everything = visits(client, d.provider_id, limit="5000")
    by_day: dict[date, list[dict[str, Any]]] = {}
    for visit in everything:
        first = min(stamp for c in visit["carers"] for stamp in (c["check_in"] or c["check_out"],))
        day = utc(first.removesuffix("Z")).astimezone(LONDON).date()
        assert visit["london_day"] == day.isoformat()
        by_day.setdefault(day, []).append(visit)

    day = date(2026, 3, 26)
    while day <= at.astimezone(LONDON).date() + timedelta(days=1):
        assert visits(client, d.provider_id, date=day.isoformat()) == by_day.get(day, []), day
        day += timedelta(days=1)


def test_limit_and_offset_page_through_visits(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    for minute in range(5):
        insert_event(engine, d, IN, utc("2026-05-05T09:00:00") + timedelta(minutes=minute))

    response = client.get(f"/providers/{d.provider_id}/visits", params={"limit": 2})
    assert response.json()["next_offset"] == 2
    response = client.get(f"/providers/{d.provider_id}/visits", params={"limit": 2, "offset": 4})
    assert len(response.json()["items"]) == 1
    assert response.json()["next_offset"] is None


@pytest.mark.parametrize("path", ["visits", "visits/summary"])
def test_unknown_provider_is_404_with_the_error_body(client: TestClient, path: str) -> None:
    response = client.get(f"/providers/{unique('nope')}/{path}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert set(response.json()["error"]) == {"code", "message"}


def test_bad_date_is_422_with_the_error_body(
    client: TestClient, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()

    response = client.get(f"/providers/{d.provider_id}/visits", params={"date": "2026-13-01"})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "date" in error["message"]
    assert error["details"][0]["loc"] == ["query", "date"]
