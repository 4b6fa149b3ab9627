"""Receipts (protocol v1.1) through the real broker and `ecm ingest`, with device certificates.

A handset (firmware_sim's Uplink, its own certificate) keeps each event until the receipt
naming it arrives, whatever the outcome; a resend is receipted again as a duplicate; a
message the server cannot attribute gets no receipt but is quarantined. Only ingest may
publish receipts, and only the device may read its own.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import Engine

from core.settings import Settings
from firmware_sim.outbox import Outbox
from firmware_sim.publisher import Uplink
from gateway.broker import device_role, device_role_name
from gateway.pki.broker import BrokerAccess
from gateway.pki.devices import DeviceCertificates
from gateway.pki.identity import TlsIdentity, service_identity
from gateway.protocol import EventType, Outcome, Rejection, carer_message, receipts_topic
from gateway.protocol.receipts import ReceiptEntry
from tests.support.devices import TestDevice
from tests.support.evidence import quarantined, stored_events
from tests.support.ids import unique

pytestmark = pytest.mark.usefixtures("ingest_worker")

Provision = Callable[[list[str]], dict[str, TlsIdentity]]


class Phone:
    """A raw MQTT 5 client with a device's certificate: what it may publish and read."""

    def __init__(self, settings: Settings, identity: TlsIdentity) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._acks: dict[int, Any] = {}
        self._changed = threading.Condition()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=unique("ecm-test-phone-"),
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        identity.apply(self.client)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda c, u, mid, reasons, p: self._done(mid, reasons)
        self.client.on_publish = lambda c, u, mid, reason, p: self._done(mid, [reason])
        self.client.connect(settings.mqtt_host, settings.mqtt_port)
        self.client.loop_start()

    def _done(self, mid: int, reasons: list[Any]) -> None:
        with self._changed:
            self._acks[mid] = reasons
            self._changed.notify_all()

    def _wait(self, mid: int) -> bool:
        with self._changed:
            assert self._changed.wait_for(lambda: mid in self._acks, timeout=10)
            return not any(reason.is_failure for reason in self._acks.pop(mid))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.messages.append((message.topic, bytes(message.payload)))

    def subscribe(self, topic: str) -> bool:
        _, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        return self._wait(mid)

    def publish(self, topic: str, payload: bytes) -> bool:
        return self._wait(self.client.publish(topic, payload, qos=1).mid)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def phones(settings: Settings) -> Iterator[Callable[[TlsIdentity], Phone]]:
    made: list[Phone] = []

    def _phone(identity: TlsIdentity) -> Phone:
        made.append(Phone(settings, identity))
        return made[-1]

    yield _phone
    for phone in made:
        phone.close()


def test_every_outcome_is_receipted_and_the_outbox_empties(
    make_device: Callable[[], TestDevice],
    provision: Provision,
    phones: Callable[[TlsIdentity], Phone],
    settings: Settings,
    engine: Engine,
    tmp_path: Path,
) -> None:
    device = make_device()
    identity = provision([device.device_id])[device.device_id]
    watching = phones(identity)
    assert watching.subscribe(receipts_topic(device.device_id))

    good, good_token = device.event(EventType.CHECK_IN)
    stranger, stranger_token = device.event(EventType.CHECK_OUT, carer_id="nobody-" + unique(""))
    outbox = Outbox(tmp_path / "outbox.sqlite")
    shown: dict[uuid.UUID, str] = {}
    with Uplink(
        settings.mqtt_host,
        settings.mqtt_port,
        device_identity=lambda _: identity,
        outbox=outbox,
        on_feedback=shown.__setitem__,
    ) as uplink:
        for claims, token in ((good, good_token), (stranger, stranger_token)):
            uplink.publish(device.topic, token.encode(), claims.event_id)
        # A message nobody can attribute: quarantined, never receipted.
        uplink.publish(device.topic, b"not a jws at all")
        assert uplink.flush(timeout=10)
        assert uplink.wait_receipted(timeout=30)
        assert len(outbox) == 0
        # The carer's words per event.
        assert shown[good.event_id] == "visit counted"
        assert shown[stranger.event_id] == "you are not registered on this phone: tell the office"
        # Sent again (a handset that missed its receipt): a duplicate, receipted again.
        uplink.publish(device.topic, good_token.encode(), good.event_id)
        assert uplink.wait_receipted(timeout=30)

    entries = [
        entry for _, payload in watching.messages for entry in json.loads(payload)["receipts"]
    ]
    assert entries == [
        {"event_id": str(good.event_id), "outcome": "stored"},
        {
            "event_id": str(stranger.event_id),
            "outcome": "quarantined",
            "reason": "unknown_carer",
        },
        {"event_id": str(good.event_id), "outcome": "duplicate"},
    ]
    assert [e["event_id"] for e in stored_events(engine, device.device_id)] == [good.event_id]
    reasons = [q["reason"] for q in quarantined(engine, device_id=device.device_id)]
    assert sorted(reasons) == sorted([Rejection.UNKNOWN_CARER, Rejection.NOT_JWS])


