"""Home evidence through the real broker, ingest and database: taps, codes and GPS fixes.

Each forged or replayed tap must land in quarantine with its own reason and never be stored.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from core.settings import Settings
from firmware_sim.fob import SimFob
from firmware_sim.tag import SimTag
from gateway.evidence import sun
from gateway.evidence.keys import KeyRing
from gateway.homes import ProgrammedFob, ProgrammedTag, new_fob, new_tag, store_fob, store_tag
from gateway.protocol import EventType, GpsFix, TagReading
from tests.support.devices import TestDevice
from tests.support.evidence import quarantined, stored_events
from tests.support.polling import wait_until

pytestmark = pytest.mark.usefixtures("ingest_worker")

Publish = Callable[[str, str | bytes], None]
HOME = (52.63, 1.29)  # where make_device puts the service user's home


@dataclass
class TagHome:
    device: TestDevice
    programmed: ProgrammedTag
    tag: SimTag


@pytest.fixture
def tag_home(
    make_device: Callable[[], TestDevice], engine: Engine, settings: Settings
) -> Callable[[], TagHome]:
    def _make() -> TagHome:
        device = make_device()
        programmed = new_tag(device.service_user_id)
        with engine.begin() as conn:
            store_tag(conn, KeyRing(settings.master_key), programmed)
        tag = SimTag(
            programmed.uid,
            bytes.fromhex(programmed.meta_read_key),
            bytes.fromhex(programmed.file_read_key),
            rng=random.Random(),
        )
        return TagHome(device, programmed, tag)

    return _make


def publish_event(publisher: Publish, device: TestDevice, **claims: object) -> str:
    """Sign a check-in now with these claims; returns the token published."""
    at = claims.pop("at", None)
    assert at is None or isinstance(at, datetime)
    _, token = device.event(EventType.CHECK_IN, at, **claims)
    publisher(device.topic, token)
    return token


def only_quarantined(engine: Engine, device: TestDevice, count: int = 1) -> list[dict[str, object]]:
    return wait_until(
        lambda: len(found := quarantined(engine, device_id=device.device_id)) >= count and found
    )


def test_a_valid_tap_is_stored_as_tag_evidence(
    tag_home: Callable[[], TagHome], publisher: Publish, engine: Engine
) -> None:
    home = tag_home()
    publish_event(publisher, home.device, tag=home.tag.tap())
    publish_event(publisher, home.device, tag=home.tag.tap())

    rows = wait_until(
        lambda: len(found := stored_events(engine, home.device.device_id)) == 2 and found
    )
    assert [(r["evidence_level"], r["tag_counter"]) for r in rows] == [("tag", 1), ("tag", 2)]
    assert {r["tag_uid"] for r in rows} == {home.programmed.uid}
    assert quarantined(engine, device_id=home.device.device_id) == []


def test_a_flipped_mac_bit_is_quarantined_as_bad_mac(
    tag_home: Callable[[], TagHome], publisher: Publish, engine: Engine
) -> None:
    home = tag_home()
    tap = home.tag.tap()
    mac = f"{int(tap.mac, 16) ^ 1:016X}"
    publish_event(publisher, home.device, tag=TagReading(picc=tap.picc, mac=mac))

    [entry] = only_quarantined(engine, home.device)
    assert entry["reason"] == "tag_bad_mac"
    assert stored_events(engine, home.device.device_id) == []


def test_a_tap_made_with_a_wrong_key_is_quarantined(
    tag_home: Callable[[], TagHome], publisher: Publish, engine: Engine
) -> None:
    home = tag_home()
    uid = bytes.fromhex(home.programmed.uid)
    meta = bytes.fromhex(home.programmed.meta_read_key)
    # A forger who knows the UID and the meta-read key but not the file-read key: a MAC under
    # a wrong key is indistinguishable from an altered one.
    wrong_file = sun.emulate(meta, os.urandom(16), uid, 5)
    # One who knows neither: the PICCData opens under no registered tag's key.
    wrong_both = sun.emulate(os.urandom(16), os.urandom(16), uid, 6)
    for message in (wrong_file, wrong_both):
        reading = TagReading(picc=message.picc_hex, mac=message.mac_hex)
        publish_event(publisher, home.device, tag=reading)

    entries = only_quarantined(engine, home.device, 2)
    assert [e["reason"] for e in entries] == ["tag_bad_mac", "tag_unknown"]
    assert stored_events(engine, home.device.device_id) == []


def test_a_replayed_or_held_back_tap_is_quarantined_not_counted(
    tag_home: Callable[[], TagHome], publisher: Publish, engine: Engine
) -> None:
    home = tag_home()
    first, second, third = home.tag.tap(), home.tag.tap(), home.tag.tap()
    now = datetime.now(UTC)
    publish_event(publisher, home.device, tag=first, at=now - timedelta(minutes=30))
    publish_event(publisher, home.device, tag=third, at=now - timedelta(minutes=20))
    wait_until(lambda: len(stored_events(engine, home.device.device_id)) == 2)
    # The same tap copied into a new event; then tap 2, read before tap 3, kept back and sent
    # as if it were made 15 minutes after tap 3.
    publish_event(publisher, home.device, tag=first, at=now - timedelta(minutes=10))
    publish_event(publisher, home.device, tag=second, at=now - timedelta(minutes=5))

    entries = only_quarantined(engine, home.device, 2)
    assert [e["reason"] for e in entries] == ["tag_counter_replayed", "tag_counter_out_of_order"]
    assert "counter 1 was already accepted" in str(entries[0]["detail"])
    assert "below counter 3 tapped earlier" in str(entries[1]["detail"])
    rows = stored_events(engine, home.device.device_id)
    assert [r["tag_counter"] for r in rows] == [1, 3]


def test_a_genuine_tap_that_arrives_late_is_accepted(
    tag_home: Callable[[], TagHome], publisher: Publish, engine: Engine
) -> None:
    """A double-handed visit: the second carer's phone was offline, so tap 2 arrives after 3."""
    home = tag_home()
    first, second, third = home.tag.tap(), home.tag.tap(), home.tag.tap()
    now = datetime.now(UTC)
    publish_event(publisher, home.device, tag=first, at=now - timedelta(minutes=50))
    publish_event(publisher, home.device, tag=third, at=now - timedelta(minutes=20))
    wait_until(lambda: len(stored_events(engine, home.device.device_id)) == 2)
    publish_event(publisher, home.device, tag=second, at=now - timedelta(minutes=40))

    rows = wait_until(
        lambda: len(found := stored_events(engine, home.device.device_id)) == 3 and found
    )
    assert sorted(r["tag_counter"] for r in rows) == [1, 2, 3]
    assert quarantined(engine, device_id=home.device.device_id) == []


