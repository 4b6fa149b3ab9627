"""What ingest needs to know from the registry, cached, with a bounded refresh on a miss."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.protocol import public_key_from_b64

# A device or carer unknown to the cache is looked up again at most this often, so a flood of
# events from an unregistered device cannot turn into a flood of registry queries.
MISS_RETRY_S = 2.0


@dataclass(frozen=True)
class KnownDevice:
    id: str
    provider_id: str
    public_key: Ed25519PublicKey
    revoked: bool


class Directory:
    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._devices: dict[str, KnownDevice] = {}
        self._carers: dict[str, str] = {}
        self._service_users: set[str] = set()
        self._misses: dict[tuple[str, str], float] = {}
        self.reload()

    def reload(self) -> None:
        with self._conn.transaction():
            devices = self._conn.execute(
                "select id, provider_id, public_key, status from device"
            ).fetchall()
            carers = self._conn.execute("select id, provider_id from carer").fetchall()
            service_users = self._conn.execute("select id from service_user").fetchall()
        self._devices = {row[0]: _known_device(*row) for row in devices}
        self._carers = {row[0]: row[1] for row in carers}
        self._service_users = {row[0] for row in service_users}
        self._misses.clear()

    def device(self, device_id: str) -> KnownDevice | None:
        if device_id not in self._devices and self._may_retry("device", device_id):
            with self._conn.transaction():
                row = self._conn.execute(
                    "select id, provider_id, public_key, status from device where id = %s",
                    (device_id,),
                ).fetchone()
            if row:
                self._devices[device_id] = _known_device(*row)
        return self._devices.get(device_id)

    def carer_provider(self, carer_id: str) -> str | None:
        if carer_id not in self._carers and self._may_retry("carer", carer_id):
            with self._conn.transaction():
                row = self._conn.execute(
                    "select provider_id from carer where id = %s", (carer_id,)
                ).fetchone()
            if row:
                self._carers[carer_id] = row[0]
        return self._carers.get(carer_id)

    def has_service_user(self, service_user_id: str) -> bool:
        if service_user_id not in self._service_users and self._may_retry("su", service_user_id):
            with self._conn.transaction():
                row = self._conn.execute(
                    "select 1 from service_user where id = %s", (service_user_id,)
                ).fetchone()
            if row:
                self._service_users.add(service_user_id)
        return service_user_id in self._service_users

    def _may_retry(self, kind: str, key: str) -> bool:
        now = time.monotonic()
        last = self._misses.get((kind, key))
        if last is not None and now - last < MISS_RETRY_S:
            return False
        self._misses[(kind, key)] = now
        return True


def _known_device(id: str, provider_id: str, public_key: str, status: str) -> KnownDevice:
    return KnownDevice(id, provider_id, public_key_from_b64(public_key), status == "revoked")
