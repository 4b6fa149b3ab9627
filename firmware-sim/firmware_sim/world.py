"""A simulated home-care world: providers, carers with handsets, service users and a morning rota.

Everything is derived from one seed, handset keys included, so a world can be regenerated
rather than shipped, and a test that fails for seed 7 fails again for seed 7.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from firmware_sim.rota import RotaSlot, VisitMinutes, plan_rounds
from gateway.homes.schemas import HomeDevicesDocument, ProgrammedFob, ProgrammedTag
from gateway.protocol import b64url_decode, b64url_encode, public_key_to_b64
from gateway.registry.schemas import (
    Carer,
    Commission,
    Council,
    Device,
    Provider,
    RegistryDocument,
    ServiceUser,
    TelephonyNumber,
)

NORWICH = (52.6309, 1.2974)
LONDON = ZoneInfo("Europe/London")

MORNING_START = time(7, 0)
MORNING_END = time(12, 0)
SCATTER_RADIUS_M = 5_000.0
GEOFENCE_M = 150.0
DOUBLE_HANDED_SHARE = 0.05
# Which evidence device a home has: most an NFC tag, some a code fob, the rest GPS only.
TAG_SHARE = 0.7
FOB_SHARE = 0.2

METRES_PER_DEGREE_LAT = 111_320.0
# Telephone check-in (generate_world(telephony=True)): Ofcom's ranges reserved for drama, never
# in service. Freephone 0808 157 0xxx for the providers' numbers; 1,000 landlines per range.
DRAMA_FREEPHONE = "+448081570"
DRAMA_LANDLINES = (
    "+441134960",
    "+441144960",
    "+441154960",
    "+441164960",
    "+441174960",
    "+441184960",
    "+441214960",
    "+441314960",
    "+441414960",
    "+441514960",
    "+441614960",
)
# Homes without a tag or fob have a landline; of the others, this share too (unused by the
# morning, whose carers there tap the tag or type the code).
OTHER_LANDLINE_SHARE = 0.3

Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
TagUid = Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{14}$")]
Hex = Annotated[str, StringConstraints(pattern=r"^([0-9A-F]{2})+$")]

_PROVIDER_NAMES = (
    "Wensum",
    "Yare",
    "Broadland",
    "Tombland",
    "Eaton",
    "Thorpe",
    "Catton",
    "Hellesdon",
    "Costessey",
    "Sprowston",
    "Lakenham",
    "Earlham",
)
_FIRST_NAMES = (
    "Ann",
    "Bola",
    "Chloe",
    "Dawn",
    "Emeka",
    "Fatima",
    "Grace",
    "Hannah",
    "Imran",
    "Joy",
    "Kasia",
    "Liam",
    "Maria",
    "Nadia",
    "Olu",
    "Priya",
    "Ruth",
    "Sam",
    "Tomasz",
    "Zoe",
)
_SERVICE_USER_FIRST_NAMES = (
    "Arthur",
    "Beryl",
    "Cyril",
    "Doris",
    "Edna",
    "Frank",
    "Gladys",
    "Harold",
    "Irene",
    "Joan",
    "Kenneth",
    "Lilian",
    "Margaret",
    "Norman",
    "Olive",
    "Percy",
    "Queenie",
    "Ronald",
    "Sylvia",
    "Walter",
)
_SURNAMES = (
    "Allen",
    "Bennett",
    "Clarke",
    "Dawson",
    "Ellis",
    "Fisher",
    "Green",
    "Howard",
    "Jarvis",
    "King",
    "Lambert",
    "Mills",
    "Nolan",
    "Osborne",
    "Palmer",
    "Reeve",
    "Shaw",
    "Turner",
    "Wright",
    "Young",
)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimProvider(_Record):
    id: Ref
    name: str
    # The number its carers call to check in by telephone (E.164), when the world has telephony.
    phone_number: str | None = None


class SimCarer(_Record):
    id: Ref
    provider_id: Ref
    name: str
    device_id: Ref
    # What the carer keys on the telephone, when the world has telephony.
    carer_number: str | None = None
    pin: str | None = None


class SimHandset(_Record):
    """A carer's phone as provisioned: the private key never leaves the simulated world file."""

    device_id: Ref
    carer_id: Ref
    provider_id: Ref
    private_key: str = Field(description="Ed25519 private key: 32 raw bytes, base64url.")

    def key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(b64url_decode(self.private_key))

    def public_key(self) -> str:
        return public_key_to_b64(self.key().public_key())


