"""A handset's outbox keeps events until their receipt (v1.1; until PUBACK for a v1 handset),
resends after a restart and after a timeout, and keeps seq going."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from core.settings import Settings
from firmware_sim.handset import Handset
from firmware_sim.outbox import Outbox
from firmware_sim.publisher import Uplink
from firmware_sim.world import World, generate_world
from gateway.evidence.keys import KeyRing
from gateway.homes import import_devices
from gateway.pki.identity import service_identity
from gateway.registry import seed
from tests.support.evidence import stored_events
from tests.support.ids import unique
from tests.support.polling import wait_until

pytestmark = pytest.mark.usefixtures("ingest_worker")


@pytest.fixture
def world(engine: Engine, settings: Settings) -> World:
    world = generate_world(
        random.randrange(10**9),  # tag uids come from the seed and are unique per home
        providers=1,
        carers=1,
        service_users=3,
        visits=3,
        day=(datetime.now(UTC) - timedelta(days=1)).date(),
        id_prefix=unique("OB"),
    )
    with engine.begin() as conn:
        seed(conn, world.registry_document())
        # The homes' tags are programmed and their keys imported, as production does.
        import_devices(conn, KeyRing(settings.master_key), world.home_devices_document())
    return world


def test_events_stay_in_the_outbox_until_acked_and_are_resent_after_a_restart(
    world: World, settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "phone" / "outbox.sqlite"
    carer = world.carers[0].id
    offline_since = datetime.now(UTC) - timedelta(hours=5)

    # Run 1: the phone signs three taps while offline, keeps them, and is killed before sending.
    outbox = Outbox(path)
    handset = Handset.for_carer(world, carer, random.Random(1), outbox=outbox)
    taps = [
        handset.check_in(visit, offline_since + timedelta(minutes=20 * i))
        for i, visit in enumerate(world.visits)
    ]
    outbox.keep(taps)
    outbox.close()

    # Run 2: the app starts again, finds its outbox, and publishes what it holds.
    outbox = Outbox(path)
    assert [e.event_id for e in outbox.pending()] == [t.event_id for t in taps]
    with Uplink(
        settings.mqtt_host,
        settings.mqtt_port,
        outbox=outbox,
        tls=service_identity(settings, "operator"),
    ) as uplink:
        assert uplink.resend_outbox() == 3
        assert uplink.flush(timeout=30)
        assert uplink.wait_receipted(timeout=30)
    assert len(outbox) == 0

    device_id = taps[0].claims.device_id
    rows = wait_until(
        lambda: len(stored_events(engine, device_id)) == 3 and stored_events(engine, device_id)
    )
    assert [row["event_id"] for row in rows] == [t.event_id for t in taps]
    for row, tap in zip(rows, taps, strict=True):
        assert row["device_time"] == tap.claims.device_time
        assert row["received_at"] - row["device_time"] > timedelta(hours=4)
        assert row["late_arriving"] is True
        assert bytes(row["raw_jws"].encode()) == tap.payload

    # Run 3: sequence numbers continue where the last run ended, not at 0 again.
    restarted = Handset.for_carer(world, carer, random.Random(2), outbox=Outbox(path))
    assert restarted.seq == taps[-1].claims.seq + 1 == 3


@pytest.mark.parametrize("receipts", [True, False], ids=["v1.1-receipts", "v1-puback"])
def test_only_receipted_events_leave_the_outbox(
    world: World, settings: Settings, engine: Engine, tmp_path: Path, receipts: bool
) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    handset = Handset.for_carer(world, world.carers[0].id, random.Random(3), outbox=outbox)
    visit = world.visits[0]
    sent = handset.check_in(visit, datetime.now(UTC) - timedelta(minutes=3))
    unsent = handset.check_out(visit, datetime.now(UTC) - timedelta(minutes=1))
    with Uplink(
        settings.mqtt_host,
        settings.mqtt_port,
        outbox=outbox,
        tls=service_identity(settings, "operator"),
        receipts=receipts,
    ) as uplink:
        uplink.keep([sent, unsent])
        uplink.publish(sent.topic, sent.payload, sent.event_id)
        assert uplink.flush(timeout=30)
        if receipts:
            # The PUBACK alone removes nothing; the receipt does.
            assert uplink.wait_receipted(timeout=30)
            assert uplink.feedback == {sent.event_id: "visit counted"}
    assert [e.event_id for e in outbox.pending()] == [unsent.event_id]
    wait_until(lambda: stored_events(engine, sent.claims.device_id))
    with engine.connect() as conn:
        late = conn.execute(
            text("select late_arriving from device_event where event_id = :e"),
            {"e": sent.event_id},
        ).scalar_one()
    assert late is False
