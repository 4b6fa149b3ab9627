"""`ecm telephony ...` as an administrator runs it: numbers, landlines, PINs, bridge devices,
and a webhook that will not start without the provider's auth token."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text

from core.settings import Settings
from gateway.evidence.keys import KeyRing
from gateway.telephony import bridges, repository
from gateway.telephony.pins import PinHasher
from tests.gateway.telephony.phone_support import freephone, uk_landline
from tests.support.devices import TestDevice
from tests.support.paths import ROOT

pytestmark = pytest.mark.integration


def run_ecm(role_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecm", *args],
        env=role_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_registering_a_number_a_landline_and_a_pin(
    role_env: dict[str, str],
    make_device: Callable[[], TestDevice],
    engine: Engine,
    settings: Settings,
) -> None:
    device = make_device()
    number = freephone()
    national = "0" + number.removeprefix("+44")
    added = run_ecm(role_env, "telephony", "number", national, "--provider", device.provider_id)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"number": number, "provider_id": device.provider_id}

    line = uk_landline()
    written = "+44 (0)" + line.removeprefix("+44")
    stored = run_ecm(role_env, "telephony", "landline", device.service_user_id, written)
    assert json.loads(stored.stdout)["landline"] == line

    pin = run_ecm(role_env, "telephony", "pin", device.carer_id)
    assert pin.returncode == 0, pin.stderr
    shown = json.loads(pin.stdout)["pin"]
    assert len(shown) == 6 and shown.isdigit()
    with engine.connect() as conn:
        assert repository.provider_of_number(conn, number) == device.provider_id
        assert repository.home_of_landline(conn, line) == device.service_user_id
        pin_hash = conn.execute(
            text("select pin_hash from carer_pin where carer_id = :c"), {"c": device.carer_id}
        ).scalar_one()
    hasher = PinHasher(settings.master_key)
    assert hasher.verify(pin_hash, device.carer_id, shown)
    assert not hasher.verify(pin_hash, "another-carer", shown)
    # Under another master key the same hash does not verify: it is keyed.
    assert not PinHasher("another master key").verify(pin_hash, device.carer_id, shown)

    for args, message in (
        (("number", "12", "--provider", device.provider_id), "not a telephone number"),
        (("number", freephone(), "--provider", "nobody"), "not registered"),
        (("landline", "nobody", uk_landline()), "not registered"),
        (("pin", "nobody"), "not registered"),
    ):
        refused = run_ecm(role_env, "telephony", *args)
        assert refused.returncode != 0 and message in refused.stderr, (args, refused.stderr)


def test_provisioning_a_bridge_is_idempotent_and_keeps_the_key_sealed(
    role_env: dict[str, str],
    make_device: Callable[[], TestDevice],
    engine: Engine,
    settings: Settings,
) -> None:
    device = make_device()
    first = run_ecm(role_env, "telephony", "provision", device.provider_id)
    assert first.returncode == 0, first.stderr
    bridge_id = bridges.bridge_device_id(device.provider_id)
    assert json.loads(first.stdout) == {"created": [bridge_id]}
    again = run_ecm(role_env, "telephony", "provision", device.provider_id)
    assert json.loads(again.stdout) == {"created": []}
    with engine.connect() as conn:
        kind, status = conn.execute(
            text("select kind, status from device where id = :d"), {"d": bridge_id}
        ).one()
        stored = repository.bridge_device(conn, device.provider_id)
        certificates = conn.execute(
            text("select count(*) from device_certificate where device_id = :d"), {"d": bridge_id}
        ).scalar_one()
    assert (kind, status, certificates) == ("telephony", "active", 1)
    assert stored is not None
    signer = bridges.open_signer(KeyRing(settings.master_key), stored)
    assert signer.device_id == bridge_id
    with pytest.raises(bridges.BridgeError):
        bridges.open_signer(KeyRing("another master key"), stored)
    assert (settings.state_dir / "pki" / "devices" / f"{bridge_id}.pem").exists()


def test_the_webhook_does_not_start_without_the_auth_token(role_env: dict[str, str]) -> None:
    refused = run_ecm(role_env, "telephony", "serve", "--port", "1")
    assert refused.returncode != 0
    assert "ECM_TELEPHONY_AUTH_TOKEN is not set" in refused.stderr