class SimServiceUser(_Record):
    id: Ref
    name: str
    provider_id: Ref
    home_lat: float
    home_lon: float
    geofence_m: float = GEOFENCE_M
    home_device: Literal["tag", "fob", "none"] = "tag"
    tag_uid: TagUid | None = None
    # The home's secrets as programmed into its tag or fob (the server keeps them sealed).
    tag_meta_read_key: Hex | None = None
    tag_file_read_key: Hex | None = None
    fob_secret: Hex | None = None
    landline: str | None = None  # E.164, when the world has telephony


class PlannedVisit(_Record):
    visit_ref: Ref
    service_user_id: Ref
    provider_id: Ref
    planned_start: AwareDatetime
    planned_minutes: VisitMinutes
    carers_required: Literal[1, 2]
    carer_ids: tuple[Ref, ...]

    @property
    def planned_end(self) -> datetime:
        return self.planned_start + timedelta(minutes=self.planned_minutes)


class World(_Record):
    seed: int
    day: date
    area: tuple[float, float]
    providers: list[SimProvider]
    carers: list[SimCarer]
    handsets: list[SimHandset]
    service_users: list[SimServiceUser]
    visits: list[PlannedVisit]

    def save(self, path: Path | str) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: Path | str) -> World:
        return cls.model_validate_json(Path(path).read_text())

    def schedule_csv(self) -> str:
        """The morning's planned visits as the council's `schedule.csv` (docs/visits.md)."""
        rows = [
            "visit_ref,service_user_ref,provider_ref,planned_start,planned_minutes,"
            "carers_required,service_type"
        ]
        rows.extend(
            f"{v.visit_ref},{v.service_user_id},{v.provider_id},{v.planned_start.isoformat()},"
            f"{v.planned_minutes},{v.carers_required},personal_care"
            for v in self.visits
        )
        return "\n".join(rows) + "\n"

    def registry_document(self, council_id: str | None = None) -> RegistryDocument:
        """What the server's registry needs to know: public keys only. With `council_id`, one
        council commissions every provider and has every service user."""
        councils = [Council(id=council_id, name="Simulated council")] if council_id else []
        return RegistryDocument(
            councils=councils,
            commissions=[
                Commission(council_id=council_id, provider_id=p.id) for p in self.providers
            ]
            if council_id
            else [],
            providers=[Provider(id=p.id, name=p.name) for p in self.providers],
            carers=[
                Carer(id=c.id, provider_id=c.provider_id, name=c.name, carer_number=c.carer_number)
                for c in self.carers
            ],
            devices=[
                Device(id=h.device_id, provider_id=h.provider_id, public_key=h.public_key())
                for h in self.handsets
            ],
            service_users=[
                ServiceUser(
                    id=su.id,
                    name=su.name,
                    home_lat=su.home_lat,
                    home_lon=su.home_lon,
                    geofence_m=su.geofence_m,
                    home_tag_uid=su.tag_uid,
                    council_id=council_id,
                    landline=su.landline,
                )
                for su in self.service_users
            ],
            telephony_numbers=[
                TelephonyNumber(number=p.phone_number, provider_id=p.id)
                for p in self.providers
                if p.phone_number
            ],
        )

    def home_devices_document(self) -> HomeDevicesDocument:
        """The programming sheet of the homes' tags and fobs, secrets included: imported into
        the registry the way production imports a tag supplier's sheet (`ecm homes import`)."""
        tags, fobs = [], []
        for su in self.service_users:
            if su.tag_uid and su.tag_meta_read_key and su.tag_file_read_key:
                tags.append(
                    ProgrammedTag(
                        service_user_id=su.id,
                        uid=su.tag_uid,
                        meta_read_key=su.tag_meta_read_key,
                        file_read_key=su.tag_file_read_key,
                    )
                )
            if su.fob_secret:
                fobs.append(ProgrammedFob(service_user_id=su.id, secret=su.fob_secret))
        return HomeDevicesDocument(tags=tags, fobs=fobs)

    def service_user(self, service_user_id: str) -> SimServiceUser:
        for su in self.service_users:
            if su.id == service_user_id:
                return su
        raise KeyError(service_user_id)

    def carer(self, carer_id: str) -> SimCarer:
        for carer in self.carers:
            if carer.id == carer_id:
                return carer
        raise KeyError(carer_id)

    def provider(self, provider_id: str) -> SimProvider:
        for provider in self.providers:
            if provider.id == provider_id:
                return provider
        raise KeyError(provider_id)

    def handset_for(self, carer_id: str) -> SimHandset:
        for handset in self.handsets:
            if handset.carer_id == carer_id:
                return handset
        raise KeyError(carer_id)

    def visits_of(self, carer_id: str) -> list[PlannedVisit]:
        """A carer's round for the morning, in planned order."""
        return sorted(
            (v for v in self.visits if carer_id in v.carer_ids), key=lambda v: v.planned_start
        )


