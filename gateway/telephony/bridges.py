"""The gateway's telephony bridge devices: one registered device per provider it answers for.

Every stored event carries the provider of the device that signed it, and every read of the
evidence is scoped by that provider; ingest refuses a carer of another provider than the
device's. So the bridge signs a provider's calls with that provider's own bridge device
(`tel.<provider id>`, kind `telephony`), each with its own Ed25519 key and its own MQTT client
certificate: the rules that hold for handsets hold for calls unchanged.

The signing keys are generated here and stored only sealed under the master key, like home
secrets (gateway/evidence/keys.py); the telephony role opens them when it starts. The MQTT
certificates are issued by the gateway's CA and written under <state>/pki/devices, as
`ecm devices provision --local` does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import Connection

from gateway.evidence.keys import KeyRing, SealError
from gateway.protocol import public_key_to_b64
from gateway.registry import Device
from gateway.registry import repository as registry
from gateway.telephony import repository
from gateway.telephony.repository import BridgeDevice

PREFIX = "tel."


class BridgeError(ValueError):
    pass


@dataclass(frozen=True)
class Signer:
    """A bridge device's signing key, open in this process only."""

    device_id: str
    provider_id: str
    key: Ed25519PrivateKey = field(repr=False)


def bridge_device_id(provider_id: str) -> str:
    """`tel.<provider>`; a provider id too long for that is replaced by a digest of it."""
    device_id = PREFIX + provider_id
    if len(device_id) <= 64:
        return device_id
    return PREFIX + hashlib.sha256(provider_id.encode()).hexdigest()[:32]


def key_record(device_id: str) -> str:
    return f"telephony:{device_id}"


def provision(conn: Connection, ring: KeyRing, provider_ids: list[str]) -> list[str]:
    """Register a bridge device with a fresh key for each provider that has none yet.

    Returns the device ids created (the caller issues their MQTT certificates). A provider that
    has one keeps it: its events stay verifiable against the registered key."""
    known = {p.id for p in registry.list_providers(conn)}
    created: list[str] = []
    for provider_id in provider_ids:
        if provider_id not in known:
            raise BridgeError(f"provider {provider_id!r} is not registered")
        if repository.bridge_device(conn, provider_id) is not None:
            continue
        device_id = bridge_device_id(provider_id)
        key = Ed25519PrivateKey.generate()
        registry.upsert_devices(
            conn,
            [
                Device(
                    id=device_id,
                    provider_id=provider_id,
                    public_key=public_key_to_b64(key.public_key()),
                    kind="telephony",
                )
            ],
        )
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        repository.save_bridge_device(
            conn, BridgeDevice(device_id, provider_id, ring.seal(raw, key_record(device_id)))
        )
        created.append(device_id)
    return created


def open_signer(ring: KeyRing, device: BridgeDevice) -> Signer:
    try:
        raw = ring.open(device.sealed, key_record(device.device_id))
    except SealError as exc:
        raise BridgeError(f"cannot open the key of {device.device_id}: {exc}") from exc
    return Signer(device.device_id, device.provider_id, Ed25519PrivateKey.from_private_bytes(raw))


def rotate_master_key(conn: Connection, old: KeyRing, new: KeyRing) -> int:
    """Re-wrap the bridge keys' data keys under the new master key (see `ecm homes
    rotate-master-key`); rows already under it are left alone."""
    count = 0
    for device in repository.bridge_devices(conn):
        if device.sealed.kek_id != new.kek_id:
            record = key_record(device.device_id)
            resealed = old.rewrap(device.sealed, record, new)
            repository.save_bridge_device(
                conn, BridgeDevice(device.device_id, device.provider_id, resealed)
            )
            count += 1
    return count
