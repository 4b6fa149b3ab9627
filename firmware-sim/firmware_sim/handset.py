"""A carer's handset: signs check-in and check-out events as the real app would (protocol v1)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_sim.fob import SimFob
from firmware_sim.tag import SimTag
from firmware_sim.world import PlannedVisit, SimServiceUser, World, offset_metres
from gateway.protocol import (
    EventClaims,
    EventType,
    GpsFix,
    TagReading,
    events_topic,
    sign_compact,
)

if TYPE_CHECKING:
    from firmware_sim.outbox import Outbox

# A phone's GPS a few metres off the doorstep, reporting an honest 5-20 m accuracy.
GPS_JITTER_M = 4.0
GPS_ACCURACY_M = (5.0, 20.0)
# The fix is taken shortly before the event is signed.
GPS_FIX_AGE_S = (1.0, 20.0)


@dataclass(frozen=True)
class SignedVisitEvent:
    """One event ready to publish: the compact JWS and the claims inside it."""

    event_id: UUID
    topic: str
    token: str
    claims: EventClaims

    @property
    def payload(self) -> bytes:
        return self.token.encode("ascii")


COUNTER_EPOCH = date(2024, 1, 1)
TAPS_PER_DAY = 100


@dataclass
class HomeDevices:
    """The tags and fobs in the world's homes, shared by every handset: a tag's counter counts
    every carer's taps."""

    tags: dict[str, SimTag]
    fobs: dict[str, SimFob]

    @classmethod
    def for_world(cls, world: World, rng: random.Random | None = None) -> HomeDevices:
        rng = rng or random.Random()
        # A real tag's read counter only ever rises, across days. The simulator starts each
        # day's tags where that many days of taps (fewer than TAPS_PER_DAY a day) left them, so
        # worlds of successive days (the load test's week) do not replay each other's counters.
        counter = max((world.day - COUNTER_EPOCH).days, 0) * TAPS_PER_DAY
        tags, fobs = {}, {}
        for su in world.service_users:
            if su.tag_uid and su.tag_meta_read_key and su.tag_file_read_key:
                tags[su.id] = SimTag(
                    su.tag_uid,
                    bytes.fromhex(su.tag_meta_read_key),
                    bytes.fromhex(su.tag_file_read_key),
                    counter=counter,
                    rng=rng,
                )
            if su.fob_secret:
                fobs[su.id] = SimFob(bytes.fromhex(su.fob_secret))
        return cls(tags, fobs)


class Handset:
    """One device, one carer, one key; `seq` counts the events it has signed so far.

    The first event carries seq 0, so seq n says n events came before it from this handset and
    a gap in seq at the server means an event is missing.
    """

    def __init__(
        self,
        device_id: str,
        carer_id: str,
        key: Ed25519PrivateKey,
        homes: Mapping[str, SimServiceUser],
        *,
        devices: HomeDevices | None = None,
        seq: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        self.device_id = device_id
        self.carer_id = carer_id
        self.topic = events_topic(device_id)
        self._key = key
        # The rota on the phone carries each home's position and tag, as the app shows them.
        self._homes = homes
        self._devices = devices or HomeDevices({}, {})
        self._seq = seq
        self._rng = rng or random.Random()

    @classmethod
    def for_carer(
        cls,
        world: World,
        carer_id: str,
        rng: random.Random | None = None,
        devices: HomeDevices | None = None,
        outbox: Outbox | None = None,
    ) -> Handset:
        """The carer's handset; with an outbox, seq continues from where the last run ended."""
        record = world.handset_for(carer_id)
        homes = {su.id: su for su in world.service_users}
        devices = devices or HomeDevices.for_world(world, rng)
        seq = outbox.next_seq(record.device_id) if outbox is not None else 0
        return cls(
            record.device_id, carer_id, record.key(), homes, devices=devices, seq=seq, rng=rng
        )

    @property
    def seq(self) -> int:
        return self._seq

    def check_in(
        self,
        visit: PlannedVisit,
        at: datetime,
        tag: bool | TagReading = True,
        gps: GpsFix | bool = True,
        carer_id: str | None = None,
    ) -> SignedVisitEvent:
        """`tag`: use the home's evidence device, tapping its tag or typing its fob's code; a
        `TagReading` is sent as given (a copied tap). `carer_id`: whom the handset checks in
        (its own carer unless someone is buddy punching)."""
        return self._sign(EventType.CHECK_IN, visit, at, tag, gps, carer_id)

    def check_out(
        self,
        visit: PlannedVisit,
        at: datetime,
        tag: bool | TagReading = True,
        gps: GpsFix | bool = True,
        carer_id: str | None = None,
    ) -> SignedVisitEvent:
        return self._sign(EventType.CHECK_OUT, visit, at, tag, gps, carer_id)

    def gps_fix_at_home(self, service_user_id: str, at: datetime) -> GpsFix:
        home = self._homes[service_user_id]
        lat, lon = offset_metres(
            (home.home_lat, home.home_lon),
            self._rng.gauss(0, GPS_JITTER_M),
            self._rng.gauss(0, GPS_JITTER_M),
        )
        return GpsFix(
            lat=lat,
            lon=lon,
            accuracy_m=round(self._rng.uniform(*GPS_ACCURACY_M), 1),
            fix_time=_utc(at) - timedelta(seconds=round(self._rng.uniform(*GPS_FIX_AGE_S), 3)),
        )

    def _sign(
        self,
        type: EventType,
        visit: PlannedVisit,
        at: datetime,
        tag: bool | TagReading,
        gps: GpsFix | bool,
        carer_id: str | None = None,
    ) -> SignedVisitEvent:
        home = self._homes[visit.service_user_id]
        if isinstance(gps, GpsFix):
            fix: GpsFix | None = gps
        else:
            fix = self.gps_fix_at_home(home.id, at) if gps else None
        copied = tag if isinstance(tag, TagReading) else None
        home_tag = self._devices.tags.get(home.id) if tag is True else None
        home_fob = self._devices.fobs.get(home.id) if tag is True else None
        claims = EventClaims.build(
            # Fresh ids even for a re-run of the same world: a second run is a second morning to
            # the server, not duplicates for it to drop.
            event_id=uuid.uuid4(),
            device_id=self.device_id,
            carer_id=carer_id or self.carer_id,
            seq=self._seq,
            type=type,
            device_time=_utc(at),
            service_user_id=home.id,
            tag=copied or (home_tag.tap() if home_tag else None),
            code=home_fob.code_at(at) if home_fob else None,
            gps=fix,
        )
        token = sign_compact(claims.to_json(), self._key, kid=self.device_id)
        self._seq += 1
        return SignedVisitEvent(claims.event_id, self.topic, token, claims)


def _utc(at: datetime) -> datetime:
    """Handsets keep UTC on the wire; a naive time would be a bug in the caller."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("device time must be timezone-aware")
    return at.astimezone(UTC)
