"""A simulated handset signs events the server can verify, and tampering breaks them."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from firmware_sim.handset import TAPS_PER_DAY, Handset, HomeDevices
from firmware_sim.morning import tamper
from firmware_sim.world import SimServiceUser, World, generate_world
from gateway.evidence import sun, totp
from gateway.protocol import (
    EventClaims,
    EventType,
    GpsFix,
    Rejected,
    Rejection,
    events_topic,
    parse_compact,
    public_key_from_b64,
)


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(
        5, providers=2, carers=4, service_users=6, visits=12, day=date(2026, 3, 2)
    )


def _key(world: World, device_id: str) -> Ed25519PublicKey:
    devices = {d.id: d for d in world.registry_document().devices}
    return public_key_from_b64(devices[device_id].public_key)


def assert_home_evidence(claims: EventClaims, home: SimServiceUser) -> None:
    """A tag home gets a tap that verifies to its tag; a fob home its code; else neither."""
    if home.home_device == "tag":
        assert claims.tag is not None and claims.code is None
        assert home.tag_meta_read_key and home.tag_file_read_key
        tap = sun.verify(
            bytes.fromhex(home.tag_meta_read_key),
            bytes.fromhex(home.tag_file_read_key),
            sun.SunMessage(bytes.fromhex(claims.tag.picc), bytes.fromhex(claims.tag.mac)),
        )
        assert tap.uid_hex == home.tag_uid
    elif home.home_device == "fob":
        assert claims.tag is None and claims.code is not None and home.fob_secret
        assert totp.verify_code(bytes.fromhex(home.fob_secret), claims.code, claims.device_time)
    else:
        assert claims.tag is None and claims.code is None


def test_taps_of_one_home_count_up_across_handsets(world: World) -> None:
    home = next(su for su in world.service_users if su.home_device == "tag")
    assert home.tag_meta_read_key and home.tag_file_read_key
    visit = next(v for v in world.visits if v.service_user_id == home.id)
    devices = HomeDevices.for_world(world, random.Random(3))
    first, second = (
        Handset.for_carer(world, carer.id, devices=devices) for carer in world.carers[:2]
    )
    taps = [
        first.check_in(visit, visit.planned_start),
        second.check_in(visit, visit.planned_start),
        first.check_out(visit, visit.planned_end),
    ]
    counters = []
    for event in taps:
        assert event.claims.tag is not None
        message = sun.SunMessage(
            bytes.fromhex(event.claims.tag.picc), bytes.fromhex(event.claims.tag.mac)
        )
        meta, file = bytes.fromhex(home.tag_meta_read_key), bytes.fromhex(home.tag_file_read_key)
        counters.append(sun.verify(meta, file, message).counter)
    start = devices.tags[home.id].counter - 3  # where this day's taps began
    assert counters == [start + 1, start + 2, start + 3]


def test_each_day_starts_where_the_tags_left_off(world: World) -> None:
    """A tag's counter never goes back, so a later day's world starts its tags higher."""
    home = next(su for su in world.service_users if su.home_device == "tag")
    later = world.model_copy(update={"day": world.day + timedelta(days=1)})
    today = HomeDevices.for_world(world).tags[home.id].counter
    tomorrow = HomeDevices.for_world(later).tags[home.id].counter
    assert tomorrow == today + TAPS_PER_DAY


def test_check_in_and_out_carry_the_visit_and_home(world: World) -> None:
    visit = world.visits[0]
    carer = visit.carer_ids[0]
    handset = Handset.for_carer(world, carer, rng=random.Random(1))
    home = world.service_user(visit.service_user_id)

    check_in = handset.check_in(visit, visit.planned_start)
    check_out = handset.check_out(visit, visit.planned_end)

    assert check_in.claims.type is EventType.CHECK_IN
    assert check_out.claims.type is EventType.CHECK_OUT
    for event in (check_in, check_out):
        claims = event.claims
        assert event.topic == events_topic(world.handset_for(carer).device_id)
        assert event.event_id == claims.event_id
        assert claims.carer_id == carer
        assert claims.service_user_id == home.id
        assert_home_evidence(claims, home)
        assert claims.gps is not None
        north = (claims.gps.lat - home.home_lat) * 111_320
        east = (claims.gps.lon - home.home_lon) * 111_320 * math.cos(math.radians(home.home_lat))
        assert math.hypot(north, east) < 30
        assert 5 <= claims.gps.accuracy_m <= 20
        assert claims.gps.fix_time <= claims.device_time
        assert claims.device_time.utcoffset() == timedelta(0)
    assert check_in.claims.device_time == visit.planned_start
    assert check_in.event_id != check_out.event_id


def test_seq_starts_at_zero_and_rises(world: World) -> None:
    visit = world.visits[0]
    handset = Handset.for_carer(world, visit.carer_ids[0])
    seqs = []
    for minute in range(5):
        at = visit.planned_start + timedelta(minutes=minute)
        event = handset.check_in(visit, at) if minute % 2 == 0 else handset.check_out(visit, at)
        seqs.append(event.claims.seq)
    assert seqs == [0, 1, 2, 3, 4]
    assert handset.seq == 5


def test_tokens_verify_and_parse_back_to_the_claims(world: World) -> None:
    visit = world.visits[-1]
    handset = Handset.for_carer(world, visit.carer_ids[0])
    event = handset.check_in(visit, visit.planned_start)
    signed = parse_compact(event.payload)
    assert signed.kid == handset.device_id
    signed.verify(_key(world, handset.device_id))
    assert EventClaims.model_validate_json(signed.payload) == event.claims


def test_without_tag_or_gps(world: World) -> None:
    visit = world.visits[0]
    handset = Handset.for_carer(world, visit.carer_ids[0])
    event = handset.check_in(visit, visit.planned_start, tag=False, gps=False)
    assert event.claims.tag is None
    assert event.claims.gps is None
    fix = GpsFix(lat=52.0, lon=1.0, accuracy_m=50, fix_time=datetime(2026, 3, 2, 7, tzinfo=UTC))
    assert handset.check_out(visit, visit.planned_end, gps=fix).claims.gps == fix


def test_naive_device_time_is_refused(world: World) -> None:
    visit = world.visits[0]
    handset = Handset.for_carer(world, visit.carer_ids[0])
    with pytest.raises(ValueError):
        handset.check_in(visit, datetime(2026, 3, 2, 7, 30))


@pytest.mark.parametrize("seed", range(40))
def test_a_tampered_token_fails_verification(world: World, seed: int) -> None:
    visit = world.visits[0]
    handset = Handset.for_carer(world, visit.carer_ids[0])
    token = handset.check_in(visit, visit.planned_start).token
    altered = tamper(token, random.Random(seed))

    assert altered != token
    assert altered.rsplit(".", 1)[0] == token.rsplit(".", 1)[0]  # header and claims untouched
    differing = [a != b for a, b in zip(altered, token, strict=True)]
    assert sum(differing) == 1
    with pytest.raises(Rejected) as refused:
        parse_compact(altered.encode()).verify(_key(world, handset.device_id))
    assert refused.value.reason is Rejection.BAD_SIGNATURE
