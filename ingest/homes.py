"""What ingest knows about each home: position and fence, its tag's keys, its fob's secret.

Secrets are opened (gateway/evidence/keys.py) when the registry cache loads them and live only in
this process's memory; nothing here logs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway.evidence.keys import KeyRing, Sealed, SealError
from gateway.homes import fob_record, tag_record
from ingest import registry_store

log = logging.getLogger("ecm.ingest")


@dataclass(frozen=True)
class HomeTag:
    uid: str
    service_user_id: str
    meta_read_key: bytes = field(repr=False)
    file_read_key: bytes = field(repr=False)
    retired: bool
    _probe: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # ECB keeps no state between blocks, so one long-lived decryptor serves every probe.
        probe = Cipher(algorithms.AES(self.meta_read_key), modes.ECB()).decryptor()
        object.__setattr__(self, "_probe", probe)

    def picc_tag_byte(self, picc: bytes) -> int:
        """First decrypted byte of PICCData under this tag's meta-read key (0xC7 if it is ours).

        PICCData is one block, and CBC with a zero IV is ECB for one block: a cheap probe.
        """
        return int(self._probe.update(picc[:16])[0])


@dataclass(frozen=True)
class HomeFob:
    service_user_id: str
    secret: bytes = field(repr=False)
    digits: int
    step_s: int
    window_steps: int


@dataclass(frozen=True)
class Home:
    service_user_id: str
    lat: float | None
    lon: float | None
    geofence_m: float
    tag: HomeTag | None = None
    fob: HomeFob | None = None
    # The home's landline in E.164: a telephony bridge's call must come from it.
    landline: str | None = None


def load_homes(
    conn: psycopg.Connection, ring: KeyRing, service_user_id: str | None = None
) -> tuple[dict[str, Home], dict[str, HomeTag]]:
    """Every home (or one), with its open keys; and every tag by UID, retired ones included."""
    with conn.transaction():
        homes, tags, fobs = registry_store.home_rows(conn, service_user_id)
    by_uid: dict[str, HomeTag] = {}
    active: dict[str, HomeTag] = {}
    for uid, su, wrapped, ciphertext, kek_id, retired in tags:
        keys = _open(ring, Sealed(bytes(wrapped), bytes(ciphertext), kek_id), tag_record(uid))
        if keys is None:
            continue
        tag = HomeTag(uid, su, keys[:16], keys[16:], retired)
        by_uid[uid] = tag
        if not retired:
            active[su] = tag
    open_fobs: dict[str, HomeFob] = {}
    for su, wrapped, ciphertext, kek_id, digits, step_s, window in fobs:
        secret = _open(ring, Sealed(bytes(wrapped), bytes(ciphertext), kek_id), fob_record(su))
        if secret is not None:
            open_fobs[su] = HomeFob(su, secret, digits, step_s, window)
    result = {
        su: Home(su, lat, lon, geofence_m, active.get(su), open_fobs.get(su), landline)
        for su, lat, lon, geofence_m, landline in homes
    }
    return result, by_uid


def _open(ring: KeyRing, sealed: Sealed, record: str) -> bytes | None:
    try:
        return ring.open(sealed, record)
    except SealError as exc:
        # A row sealed under another master key (a rotation half done) must not stop ingest;
        # its taps are refused as from an unknown tag until the keys open.
        log.error("cannot open the keys of %s: %s", record, exc)
        return None
