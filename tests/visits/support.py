"""Helpers for the visit tests: a small care world in the registry, evidence stored through
ingest's own claims-to-row mapping, and planned visits through the real schedule import."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, text

from core.settings import Settings
from gateway.protocol import EventType, GpsFix, TagReading
from ingest.store import EVENT_COLUMNS, event_row
from ingest.verify import Evidence, ReceivedMessage, VerifiedEvent
from tests.support.devices import TestDevice
from tests.support.ids import unique
from tests.support.world import World, tag_uid
from visits.builder import BuildReport, build_day
from visits.schedule import ImportReport, import_schedule

IN = EventType.CHECK_IN
OUT = EventType.CHECK_OUT
TAG = Evidence(level="tag")
CODE = Evidence(level="code")
NONE = Evidence()

_INSERT_EVENT = text(
    f"insert into device_event ({', '.join(EVENT_COLUMNS)}) "
    f"values ({', '.join(':' + column for column in EVENT_COLUMNS)})"
)


def utc(text_time: str) -> datetime:
    return datetime.fromisoformat(text_time).replace(tzinfo=UTC)


@dataclass
class CareWorld:
    """One council, one provider (in a lot), handsets with one carer each, and homes."""

    engine: Engine
    council_id: str
    provider_id: str
    lot: str
    handsets: list[TestDevice] = field(default_factory=list)
    homes: list[str] = field(default_factory=list)

    def add_handset(self) -> TestDevice:
        world = World()
        made = world.handset(self.provider_id, carer_name="A Carer")
        world.seed(self.engine)
        handset = TestDevice(
            provider_id=self.provider_id,
            carer_id=made.carer_id,
            device_id=made.device_id,
            service_user_id="home-given-per-event",
            tag_uid="",
            key=made.key,
        )
        self.handsets.append(handset)
        return handset

    def add_home(self, lat: float = 52.63, lon: float = 1.29) -> str:
        world = World()
        home = world.home(
            council_id=self.council_id,
            name="A Person",
            lat=lat,
            lon=lon,
            home_tag_uid=tag_uid(),
        )
        world.seed(self.engine)
        self.homes.append(home)
        return home


def care_world(engine: Engine, *, provider_id: str | None = None) -> CareWorld:
    world = World()
    council_id = world.council(unique("LA"))
    lot = unique("lot-")
    provider_id = world.provider(provider_id, council_id=council_id, lot=lot)
    world.seed(engine)
    return CareWorld(engine, council_id, provider_id, lot)


def store(
    engine: Engine,
    handset: TestDevice,
    home: str,
    type: EventType,
    at: datetime,
    *,
    evidence: Evidence = NONE,
    received_at: datetime | None = None,
    tag_uid: str | None = None,
    gps: GpsFix | None = None,
    carer_id: str | None = None,
) -> UUID:
    """Store a signed event as ingest would, with the evidence ingest would have found."""
    overrides: dict[str, Any] = {"service_user_id": home}
    if carer_id is not None:
        overrides["carer_id"] = carer_id
    tag, evidence = _tag_tap(tag_uid, evidence)
    claims, jws = handset.event(type, at, tag=tag, gps=gps, **overrides)
    received = ReceivedMessage(
        mid=0, topic=handset.topic, payload=jws.encode(), received_at=received_at or at
    )
    row = event_row(VerifiedEvent(received, claims, handset.provider_id, evidence))
    with engine.begin() as conn:
        conn.execute(_INSERT_EVENT, dict(zip(EVENT_COLUMNS, row, strict=True)))
    return claims.event_id


def _tag_tap(tag_uid: str | None, evidence: Evidence) -> tuple[TagReading | None, Evidence]:
    """A tap whose stored row reads `tag_uid`. Before the SUN-tag protocol the claim carried the
    UID; with it, the claim carries the encrypted tap and ingest records the UID it decrypted as
    evidence. Built by name so this helper works on either side of that change."""
    if tag_uid is None:
        return None, evidence
    if "uid" in TagReading.model_fields:
        return TagReading.model_validate({"uid": tag_uid}), evidence
    tap = TagReading.model_validate({"picc": "0" * 32, "mac": "0" * 16})
    fields: dict[str, Any] = {**vars(evidence), "tag_uid": tag_uid}
    return tap, type(evidence)(**fields)


HEADER = (
    "visit_ref,service_user_ref,provider_ref,planned_start,planned_minutes,carers_required,"
    "service_type"
)


def plan(
    engine: Engine,
    world: CareWorld,
    home: str,
    start: str,
    minutes: int = 30,
    carers: int = 1,
    *,
    ref: str | None = None,
) -> str:
    """Import one planned visit; `start` is ISO 8601 with its offset."""
    ref = ref or unique("V")
    content = f"{HEADER}\n{ref},{home},{world.provider_id},{start},{minutes},{carers},personal\n"
    with engine.begin() as conn:
        report: ImportReport = import_schedule(conn, content, source="test", imported_by="tests")
    assert report.errors == [], report.errors
    return ref


def build(
    engine: Engine, settings: Settings, world: CareWorld, day: date, now: datetime
) -> BuildReport:
    with engine.begin() as conn:
        return build_day(conn, settings, day, now=now, service_user_ids=world.homes)


def visits_of(engine: Engine, home: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select v.*, (select array_agg(vc.carer_id order by vc.carer_id) "
                "from visit_carer vc where vc.visit_id = v.id) as carer_ids, "
                "(select coalesce(array_agg(a.code order by a.code), '{}') from visit_anomaly a "
                "where a.visit_id = v.id) as anomalies "
                "from visit v where v.home_key = :home order by coalesce(v.check_in, "
                "v.planned_start)"
            ),
            {"home": home},
        ).mappings()
        return [dict(row) for row in rows]
