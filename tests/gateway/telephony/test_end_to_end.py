"""A visit called in from the home's landline, end to end on the real servers: the simulated
provider's webhooks, the bridge's signed events over MQTT with its own certificate, ingest, the
event store and the visit builder, to a visit verified `landline`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from core.settings import Settings
from gateway.evidence.keys import KeyRing
from gateway.protocol import EventClaims, EventType, LandlineCall, events_topic, sign_compact
from gateway.telephony import bridges, repository
from tests.gateway.telephony.phone_support import (
    Clock,
    bridge_events,
    call,
    make_phone_world,
    telephony_app,
)
from tests.support.devices import TestDevice
from tests.support.evidence import quarantined, stored_events
from tests.support.polling import wait_until
from visits.builder import build_day
from visits.days import london_date

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ingest_worker")]


def visit_rows(engine: Engine, service_user_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select v.*, c.device_id, c.verification as stay_verification, "
                "(select array_agg(code) from visit_anomaly a where a.visit_id = v.id) codes "
                "from visit v join visit_carer c on c.visit_id = v.id "
                "where v.service_user_id = :su"
            ),
            {"su": service_user_id},
        ).mappings()
        return [dict(row) for row in rows]


def test_a_visit_called_in_from_the_landline_is_a_visit_verified_landline(
    engine: Engine, settings: Settings
) -> None:
    world = make_phone_world(engine, settings)
    arrived = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=32)
    clock = Clock(arrived)
    with telephony_app(settings, clock) as phone:
        check_in = call(phone, world, world.keys())
        clock.advance(minutes=30)
        check_out = call(phone, world, world.keys())
        other = call(phone, world, world.keys(world.other_carer))
        assert check_in.last_said.startswith("Checked in at")
        assert check_out.last_said.startswith("Checked out at")

        def stored() -> list[dict[str, Any]]:
            events = stored_events(engine, world.bridge_device_id)
            return events if len(events) == 2 else []

        events = wait_until(stored, timeout_s=60)
        [refused_event] = bridge_events(engine, other.call_sid)
        [refused] = wait_until(
            lambda: quarantined(engine, event_id=str(refused_event["event_id"])), timeout_s=60
        )
        published = wait_until(
            lambda: all(
                e["published_at"]
                for c in (check_in, check_out)
                for e in bridge_events(engine, c.call_sid)
            ),
            timeout_s=30,
        )
        assert published
    assert [e["event_type"] for e in events] == ["check_in", "check_out"]
    assert {e["evidence_level"] for e in events} == {"landline"}
    assert {e["provider_id"] for e in events} == {world.provider_id}
    assert {e["protocol_version"] for e in events} == {2}
    assert events[0]["claims"]["landline"] == {
        "caller": world.landline,
        "called": world.number,
        "call_id": check_in.call_sid,
    }
    # The carer of another provider proved who they were on this provider's number: the event
    # was signed for the record, and ingest refused it as any other such event.
    assert refused["reason"] == "carer_not_with_provider"

    with engine.begin() as conn:
        build_day(conn, settings, london_date(arrived), service_user_ids=[world.service_user_id])
    [visit] = visit_rows(engine, world.service_user_id)
    assert visit["verification"] == visit["stay_verification"] == "landline"
    assert visit["device_id"] == world.bridge_device_id
    assert (visit["status"], visit["minutes"]) == ("unplanned", 30)
    assert visit["check_in"] == arrived


def test_ingest_refuses_a_landline_call_from_a_handset_and_from_the_wrong_line(
    engine: Engine,
    settings: Settings,
    make_device: Callable[[], TestDevice],
    publisher: Callable[[str, str | bytes], None],
) -> None:
    world = make_phone_world(engine, settings)
    now = datetime.now(UTC)
    handset = make_device()
    claims, _ = handset.event(EventType.CHECK_IN, now)
    claims = claims.model_copy(
        update={
            "ver": 2,
            "landline": LandlineCall(caller=world.landline, called=world.number, call_id="CA1"),
        }
    )
    publisher(handset.topic, sign_compact(claims.to_json(), handset.key, kid=handset.device_id))

    with engine.begin() as conn:
        device = repository.bridge_device(conn, world.provider_id)
        assert device is not None
        signer = bridges.open_signer(KeyRing(settings.master_key), device)
        seqs = [repository.take_seq(conn, signer.device_id) for _ in range(2)]
    ids = [uuid.uuid4(), uuid.uuid4()]
    # The other home's landline, claimed for this home; and a bridge event without a call.
    wrong_line = EventClaims.build(
        event_id=ids[0],
        device_id=signer.device_id,
        carer_id=world.carer.carer_id,
        seq=seqs[0],
        type=EventType.CHECK_IN,
        device_time=now,
        service_user_id=world.service_user_id,
        landline=LandlineCall(caller=world.other_landline, called=world.number, call_id="CA2"),
    )
    no_call = EventClaims.build(
        event_id=ids[1],
        device_id=signer.device_id,
        carer_id=world.carer.carer_id,
        seq=seqs[1],
        type=EventType.CHECK_IN,
        device_time=now,
        service_user_id=world.service_user_id,
    )
    for claims_ in (wrong_line, no_call):
        publisher(
            events_topic(signer.device_id),
            sign_compact(claims_.to_json(), signer.key, kid=signer.device_id),
        )

    [from_handset] = wait_until(lambda: quarantined(engine, device_id=handset.device_id))
    assert from_handset["reason"] == "landline_not_bridge"
    [wrong] = wait_until(lambda: quarantined(engine, event_id=str(ids[0])))
    assert wrong["reason"] == "landline_wrong_home"
    [missing] = wait_until(lambda: quarantined(engine, event_id=str(ids[1])))
    assert missing["reason"] == "landline_not_bridge"
    assert stored_events(engine, signer.device_id) == []
