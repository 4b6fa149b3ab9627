from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.settings import Settings
from gateway.protocol import EventType, GpsFix
from tests.api.api_support import client_for, insert_event, utc
from tests.support.devices import TestDevice
from tests.support.ids import unique

IN = EventType.CHECK_IN
OUT = EventType.CHECK_OUT


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    yield from client_for(settings)


def events(client: TestClient, provider_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/providers/{provider_id}/events", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def test_lists_events_in_device_time_order_with_gps(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    fix = GpsFix(lat=52.63, lon=1.29, accuracy_m=8.5, fix_time=utc("2026-02-03T08:59:50"))
    later = insert_event(engine, d, OUT, utc("2026-02-03T09:30:00"))
    earlier = insert_event(engine, d, IN, utc("2026-02-03T09:00:00"), tag_uid=d.tag_uid, gps=fix)

    page = events(client, d.provider_id)

    assert page["next_offset"] is None
    first, second = page["items"]
    received_at = first.pop("received_at")
    assert received_at.endswith("Z")
    assert first == {
        "event_id": str(earlier),
        "device_id": d.device_id,
        "carer_id": d.carer_id,
        "service_user_id": d.service_user_id,
        "seq": 2,
        "type": "check_in",
        "device_time": "2026-02-03T09:00:00Z",
        "tag_uid": d.tag_uid,
        "gps": {"lat": 52.63, "lon": 1.29, "accuracy_m": 8.5, "fix_time": "2026-02-03T08:59:50Z"},
    }
    assert (second["event_id"], second["type"], second["seq"]) == (str(later), "check_out", 1)
    assert second["gps"] is None
    assert second["tag_uid"] is None


def test_equal_device_times_are_ordered_by_seq(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    at = utc("2026-02-03T09:00:00")
    insert_event(engine, d, IN, at)
    insert_event(engine, d, OUT, at)

    assert [e["seq"] for e in events(client, d.provider_id)["items"]] == [1, 2]


def test_date_is_the_london_calendar_date(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    insert_event(engine, d, IN, utc("2026-06-01T22:59:59"))  # 23:59:59 BST on 1 June
    insert_event(engine, d, OUT, utc("2026-06-01T23:30:00"))  # 00:30 BST on 2 June
    insert_event(engine, d, IN, utc("2026-12-01T23:30:00"))  # GMT: still 1 December

    def times(day: str) -> list[str]:
        return [e["device_time"] for e in events(client, d.provider_id, date=day)["items"]]

    assert times("2026-06-01") == ["2026-06-01T22:59:59Z"]
    assert times("2026-06-02") == ["2026-06-01T23:30:00Z"]
    assert times("2026-12-01") == ["2026-12-01T23:30:00Z"]
    assert times("2026-12-02") == []


def test_filters_by_carer_and_service_user(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    other_carer, other_user = unique("C"), unique("SU")
    at = utc("2026-02-03T09:00:00")
    mine = insert_event(engine, d, IN, at)
    theirs = insert_event(engine, d, IN, at, carer_id=other_carer)
    elsewhere = insert_event(engine, d, IN, at, service_user_id=other_user)

    def ids(**params: str) -> list[str]:
        return [e["event_id"] for e in events(client, d.provider_id, **params)["items"]]

    assert ids(carer_id=other_carer) == [str(theirs)]
    assert ids(service_user_id=other_user) == [str(elsewhere)]
    assert ids(carer_id=d.carer_id, service_user_id=d.service_user_id) == [str(mine)]


def test_limit_and_offset_page_through_events(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    start = utc("2026-02-03T09:00:00")
    for minute in range(5):
        insert_event(engine, d, IN, start + timedelta(minutes=minute))

    first = events(client, d.provider_id, limit=2)
    last = events(client, d.provider_id, limit=2, offset=4)

    assert [e["seq"] for e in first["items"]] == [1, 2]
    assert first["next_offset"] == 2
    assert [e["seq"] for e in last["items"]] == [5]
    assert last["next_offset"] is None


def test_events_of_another_provider_are_not_listed(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d, other = make_device(), make_device()
    insert_event(engine, other, IN, utc("2026-02-03T09:00:00"))

    assert events(client, d.provider_id)["items"] == []


def test_unknown_provider_is_404_with_the_error_body(client: TestClient) -> None:
    response = client.get(f"/providers/{unique('nope')}/events")

    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": response.json()["error"]["message"]}
    }
    assert "not found" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 5001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"date": "03/02/2026"}, "date"),
    ],
)
def test_invalid_query_is_422_with_the_error_body(
    client: TestClient, make_device: Callable[[], TestDevice], params: dict[str, Any], field: str
) -> None:
    d = make_device()

    response = client.get(f"/providers/{d.provider_id}/events", params=params)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["message"]
    assert [detail["loc"] for detail in error["details"]] == [["query", field]]
    assert set(error["details"][0]) == {"loc", "message", "type"}
