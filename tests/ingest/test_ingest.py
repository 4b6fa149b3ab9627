"""Ingest against the real broker and database: evidence in, bad input to quarantine."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text

from core.settings import Settings
from gateway.pki.identity import service_identity
from gateway.protocol import EventType, b64url_encode, sign_compact
from tests.support.devices import TestDevice
from tests.support.evidence import quarantined, stored_events
from tests.support.ids import unique
from tests.support.mqtt import mqtt_tls_args
from tests.support.polling import wait_until

pytestmark = pytest.mark.usefixtures("ingest_worker")

Publish = Callable[[str, str | bytes], None]


def test_signed_event_is_stored_with_both_times(
    make_device: Callable[[], TestDevice], publisher: Publish, engine: Engine
) -> None:
    device = make_device()
    claims, token = device.event(EventType.CHECK_IN, datetime(2026, 3, 2, 7, 31, tzinfo=UTC))

    publisher(device.topic, token)

    [row] = wait_until(lambda: stored_events(engine, device.device_id))
    assert row["event_id"] == claims.event_id
    assert row["device_time"] == datetime(2026, 3, 2, 7, 31, tzinfo=UTC)
    assert row["received_at"] > datetime(2026, 11, 1, tzinfo=UTC)
    assert row["provider_id"] == device.provider_id
    assert row["carer_id"] == device.carer_id
    assert row["event_type"] == "check_in"
    assert row["raw_jws"] == token
    assert row["claims"]["event_id"] == str(claims.event_id)


def test_same_event_published_twice_is_stored_once(
    make_device: Callable[[], TestDevice], publisher: Publish, engine: Engine
) -> None:
    device = make_device()
    _, token = device.event(EventType.CHECK_IN)
    _, marker = device.event(EventType.CHECK_OUT)

    publisher(device.topic, token)
    publisher(device.topic, token)
    publisher(device.topic, marker)

    # The marker is published last; once it is stored both copies have been processed.
    rows = wait_until(
        lambda: (
            len(stored_events(engine, device.device_id)) == 2
            and stored_events(engine, device.device_id)
        )
    )
    assert [row["seq"] for row in rows] == [1, 2]
    assert quarantined(engine, device_id=device.device_id) == []


def test_tampered_event_is_quarantined_as_bad_signature(
    make_device: Callable[[], TestDevice], publisher: Publish, engine: Engine
) -> None:
    device = make_device()
    _, token = device.event(EventType.CHECK_IN)
    header, payload, signature = token.split(".")
    body = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body[body.index(b"check_in") + 6] ^= 0x01  # one byte of the claims changed: check_jn
    tampered = f"{header}.{b64url_encode(bytes(body))}.{signature}"

    publisher(device.topic, tampered)

    [entry] = wait_until(lambda: quarantined(engine, device_id=device.device_id))
    assert entry["reason"] == "bad_signature"
    assert bytes(entry["payload"]) == tampered.encode()
    assert stored_events(engine, device.device_id) == []


def test_unsigned_events_are_quarantined(
    make_device: Callable[[], TestDevice], publisher: Publish, engine: Engine
) -> None:
    device = make_device()
    claims, _ = device.event(EventType.CHECK_IN)
    none_header = b64url_encode(json.dumps({"alg": "none", "kid": device.device_id}).encode())
    alg_none = f"{none_header}.{b64url_encode(claims.to_json())}."

    publisher(device.topic, claims.to_json())  # plain JSON, no signature at all
    publisher(device.topic, alg_none)

    entries = wait_until(
        lambda: (
            len(quarantined(engine, device_id=device.device_id)) == 2
            and quarantined(engine, device_id=device.device_id)
        )
    )
    assert [e["reason"] for e in entries] == ["not_jws", "unsupported_alg"]
    assert all(e["detail"] for e in entries)
    assert stored_events(engine, device.device_id) == []


def test_unknown_device_is_quarantined_not_stored(publisher: Publish, engine: Engine) -> None:
    device_id = f"Dunknown{uuid.uuid4().hex[:8]}"
    key = Ed25519PrivateKey.generate()
    token = sign_compact(b'{"ver":1}', key, kid=device_id)

    publisher(f"ecm/v1/devices/{device_id}/events", token)

    [entry] = wait_until(lambda: quarantined(engine, device_id=device_id))
    assert entry["reason"] == "unknown_device"
    with engine.connect() as conn:
        count = conn.execute(
            text("select count(*) from device_event where device_id = :d"), {"d": device_id}
        ).scalar_one()
    assert count == 0


def test_event_signed_by_one_device_on_anothers_topic_is_quarantined(
    make_device: Callable[[], TestDevice], publisher: Publish, engine: Engine
) -> None:
    mine, other = make_device(), make_device()
    _, token = mine.event(EventType.CHECK_IN)

    publisher(other.topic, token)

    [entry] = wait_until(lambda: quarantined(engine, device_id=other.device_id))
    assert entry["reason"] == "device_mismatch"


def test_claims_that_do_not_match_the_schema_are_quarantined(
    make_device: Callable[[], TestDevice], publisher: Publish, engine: Engine
) -> None:
    device = make_device()
    claims, _ = device.event(EventType.CHECK_IN)
    body = json.loads(claims.to_json())
    body["type"] = "tea_break"
    token = sign_compact(json.dumps(body).encode(), device.key, kid=device.device_id)

    publisher(device.topic, token)

    [entry] = wait_until(lambda: quarantined(engine, device_id=device.device_id))
    assert entry["reason"] == "invalid_claims"
    assert "type" in entry["detail"]


def test_carer_of_another_provider_is_quarantined(
    make_device: Callable[[], TestDevice], publisher: Publish, engine: Engine
) -> None:
    device, stranger = make_device(), make_device()
    claims, _ = device.event(EventType.CHECK_IN)
    forged = claims.model_copy(update={"carer_id": stranger.carer_id})
    token = sign_compact(forged.to_json(), device.key, kid=device.device_id)

    publisher(device.topic, token)

    [entry] = wait_until(lambda: quarantined(engine, device_id=device.device_id))
    assert entry["reason"] == "carer_not_with_provider"


@pytest.mark.skipif(shutil.which("mosquitto_pub") is None, reason="needs mosquitto-clients")
def test_hand_made_event_from_mosquitto_pub_lands_in_quarantine(
    make_device: Callable[[], TestDevice], settings: Settings, engine: Engine
) -> None:
    device = make_device()
    hand_made = '{"ver":1,"type":"check_in","note":"typed by hand, not signed"}'

    subprocess.run(
        [
            "mosquitto_pub",
            "-h",
            settings.mqtt_host,
            "-p",
            str(settings.mqtt_port),
            "-i",
            unique("ecm-test-"),
            *mqtt_tls_args(service_identity(settings, "operator")),
            "-q",
            "1",
            "-t",
            device.topic,
            "-m",
            hand_made,
        ],
        check=True,
        timeout=10,
    )

    [entry] = wait_until(lambda: quarantined(engine, device_id=device.device_id))
    assert entry["reason"] == "not_jws"
    assert bytes(entry["payload"]).decode() == hand_made


def test_evidence_cannot_be_edited_or_deleted(
    make_device: Callable[[], TestDevice], publisher: Publish, engine: Engine
) -> None:
    device = make_device()
    _, token = device.event(EventType.CHECK_IN)
    publisher(device.topic, token)
    wait_until(lambda: stored_events(engine, device.device_id))

    for statement in (
        "update device_event set carer_id = 'someone-else' where device_id = :d",
        "delete from device_event where device_id = :d",
    ):
        with pytest.raises(Exception, match="evidence"), engine.begin() as conn:
            conn.execute(text(statement), {"d": device.device_id})
    assert len(stored_events(engine, device.device_id)) == 1


def test_revoking_a_device_takes_effect_without_restarting_ingest(
    make_device: Callable[[], TestDevice], publisher: Publish, engine: Engine
) -> None:
    device = make_device()
    _, before = device.event(EventType.CHECK_IN)
    publisher(device.topic, before)
    wait_until(lambda: stored_events(engine, device.device_id))

    with engine.begin() as conn:
        conn.execute(
            text("update device set status = 'revoked' where id = :d"), {"d": device.device_id}
        )
    time.sleep(1.5)  # the test worker refreshes its registry cache every 0.5 s
    _, after = device.event(EventType.CHECK_OUT)
    publisher(device.topic, after)

    [entry] = wait_until(lambda: quarantined(engine, device_id=device.device_id))
    assert entry["reason"] == "device_revoked"
    assert len(stored_events(engine, device.device_id)) == 1


def test_an_event_id_reused_under_a_new_seq_is_a_conflict_and_the_rest_stored(
    make_device: Callable[[], TestDevice], publisher: Publish, engine: Engine
) -> None:
    device = make_device()
    at = datetime.now(UTC)
    claims, token = device.event(EventType.CHECK_IN, at)
    _, reused = device.event(EventType.CHECK_OUT, at, event_id=claims.event_id)
    _, marker = device.event(EventType.CHECK_OUT)

    publisher(device.topic, token)
    wait_until(lambda: stored_events(engine, device.device_id))
    publisher(device.topic, reused)
    publisher(device.topic, marker)

    rows = wait_until(
        lambda: (
            len(stored_events(engine, device.device_id)) == 2
            and stored_events(engine, device.device_id)
        )
    )
    assert [row["seq"] for row in rows] == [1, 3]
    [entry] = wait_until(lambda: quarantined(engine, device_id=device.device_id))
    assert entry["reason"] == "conflict"
    assert entry["event_id"] == claims.event_id
    assert "already stored as seq 1" in entry["detail"]
    assert entry["payload"] == reused.encode()