def generate_world(
    seed: int,
    providers: int = 4,
    carers: int = 15,
    service_users: int = 50,
    visits: int = 200,
    *,
    day: date,
    area: tuple[float, float] = NORWICH,
    id_prefix: str = "",
    telephony: bool = False,
) -> World:
    """A deterministic world for `seed`.

    `id_prefix` keeps worlds apart when several are seeded into one registry (tests share one).
    `telephony` gives each provider a number to call, each carer a carer number and PIN, and
    landlines to every home without a tag or fob and to some others (numbers from Ofcom's drama
    ranges; a registry holds each once, so seed one telephony world per registry).

    Visits are planned to start between 07:00 and 12:00, shortened towards 15-minute calls
    as the rota fills. A carer is never in two homes at once: when a provider has more visits
    than its carers can cover in the morning, the last ones start after noon (an overbooked
    rota) rather than overlap. The defaults (about 14 carer-visits per carer) sit at that edge.
    """
    if providers < 1 or carers < providers:
        raise ValueError("need at least one provider and at least one carer per provider")
    if service_users < 1 or visits < 0:
        raise ValueError("need at least one service user and a non-negative number of visits")
    rng = random.Random(seed)

    sim_providers = [
        SimProvider(id=f"{id_prefix}P{i:03d}", name=_provider_name(i))
        for i in range(1, providers + 1)
    ]
    # Carers are spread evenly: carer i works for provider i mod n.
    sim_carers = [
        SimCarer(
            id=f"{id_prefix}C{i:04d}",
            provider_id=sim_providers[(i - 1) % providers].id,
            name=f"{rng.choice(_FIRST_NAMES)} {rng.choice(_SURNAMES)}",
            device_id=f"{id_prefix}D{i:04d}",
        )
        for i in range(1, carers + 1)
    ]
    handsets = [
        SimHandset(
            device_id=c.device_id,
            carer_id=c.id,
            provider_id=c.provider_id,
            private_key=_derive_private_key(seed, c.device_id),
        )
        for c in sim_carers
    ]
    # Service users follow the carers' spread so each provider's workload matches its staff.
    tag_uids: set[str] = set()
    # Evidence devices come from their own generator, so adding them did not move the rota.
    device_rng = random.Random(f"{seed}:home-devices")
    sim_service_users = []
    for i in range(1, service_users + 1):
        lat, lon = _scatter(rng, area, SCATTER_RADIUS_M)
        su_id = f"{id_prefix}SU{i:04d}"
        tag_uid = _tag_uid(rng, tag_uids)
        sim_service_users.append(
            SimServiceUser(
                id=su_id,
                name=f"{rng.choice(_SERVICE_USER_FIRST_NAMES)} {rng.choice(_SURNAMES)}",
                provider_id=sim_carers[(i - 1) % carers].provider_id,
                home_lat=lat,
                home_lon=lon,
                **_home_device(device_rng, seed, su_id, tag_uid),
            )
        )

    demand = _share_out_visits(rng, visits, sim_providers, sim_carers, sim_service_users)
    start = datetime.combine(day, MORNING_START, tzinfo=LONDON)
    end = datetime.combine(day, MORNING_END, tzinfo=LONDON)
    slots: list[RotaSlot] = []
    for provider in sim_providers:
        provider_carers = [c.id for c in sim_carers if c.provider_id == provider.id]
        homes = [su.id for su in sim_service_users if su.provider_id == provider.id]
        slots.extend(
            plan_rounds(rng, provider.id, provider_carers, homes, demand[provider.id], (start, end))
        )

    # Visit refs follow the morning's order, which is how a coordinator reads a rota.
    slots.sort(key=lambda s: (s.start, s.provider_id, s.service_user_id))
    planned = [
        PlannedVisit(
            visit_ref=f"{id_prefix}V{n:05d}",
            service_user_id=s.service_user_id,
            provider_id=s.provider_id,
            planned_start=s.start,
            planned_minutes=s.minutes,
            carers_required=2 if len(s.carer_ids) == 2 else 1,
            carer_ids=s.carer_ids,
        )
        for n, s in enumerate(slots, start=1)
    ]
    world = World(
        seed=seed,
        day=day,
        area=area,
        providers=sim_providers,
        carers=sim_carers,
        handsets=handsets,
        service_users=sim_service_users,
        visits=planned,
    )
    return _with_telephony(world, seed) if telephony else world