def test_only_ingest_publishes_receipts_and_only_the_device_reads_its_own(
    make_device: Callable[[], TestDevice],
    provision: Provision,
    phones: Callable[[TlsIdentity], Phone],
) -> None:
    mine, other = make_device(), make_device()
    identities = provision([mine.device_id, other.device_id])
    phone = phones(identities[mine.device_id])
    assert phone.subscribe(receipts_topic(mine.device_id))
    assert not phone.subscribe(receipts_topic(other.device_id))
    assert not phone.subscribe("ecm/v1/devices/+/receipts")
    # A phone receipting its own (or another's) events would defeat receipts.
    fake = b'{"ver":1,"receipts":[]}'
    assert not phone.publish(receipts_topic(mine.device_id), fake)
    assert not phone.publish(receipts_topic(other.device_id), fake)
    assert phone.messages == []


def test_carer_words_cover_what_a_receipt_can_say() -> None:
    assert carer_message(ReceiptEntry(uuid.uuid4(), Outcome.DUPLICATE)) == "visit counted"
    tag = ReceiptEntry(uuid.uuid4(), Outcome.QUARANTINED, "tag_counter_replayed")
    assert carer_message(tag) == "tag not accepted, tap again"
    unknown = ReceiptEntry(uuid.uuid4(), Outcome.QUARANTINED, "a_reason_from_the_future")
    assert carer_message(unknown) == "visit not counted: tell the office"


def test_pki_sync_gives_roles_made_before_receipts_their_rules(
    make_device: Callable[[], TestDevice],
    provision: Provision,
    phones: Callable[[TlsIdentity], Phone],
    settings: Settings,
    engine: Engine,
) -> None:
    """A device provisioned by an older release has a role without the receipts rules."""
    device = make_device()
    identity = provision([device.device_id])[device.device_id]
    role = device_role_name(device.device_id)
    newer = [a for a in device_role(device.device_id)["acls"] if "receipts" in a["topic"]]
    admin = service_identity(settings, "admin")
    with BrokerAccess(settings.mqtt_host, settings.mqtt_port, admin) as broker:
        broker.run(
            [
                {"command": "removeRoleACL", "rolename": role, **acl}
                for acl in newer
                if acl["acltype"] != "publishClientSend"
            ]
        )
    phone = phones(identity)
    assert not phone.subscribe(receipts_topic(device.device_id))

    for _ in range(2):  # idempotent: a second sync adds no rule twice
        with engine.begin() as conn:
            DeviceCertificates(settings).sync(conn)
    with BrokerAccess(settings.mqtt_host, settings.mqtt_port, admin) as broker:
        [reply] = broker.run([{"command": "getRole", "rolename": role}])
    acls = [(a["acltype"], a["topic"]) for a in reply["data"]["role"]["acls"]]
    assert sorted(acls) == sorted(
        (a["acltype"], a["topic"]) for a in device_role(device.device_id)["acls"]
    )
    assert phone.subscribe(receipts_topic(device.device_id))
    assert not phone.publish(receipts_topic(device.device_id), b"{}")
