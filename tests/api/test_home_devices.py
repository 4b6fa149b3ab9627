"""Programming a home's tag and fob through the API: the keys it returns are the ones ingest
checks taps and codes against, through the real broker and database."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.auth.roles import Role
from core.settings import Settings
from firmware_sim.fob import SimFob
from firmware_sim.tag import SimTag
from gateway.protocol import EventType
from tests.api.api_support import client_for
from tests.support.devices import TestDevice
from tests.support.evidence import stored_events
from tests.support.polling import wait_until

Publish = Callable[[str, str | bytes], None]
signed_in = contextmanager(client_for)


@pytest.fixture(scope="module")
def admin(settings: Settings) -> Iterator[TestClient]:
    yield from client_for(settings)


def provision(client: TestClient, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.usefixtures("ingest_worker")
def test_a_tag_programmed_through_the_api_makes_taps_tag_evidence(
    admin: TestClient,
    make_device: Callable[[], TestDevice],
    publisher: Publish,
    engine: Engine,
) -> None:
    device = make_device()
    programmed = provision(
        admin, f"/service-users/{device.service_user_id}/tag", {"uid": "04c0ffee123456"}
    )
    assert programmed["uid"] == "04C0FFEE123456"
    tag = SimTag(
        programmed["uid"],
        bytes.fromhex(programmed["meta_read_key"]),
        bytes.fromhex(programmed["file_read_key"]),
        rng=random.Random(),
    )

    _, token = device.event(EventType.CHECK_IN, tag=tag.tap())
    publisher(device.topic, token)

    [row] = wait_until(lambda: stored_events(engine, device.device_id))
    assert (row["evidence_level"], row["tag_uid"]) == ("tag", "04C0FFEE123456")
    with engine.connect() as conn:
        stored = conn.execute(
            text("select keys_ciphertext from home_tag where uid = :u"), {"u": programmed["uid"]}
        ).scalar_one()
    # Sealed at rest: the key the response showed is not in the stored bytes.
    assert bytes.fromhex(programmed["file_read_key"]) not in bytes(stored)


@pytest.mark.usefixtures("ingest_worker")
def test_a_fob_programmed_through_the_api_makes_codes_code_evidence(
    admin: TestClient,
    make_device: Callable[[], TestDevice],
    publisher: Publish,
    engine: Engine,
) -> None:
    device = make_device()
    fob = provision(admin, f"/service-users/{device.service_user_id}/code-device", {"digits": 6})
    assert fob["digits"] == 6 and fob["otpauth_uri"].startswith("otpauth://totp/ECM:")
    at = datetime.now(UTC)
    code = SimFob(bytes.fromhex(fob["secret"]), digits=6).code_at(at)

    _, token = device.event(EventType.CHECK_IN, at, code=code)
    publisher(device.topic, token)

    [row] = wait_until(lambda: stored_events(engine, device.device_id))
    assert row["evidence_level"] == "code" and row["totp_verified"] is True


def test_only_an_administrator_programs_home_devices_and_only_for_registered_homes(
    settings: Settings, admin: TestClient, make_device: Callable[[], TestDevice]
) -> None:
    device = make_device()
    for path in ("tag", "code-device"):
        assert admin.post(f"/service-users/SU-nobody/{path}").status_code == 404
    with signed_in(settings, Role.PROVIDER_MANAGER, provider_id=device.provider_id) as m:
        for path in ("tag", "code-device"):
            response = m.post(f"/service-users/{device.service_user_id}/{path}")
            assert response.status_code == 403, response.text
