"""Nothing lost between the call and ingest: an event whose publish fails stays in the
bridge's outbox and is sent later; it leaves the outbox only on ingest's receipt, so by then
it is stored, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.db import make_engine
from core.process import free_port
from core.settings import Settings
from firmware_sim.telephony import TelephonyProvider
from gateway.pki.identity import device_identity
from gateway.telephony.publisher import Publisher
from gateway.telephony.uplink import BridgeUplink
from gateway.telephony.webhook import create_app
from tests.gateway.telephony.phone_support import (
    AUTH_TOKEN,
    PUBLIC_URL,
    Clock,
    bridge_events,
    call,
    make_phone_world,
    phone_settings,
)
from tests.support.evidence import stored_events
from tests.support.polling import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ingest_worker")]


def test_an_event_the_broker_never_took_is_published_later(
    engine: Engine, settings: Settings
) -> None:
    world = make_phone_world(engine, settings)
    clock = Clock(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5))
    # No broker listens on this port: every publish fails, as in a broker outage.
    down = BridgeUplink(
        settings.mqtt_host, free_port(), lambda d: device_identity(settings.state_dir, d)
    )
    app = create_app(phone_settings(settings), clock=clock, uplink=down)
    with TestClient(app, base_url=PUBLIC_URL) as client:
        result = call(TelephonyProvider(client, PUBLIC_URL, AUTH_TOKEN), world, world.keys())
        # The carer hears "checked in" once the event is in the outbox, broker or not.
        assert result.last_said.startswith("Checked in at")
    [kept] = bridge_events(engine, result.call_sid)
    assert kept["published_at"] is None

    uplink = BridgeUplink(
        settings.mqtt_host, settings.mqtt_port, lambda d: device_identity(settings.state_dir, d)
    )
    publishing = make_engine(settings, "tests-telephony", pool_size=1)
    publisher = Publisher(publishing, uplink, timeout_s=10)
    try:

        def published() -> bool:
            publisher.release_receipted()
            publisher.publish_pending()
            [event] = bridge_events(engine, result.call_sid)
            return event["published_at"] is not None

        wait_until(published, timeout_s=120, interval_s=0.5)
    finally:
        uplink.close()
        publishing.dispose()

    def stored() -> list[dict[str, Any]]:
        return [
            e
            for e in stored_events(engine, world.bridge_device_id)
            if e["event_id"] == kept["event_id"]
        ]

    # Released by the receipt, which ingest sends after the commit: stored already.
    [event] = stored()
    assert (event["evidence_level"], event["event_type"]) == ("landline", "check_in")
    assert publisher.receipted == 1