def test_a_redelivered_tap_event_is_a_duplicate_not_a_replay(
    tag_home: Callable[[], TagHome], publisher: Publish, engine: Engine
) -> None:
    home = tag_home()
    token = publish_event(publisher, home.device, tag=home.tag.tap())
    wait_until(lambda: stored_events(engine, home.device.device_id))
    publisher(home.device.topic, token)  # the broker redelivers, or the outbox re-sends
    publish_event(publisher, home.device, tag=home.tag.tap())  # a marker after it

    rows = wait_until(
        lambda: len(found := stored_events(engine, home.device.device_id)) == 2 and found
    )
    assert [r["tag_counter"] for r in rows] == [1, 2]
    assert quarantined(engine, device_id=home.device.device_id) == []


def test_the_tag_of_another_home_is_quarantined(
    tag_home: Callable[[], TagHome], publisher: Publish, engine: Engine
) -> None:
    here, elsewhere = tag_home(), tag_home()
    publish_event(publisher, here.device, tag=elsewhere.tag.tap())

    [entry] = only_quarantined(engine, here.device)
    assert entry["reason"] == "tag_wrong_home"
    assert elsewhere.programmed.uid in str(entry["detail"])
    assert stored_events(engine, here.device.device_id) == []


def test_a_replaced_tag_is_retired(
    tag_home: Callable[[], TagHome], publisher: Publish, engine: Engine, settings: Settings
) -> None:
    home = tag_home()
    old_tap = home.tag.tap()
    with engine.begin() as conn:
        store_tag(conn, KeyRing(settings.master_key), new_tag(home.device.service_user_id))
    publish_event(publisher, home.device, tag=old_tap)

    [entry] = only_quarantined(engine, home.device)
    assert entry["reason"] == "tag_retired"


@pytest.fixture
def fob_home(
    make_device: Callable[[], TestDevice], engine: Engine, settings: Settings
) -> Callable[[], tuple[TestDevice, ProgrammedFob, SimFob]]:
    def _make() -> tuple[TestDevice, ProgrammedFob, SimFob]:
        device = make_device()
        programmed = new_fob(device.service_user_id)
        with engine.begin() as conn:
            store_fob(conn, KeyRing(settings.master_key), programmed)
        return device, programmed, SimFob(bytes.fromhex(programmed.secret))

    return _make


def test_a_fob_code_within_its_window_is_code_evidence(
    fob_home: Callable[[], tuple[TestDevice, ProgrammedFob, SimFob]],
    publisher: Publish,
    engine: Engine,
) -> None:
    device, _, fob = fob_home()
    at = datetime(2026, 3, 2, 7, 31, tzinfo=UTC)
    # The fob's clock is one step behind the phone's: still inside the +-1 step window.
    publish_event(publisher, device, at=at, code=fob.code_at(at - timedelta(seconds=30)))

    [row] = wait_until(lambda: stored_events(engine, device.device_id))
    assert row["evidence_level"] == "code" and row["totp_verified"] is True


