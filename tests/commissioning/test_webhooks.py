"""A provider's webhook endpoint hears of each offer made to it: signed as alert webhooks are,
retried on failure, and carrying no personal data."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, text

from commissioning import webhooks
from commissioning.model import LONDON
from core.settings import Settings
from tests.commissioning.support import lot_world
from tests.visits.alerts_support import Receiver
from visits.webhooks import register_endpoint, verify_signature

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=LONDON)
DOC = Path(__file__).resolve().parents[2] / "docs" / "service-requests.md"


def documented_body() -> dict[str, object]:
    """The `request.offered` body shown in docs/service-requests.md."""
    block = re.search(r"```json\n(.*?)```", DOC.read_text(), flags=re.S)
    assert block is not None
    body: dict[str, object] = json.loads(block.group(1))
    return body


def test_an_offer_is_delivered_signed_and_retried(engine: Engine, settings: Settings) -> None:
    world = lot_world(engine)
    with Receiver(failures=1) as receiver, httpx.Client() as http:
        with engine.begin() as conn:
            endpoint_id, secret = register_endpoint(conn, settings, world.lead, receiver.url)
        request_id = world.request(NOW)
        webhooks.deliver_due(engine, settings, http, now=NOW)
        # The first attempt failed (HTTP 500); the retry waits the alert webhooks' backoff.
        webhooks.deliver_due(engine, settings, http, now=NOW + timedelta(seconds=1.9))
        assert len([r for r in receiver.requests if r[2] == 500]) == 1
        webhooks.deliver_due(engine, settings, http, now=NOW + timedelta(seconds=2))
    mine = [r for r in receiver.requests if json.loads(r[1])["request_id"] == request_id]
    [(_, _, first), (headers, body, status)] = mine
    assert (first, status) == (500, 204)
    assert headers["X-ECM-Event"] == "request.offered"
    assert headers["X-ECM-Delivery"].startswith("request-")
    assert verify_signature(
        secret,
        headers["X-ECM-Timestamp"],
        body,
        headers["X-ECM-Signature"],
        now=NOW + timedelta(seconds=2),
    )
    payload = json.loads(body)
    assert set(payload) == set(documented_body())
    offer = world.offers(request_id)[0]
    assert payload["offer_id"] == offer["id"] and payload["role"] == "lead"
    assert payload["deadline"] == offer["deadline"].isoformat()
    assert payload["weekly_hours"] == 10.5
    # The person is not named: the provider reads the request through the audited API.
    service_user = world.request_row(request_id)["service_user_id"]
    assert service_user not in body.decode()
    with engine.connect() as conn:
        attempts = conn.execute(
            text(
                "select d.status, d.attempts from request_webhook_delivery d "
                "join request_notification n on n.id = d.notification_id "
                "where d.endpoint_id = :e and n.request_id = :r"
            ),
            {"e": endpoint_id, "r": request_id},
        ).all()
    assert [tuple(a) for a in attempts] == [("delivered", 2)]
