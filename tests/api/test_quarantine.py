from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from api.app import create_app
from api.deps import Principal, current_principal
from core.settings import Settings
from gateway.protocol import Rejection
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


def quarantined_so_far(engine: Engine, reason: Rejection) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("select count(*) from quarantined_message where reason = :r"), {"r": reason}
            ).scalar_one()
        )


def test_lists_quarantined_messages_by_reason(client: TestClient, engine: Engine) -> None:
    # Other tests quarantine too: the rows this test writes are the last of their reason.
    reason = Rejection.MALFORMED
    before = quarantined_so_far(engine, reason)
    event_id = uuid.uuid4()
    first = quarantine(engine, reason, b"not json", device_id="D1", event_id=event_id)
    other = quarantine(engine, Rejection.NOT_JWS, b"x")
    second = quarantine(engine, reason, b"\xff\xfe{bad")

    response = client.get("/quarantine", params={"reason": reason, "offset": before})

    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_offset"] is None
    assert other not in [item["id"] for item in page["items"]]
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
    reason = Rejection.POISON
    before = quarantined_so_far(engine, reason)
    ids = [quarantine(engine, reason, b"x") for _ in range(3)]

    params: dict[str, Any] = {"reason": reason}
    first = client.get("/quarantine", params={**params, "offset": before, "limit": 2}).json()
    rest = client.get("/quarantine", params={**params, "offset": before + 2}).json()

    assert [m["id"] for m in first["items"]] == ids[:2]
    assert first["next_offset"] == before + 2
    assert [m["id"] for m in rest["items"]] == ids[2:]


def test_the_database_refuses_a_reason_the_protocol_does_not_name(engine: Engine) -> None:
    with pytest.raises(IntegrityError, match="quarantined_message_reason_check"):
        quarantine(engine, unique("reason-"), b"x")


def test_quarantine_is_for_administrators_only(settings: Settings) -> None:
    app = create_app(settings)
    app.dependency_overrides[current_principal] = lambda: Principal(
        subject="manager", roles=frozenset({"manager"}), provider_id="P1"
    )
    with TestClient(app) as client:
        response = client.get("/quarantine")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