def test_a_fob_code_outside_its_window_is_quarantined(
    fob_home: Callable[[], tuple[TestDevice, ProgrammedFob, SimFob]],
    publisher: Publish,
    engine: Engine,
) -> None:
    device, _, fob = fob_home()
    at = datetime(2026, 3, 2, 7, 31, tzinfo=UTC)
    publish_event(publisher, device, at=at, code=fob.code_at(at - timedelta(seconds=90)))
    publish_event(publisher, device, at=at, code="12345678")

    entries = only_quarantined(engine, device, 2)
    assert [e["reason"] for e in entries] == ["code_invalid", "code_invalid"]
    assert stored_events(engine, device.device_id) == []


def test_a_code_for_a_home_without_a_fob_is_quarantined(
    make_device: Callable[[], TestDevice], publisher: Publish, engine: Engine
) -> None:
    device = make_device()
    publish_event(publisher, device, code="12345678")
    [entry] = only_quarantined(engine, device)
    assert entry["reason"] == "code_invalid"


def test_gps_inside_and_outside_the_fence_is_recorded_not_refused(
    make_device: Callable[[], TestDevice], publisher: Publish, engine: Engine
) -> None:
    device = make_device()
    now = datetime.now(UTC)
    near = GpsFix(lat=HOME[0] + 0.0005, lon=HOME[1], accuracy_m=8.0, fix_time=now)
    far = GpsFix(lat=HOME[0] + 0.01, lon=HOME[1], accuracy_m=8.0, fix_time=now)
    publish_event(publisher, device, gps=near)
    publish_event(publisher, device, gps=far)

    rows = wait_until(lambda: len(found := stored_events(engine, device.device_id)) == 2 and found)
    inside, outside = rows
    assert inside["gps_within_fence"] is True and inside["evidence_level"] == "location"
    assert inside["gps_distance_m"] == pytest.approx(55.6, abs=0.2)
    assert outside["gps_within_fence"] is False and outside["evidence_level"] == "none"
    assert outside["gps_distance_m"] == pytest.approx(1112.0, abs=1)
    assert outside["gps_accuracy_m"] == 8.0


def test_no_forged_or_replayed_evidence_is_accepted(
    tag_home: Callable[[], TagHome],
    fob_home: Callable[[], tuple[TestDevice, ProgrammedFob, SimFob]],
    publisher: Publish,
    engine: Engine,
) -> None:
    """A volley of forgeries and replays, each in a freshly signed event: none is stored."""
    home, other = tag_home(), tag_home()
    start = datetime.now(UTC) - timedelta(minutes=90)
    genuine = [home.tag.tap() for _ in range(3)]
    for i, tap in enumerate(genuine):
        publish_event(publisher, home.device, tag=tap, at=start + timedelta(minutes=i))

    uid = bytes.fromhex(home.programmed.uid)
    meta = bytes.fromhex(home.programmed.meta_read_key)
    fresh = home.tag.tap()  # a genuine tap never sent: every altered copy must still fail
    forged: list[TagReading] = []
    for bit in range(64):
        forged.append(TagReading(picc=fresh.picc, mac=f"{int(fresh.mac, 16) ^ (1 << bit):016X}"))
    for byte in range(16):
        picc = f"{int(fresh.picc, 16) ^ (1 << (8 * byte)):032X}"
        forged.append(TagReading(picc=picc, mac=fresh.mac))
    for counter in range(100, 110):
        for message in (
            sun.emulate(meta, os.urandom(16), uid, counter),
            sun.emulate(os.urandom(16), os.urandom(16), uid, counter),
        ):
            forged.append(TagReading(picc=message.picc_hex, mac=message.mac_hex))
    forged += [genuine[i % 3] for i in range(10)]  # replays of accepted taps
    held_back = [home.tag.tap() for _ in range(10)]  # read, kept, sent after a later tap
    later = home.tag.tap()
    publish_event(publisher, home.device, tag=later, at=start + timedelta(minutes=30))
    wait_until(lambda: len(stored_events(engine, home.device.device_id)) == 4)
    for tap in held_back:
        publish_event(publisher, home.device, tag=tap, at=start + timedelta(minutes=60))
    forged += [other.tag.tap() for _ in range(10)]  # another home's tag
    for reading in forged:
        publish_event(publisher, home.device, tag=reading)
    device, _, fob = fob_home()
    at = datetime(2026, 3, 2, 7, 31, tzinfo=UTC)
    wrong_codes = [fob.code_at(at + timedelta(minutes=m)) for m in range(2, 12)]
    for code in wrong_codes:
        publish_event(publisher, device, at=at, code=code)

    tried = len(forged) + len(held_back) + len(wrong_codes)
    entries = wait_until(
        lambda: (
            len(found := quarantined(engine, device_id=home.device.device_id))
            + len(quarantined(engine, device_id=device.device_id))
            >= tried
            and found
        ),
        timeout_s=30,
    )
    reasons = {str(e["reason"]) for e in entries}
    assert reasons == {
        "tag_bad_mac",
        "tag_unknown",
        "tag_counter_replayed",
        "tag_counter_out_of_order",
        "tag_wrong_home",
    }
    assert len(stored_events(engine, home.device.device_id)) == 4
    assert stored_events(engine, device.device_id) == []
    assert tried == 140
