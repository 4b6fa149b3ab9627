"""What ingest needs to know from the registry, cached, with a bounded refresh on a miss."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.settings import get_settings
from gateway.evidence.keys import KeyRing
from gateway.protocol import public_key_from_b64
from ingest import registry_store
from ingest.homes import Home, HomeTag, load_homes

# A device or carer unknown to the cache is looked up again at most this often, so a flood of
# events from an unregistered device cannot turn into a flood of registry queries.
MISS_RETRY_S = 2.0


@dataclass(frozen=True)
class KnownDevice:
    id: str
    provider_id: str
    public_key: Ed25519PublicKey
    revoked: bool
    # The gateway's telephony bridge: the only kind of device that may report a landline call.
    bridge: bool = False


class Directory:
    def __init__(self, conn: psycopg.Connection, keyring: KeyRing | None = None) -> None:
        self._conn = conn
        # Home secrets are sealed under the master key of the process's settings.
        self._keyring = keyring or KeyRing(get_settings().master_key)
        self._devices: dict[str, KnownDevice] = {}
        self._carers: dict[str, str] = {}
        self._homes: dict[str, Home] = {}
        self._tags: dict[str, HomeTag] = {}
        self._misses: dict[tuple[str, str], float] = {}
        self.reload()

    def reload(self) -> None:
        with self._conn.transaction():
            devices, carers = registry_store.devices_and_carers(self._conn)
        self._homes, self._tags = load_homes(self._conn, self._keyring)
        self._devices = {row[0]: _known_device(*row) for row in devices}
        self._carers = {row[0]: row[1] for row in carers}
        self._misses.clear()

    def device(self, device_id: str) -> KnownDevice | None:
        if device_id not in self._devices and self._may_retry("device", device_id):
            with self._conn.transaction():
                row = registry_store.device(self._conn, device_id)
            if row:
                self._devices[device_id] = _known_device(*row)
        return self._devices.get(device_id)

    def carer_provider(self, carer_id: str) -> str | None:
        if carer_id not in self._carers and self._may_retry("carer", carer_id):
            with self._conn.transaction():
                provider_id = registry_store.carer_provider(self._conn, carer_id)
            if provider_id:
                self._carers[carer_id] = provider_id
        return self._carers.get(carer_id)

    def has_service_user(self, service_user_id: str) -> bool:
        return self.home(service_user_id) is not None

    def home(
        self, service_user_id: str, *, needs: str | None = None, landline: str | None = None
    ) -> Home | None:
        """The service user's home; `needs` ("tag" or "fob") looks again, at a bounded rate,
        when the cached home lacks that device (it may have been provisioned since), and
        `landline` when the cached home has another landline (registered since)."""
        home = self._homes.get(service_user_id)
        missing = home is None or (needs == "tag" and home.tag is None)
        missing = missing or (home is not None and needs == "fob" and home.fob is None)
        missing = missing or (
            home is not None and landline is not None and home.landline != landline
        )
        if missing and self._may_retry(f"home-{needs or landline}", service_user_id):
            homes, tags = load_homes(self._conn, self._keyring, service_user_id)
            self._homes.update(homes)
            self._tags.update(tags)
        return self._homes.get(service_user_id)

    def tag(self, uid: str) -> HomeTag | None:
        return self._tags.get(uid)

    def tags(self) -> list[HomeTag]:
        """Every known tag, retired ones included: used to name the tag of a misplaced tap.

        Only refused taps ask, so tags provisioned since the last reload are fetched here too,
        at most once per MISS_RETRY_S."""
        if self._may_retry("all-tags", ""):
            homes, tags = load_homes(self._conn, self._keyring)
            self._homes.update(homes)
            self._tags = tags
        return list(self._tags.values())

    def _may_retry(self, kind: str, key: str) -> bool:
        now = time.monotonic()
        last = self._misses.get((kind, key))
        if last is not None and now - last < MISS_RETRY_S:
            return False
        self._misses[(kind, key)] = now
        return True


def _known_device(
    id: str, provider_id: str, public_key: str, status: str, kind: str
) -> KnownDevice:
    return KnownDevice(
        id, provider_id, public_key_from_b64(public_key), status == "revoked", kind == "telephony"
    )
