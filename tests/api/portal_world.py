"""A small care day for the portal tests: one provider's handset and home, four planned visits
(on time with tag and GPS evidence, late, and two missed), stored as ingest would store them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from uuid import UUID

from sqlalchemy import Engine

from gateway.protocol import GpsFix
from ingest.verify import Evidence
from tests.visits.support import IN, OUT, CareWorld, care_world, plan, store
from visits.days import london_date
from visits.policy import set_policy

HOME_LAT, HOME_LON = 52.63, 1.29
# About 40 m north-east of the home: inside its 150 m fence.
NEAR_LAT, NEAR_LON = 52.63025, 1.29040


@dataclass(frozen=True)
class PortalDay:
    world: CareWorld
    home: str
    carer_id: str
    day: date
    anchor: datetime  # every visit is over by then
    on_time_visit: UUID  # a visit id is the event id of its first check-in
    late_visit: UUID
    tag_uid: str
    on_time_plan: str  # the on-time visit's planned visit ref
    missed_home: str  # both its planned visits were missed


def gps(at: datetime, accuracy_m: float = 12.0) -> GpsFix:
    return GpsFix(lat=NEAR_LAT, lon=NEAR_LON, accuracy_m=accuracy_m, fix_time=at)


def portal_day(engine: Engine, anchor: datetime) -> PortalDay:
    """Visits on the London day of `anchor` (UTC), all over by then, in three homes: planned at
    anchor-60 min for 30 min (on time, tag and GPS), anchor-45 min for 10 min (checked in 20 min
    late), and anchor-20 and anchor-10 min with no evidence (the first is missed: the next one
    started)."""
    world = care_world(engine)
    with engine.begin() as conn:
        # Missed at midnight, not 23:00: a visit due late in the evening stays "to come" for
        # tests run then (the home's next visit starting still makes the earlier one missed).
        set_policy(
            conn,
            world.council_id,
            late_after_minutes=15,
            missed_cutoff=time(0, 0),
            correction_approval_minutes=30,
        )
    handset = world.add_handset("Ann Carer")
    home = world.add_home(
        HOME_LAT, HOME_LON, name="Bea User", address="12 Elm Road, Norwich NR2 3AB"
    )
    late_home = world.add_home(HOME_LAT + 0.01, HOME_LON, name="Cy Late")
    missed_home = world.add_home(
        HOME_LAT + 0.02, HOME_LON, name="Dot Missed", address="4 Mill Street, Norwich NR3 1AB"
    )
    tag_uid = "04A1B2C3D4E5F6"
    on_time_start = anchor - timedelta(minutes=60)
    late_start = anchor - timedelta(minutes=45)
    on_time_plan, *_ = [
        plan(engine, world, where, start.isoformat(), minutes)
        for start, minutes, where in (
            (on_time_start, 30, home),
            (late_start, 10, late_home),
            (anchor - timedelta(minutes=20), 30, missed_home),
            (anchor - timedelta(minutes=10), 30, missed_home),
        )
    ]
    tapped = Evidence(
        level="tag", tag_uid=tag_uid, tag_counter=41, gps_distance_m=40.0, gps_within_fence=True
    )
    check_in_at = on_time_start + timedelta(minutes=2)
    on_time = store(
        engine,
        handset,
        home,
        IN,
        check_in_at,
        evidence=tapped,
        tag_uid=tag_uid,
        gps=gps(check_in_at),
        # The handset had no signal for a while: received 95 s after it happened.
        received_at=check_in_at + timedelta(seconds=95),
    )
    check_out_at = on_time_start + timedelta(minutes=31)
    store(
        engine,
        handset,
        home,
        OUT,
        check_out_at,
        evidence=Evidence(
            level="tag",
            tag_uid=tag_uid,
            tag_counter=42,
            gps_distance_m=40.0,
            gps_within_fence=True,
        ),
        tag_uid=tag_uid,
        gps=gps(check_out_at, accuracy_m=30.0),
    )
    late = store(engine, handset, late_home, IN, late_start + timedelta(minutes=20))
    store(engine, handset, late_home, OUT, late_start + timedelta(minutes=30))
    return PortalDay(
        world=world,
        home=home,
        carer_id=handset.carer_id,
        day=london_date(anchor),
        anchor=anchor,
        on_time_visit=on_time,
        late_visit=late,
        tag_uid=tag_uid,
        on_time_plan=on_time_plan,
        missed_home=missed_home,
    )
