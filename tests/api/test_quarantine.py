from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.deps import Principal, current_principal
from core.settings import Settings
from tests.api.api_support import client_for
from tests.support.ids import unique


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    yield from client_for(settings)


def quarantine(engine: Engine, reason: str, payload: bytes, **columns: Any) -> int:
    with engine.begin() as conn:
        row_id: int = conn.execute(
            text(
                "insert into quarantined_message "
                "(received_at, topic, payload, reason, detail, device_id, event_id) "
                "values (:received_at, :topic, :payload, :reason, :detail, :device_id, "
                ":event_id) returning id"
            ),
            {
                "received_at": datetime(2026, 2, 3, 9, 0, tzinfo=UTC),
                "topic": "ecm/v1/devices/D1/events",
                "payload": payload,
                "reason": reason,
                "detail": "test",
                "device_id": None,
                "event_id": None,
                **columns,
            },
        ).scalar_one()
    return row_id


def test_lists_quarantined_messages_by_reason(client: TestClient, engine: Engine) -> None:
    reason = unique("reason-")
    event_id = uuid.uuid4()
    first = quarantine(engine, reason, b"not json", device_id="D1", event_id=event_id)
    second = quarantine(engine, reason, b"\xff\xfe{bad")
    quarantine(engine, unique("other-"), b"x")

    response = client.get("/quarantine", params={"reason": reason})

    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_offset"] is None
    assert page["items"] == [
        {
            "id": first,
            "received_at": "2026-02-03T09:00:00Z",
            "topic": "ecm/v1/devices/D1/events",
            "reason": reason,
            "detail": "test",
            "device_id": "D1",
            "event_id": str(event_id),
            "payload": "not json",
        },
        {
            "id": second,
            "received_at": "2026-02-03T09:00:00Z",
            "topic": "ecm/v1/devices/D1/events",
            "reason": reason,
            "detail": "test",
            "device_id": None,
            "event_id": None,
            "payload": "\ufffd\ufffd{bad",
        },
    ]


def test_pages_with_limit_and_offset(client: TestClient, engine: Engine) -> None:
    reason = unique("reason-")
    ids = [quarantine(engine, reason, b"x") for _ in range(3)]

    first = client.get("/quarantine", params={"reason": reason, "limit": 2}).json()
    rest = client.get("/quarantine", params={"reason": reason, "offset": 2}).json()

    assert [m["id"] for m in first["items"]] == ids[:2]
    assert first["next_offset"] == 2
    assert [m["id"] for m in rest["items"]] == ids[2:]


def test_quarantine_is_for_administrators_only(settings: Settings) -> None:
    app = create_app(settings)
    app.dependency_overrides[current_principal] = lambda: Principal(
        subject="manager", roles=frozenset({"manager"}), provider_id="P1"
    )
    with TestClient(app) as client:
        response = client.get("/quarantine")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
