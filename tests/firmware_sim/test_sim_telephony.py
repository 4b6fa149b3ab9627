"""A telephony world and its morning: numbers, carer numbers, PINs and landlines, and the calls
carers place instead of tapping where a home has a landline and no tag or fob."""

from __future__ import annotations

import random
from datetime import date

import pytest

from firmware_sim.morning import LandlineCall, prepare_morning, publish_morning
from firmware_sim.world import generate_world
from gateway.protocol import EventType
from gateway.telephony.numbers import to_e164

DAY = date(2026, 3, 2)


def test_a_telephony_world_registers_numbers_and_landlines_and_keeps_the_rest() -> None:
    plain = generate_world(5, day=DAY)
    world = generate_world(5, day=DAY, telephony=True)
    assert world.visits == plain.visits
    assert [h.private_key for h in world.handsets] == [h.private_key for h in plain.handsets]
    document = world.registry_document("LA1")
    assert len(document.telephony_numbers) == len(world.providers)
    numbers = [c.carer_number for c in document.carers]
    assert None not in numbers and len(set(numbers)) == len(numbers)
    lines = [su.landline for su in document.service_users if su.landline]
    assert len(set(lines)) == len(lines) and all(to_e164(line) == line for line in lines)
    # Every home without a tag or fob has a landline.
    assert all(su.landline for su in world.service_users if su.home_device == "none")
    assert all(c.pin and len(c.pin) == 6 for c in world.carers)


def test_carers_call_in_from_homes_with_a_landline_and_no_tag_or_fob() -> None:
    world = generate_world(5, visits=120, day=DAY, telephony=True)
    morning = prepare_morning(world, rng=random.Random(5), landline_calls=True)
    by_phone = [cv for cv in morning.carer_visits if cv.by_landline]
    assert by_phone, "the world has homes with a landline and no tag or fob"
    for cv in by_phone:
        home = world.service_user(cv.visit.service_user_id)
        assert home.home_device == "none" and home.landline
    assert len(morning.calls) == 2 * len(by_phone)
    assert [c.at for c in morning.calls] == sorted(c.at for c in morning.calls)
    # No handset event for a visit called in.
    phoned = {cv.visit.visit_ref for cv in by_phone}
    assert not [
        e
        for e in morning.events
        if e.claims.service_user_id in {cv.visit.service_user_id for cv in by_phone}
        and any(e.claims.device_time == cv.arrived for cv in by_phone)
    ]
    first = morning.calls[0]
    carer = world.carer(first.carer_id)
    assert first.keyed == [carer.carer_number, carer.pin]
    assert first.type is EventType.CHECK_IN and first.visit_ref in phoned
    assert morning.expected_complete >= len(by_phone)


class RecordingUplink:
    """Stands in for the broker connection: what is published and when, as the phone sees it."""

    outbox = None

    def __init__(self, log: list[tuple[str, object]]) -> None:
        self.log = log
        self.acked = 0

    def keep(self, events: object) -> None:
        pass

    def publish(self, topic: str, payload: object, *args: object) -> None:
        self.log.append(("event", payload))
        self.acked += 1

    def flush(self, timeout: float = 0) -> bool:
        return True


def test_calls_are_placed_in_the_mornings_time_order_among_the_events() -> None:
    world = generate_world(5, visits=120, day=DAY, telephony=True)
    morning = prepare_morning(world, rng=random.Random(5), landline_calls=True)
    log: list[tuple[str, object]] = []

    def phone(call: LandlineCall) -> bool:
        log.append(("call", call))
        return True

    uplink = RecordingUplink(log)
    result = publish_morning(world, morning, uplink, phone=phone)  # type: ignore[arg-type]
    assert (result.calls_placed, result.calls_recorded) == (len(morning.calls), len(morning.calls))
    times = {e.payload: e.claims.device_time for e in morning.events}
    moments = [
        item.at if isinstance(item, LandlineCall) else times[item]  # type: ignore[index]
        for _, item in log
    ]
    assert len(moments) == len(morning.events) + len(morning.calls)
    assert moments == sorted(moments)
    with pytest.raises(ValueError, match="landline calls"):
        publish_morning(world, morning, uplink)  # type: ignore[arg-type]