def _with_telephony(world: World, seed: int) -> World:
    """Numbers, carer numbers, PINs and landlines, from a generator of their own so that the
    rest of the world is the same with or without them."""
    rng = random.Random(f"{seed}:telephony")
    if len(world.providers) > 1000 or len(world.service_users) > 1000 * len(DRAMA_LANDLINES):
        raise ValueError("a telephony world has at most 1,000 providers and 11,000 homes")
    providers = [
        p.model_copy(update={"phone_number": f"{DRAMA_FREEPHONE}{i:03d}"})
        for i, p in enumerate(world.providers, start=1)
    ]
    numbers = rng.sample(range(1000, 100_000), len(world.carers))
    carers = [
        c.model_copy(update={"carer_number": str(number), "pin": f"{rng.randrange(1_000_000):06d}"})
        for c, number in zip(world.carers, numbers, strict=True)
    ]
    homes = []
    for i, su in enumerate(world.service_users):
        has_line = su.home_device == "none" or rng.random() < OTHER_LANDLINE_SHARE
        line = f"{DRAMA_LANDLINES[i // 1000]}{i % 1000:03d}" if has_line else None
        homes.append(su.model_copy(update={"landline": line}))
    return world.model_copy(
        update={"providers": providers, "carers": carers, "service_users": homes}
    )


def _provider_name(i: int) -> str:
    base = _PROVIDER_NAMES[(i - 1) % len(_PROVIDER_NAMES)]
    lap = (i - 1) // len(_PROVIDER_NAMES)
    return f"{base} Home Care Ltd" if lap == 0 else f"{base} Home Care ({lap + 1}) Ltd"


def _derive_private_key(seed: int, device_id: str) -> str:
    raw = hashlib.sha256(f"{seed}:{device_id}".encode()).digest()
    key = Ed25519PrivateKey.from_private_bytes(raw)
    return b64url_encode(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))


def _scatter(
    rng: random.Random, centre: tuple[float, float], radius_m: float
) -> tuple[float, float]:
    """A point uniformly within a disc (sqrt keeps homes from bunching at the centre)."""
    distance = radius_m * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    return offset_metres(centre, distance * math.cos(bearing), distance * math.sin(bearing))


def offset_metres(point: tuple[float, float], north_m: float, east_m: float) -> tuple[float, float]:
    """Move a point a few km at most; an equirectangular step is accurate enough for that."""
    lat, lon = point
    new_lat = lat + north_m / METRES_PER_DEGREE_LAT
    new_lon = lon + east_m / (METRES_PER_DEGREE_LAT * math.cos(math.radians(lat)))
    return round(new_lat, 6), round(new_lon, 6)


def _home_device(rng: random.Random, seed: int, su_id: str, tag_uid: str) -> dict[str, Any]:
    """A tag (with its keys), a fob (with its secret) or nothing; keys derived from the seed."""
    draw = rng.random()
    if draw < TAG_SHARE:
        return {
            "home_device": "tag",
            "tag_uid": tag_uid,
            "tag_meta_read_key": _derive_secret(seed, su_id, "meta", 16),
            "tag_file_read_key": _derive_secret(seed, su_id, "file", 16),
        }
    if draw < TAG_SHARE + FOB_SHARE:
        return {"home_device": "fob", "fob_secret": _derive_secret(seed, su_id, "fob", 20)}
    return {"home_device": "none"}


def _derive_secret(seed: int, su_id: str, purpose: str, length: int) -> str:
    return hashlib.sha256(f"{seed}:{su_id}:{purpose}".encode()).digest()[:length].hex().upper()


def _tag_uid(rng: random.Random, taken: set[str]) -> str:
    """A 7-byte NFC UID; 0x04 is NXP's manufacturer byte, as on most NTAG stickers."""
    while True:
        uid = f"04{rng.getrandbits(48):012X}"
        if uid not in taken:
            taken.add(uid)
            return uid


def _share_out_visits(
    rng: random.Random,
    visits: int,
    providers: Sequence[SimProvider],
    carers: Sequence[SimCarer],
    service_users: Sequence[SimServiceUser],
) -> dict[str, list[int]]:
    """How many carers each of a provider's visits needs, balancing carer-visits per carer."""
    staff = {p.id: sum(1 for c in carers if c.provider_id == p.id) for p in providers}
    has_clients = {su.provider_id for su in service_users}
    load = {p.id: 0 for p in providers}
    demand: dict[str, list[int]] = {p.id: [] for p in providers}
    for _ in range(visits):
        double = rng.random() < DOUBLE_HANDED_SHARE
        candidates = [
            p.id for p in providers if p.id in has_clients and (not double or staff[p.id] >= 2)
        ]
        if not candidates:
            double = False
            candidates = [p.id for p in providers if p.id in has_clients]
        needed = 2 if double else 1
        chosen = min(candidates, key=lambda pid: (load[pid] + needed) / staff[pid])
        load[chosen] += needed
        demand[chosen].append(needed)
    return demand
