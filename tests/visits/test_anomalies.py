"""Each anomaly flagged on the visit it concerns, with a reason; clean visits stay clean."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Engine, text

from core.settings import Settings
from gateway.protocol import GpsFix
from ingest.verify import Evidence
from tests.visits.support import IN, OUT, build, care_world, plan, store, utc, visits_of

DAY = date(2026, 2, 10)
LATER = utc("2026-12-31T00:00:00")


def details(engine: Engine, visit_id: object) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            (code, detail)
            for code, detail in conn.execute(
                text("select code, detail from visit_anomaly where visit_id = :v order by code"),
                {"v": visit_id},
            )
        ]


def test_one_carer_in_two_homes_at_once(engine: Engine, settings: Settings) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    home, next_door = w.add_home(), w.add_home(52.6301, 1.2901)
    store(engine, ann, home, IN, utc("2026-02-10T09:00:00"))
    store(engine, ann, next_door, IN, utc("2026-02-10T09:10:00"))
    store(engine, ann, home, OUT, utc("2026-02-10T09:30:00"))
    store(engine, ann, next_door, OUT, utc("2026-02-10T09:40:00"))

    build(engine, settings, w, DAY, LATER)

    [first] = visits_of(engine, home)
    [second] = visits_of(engine, next_door)
    assert first["anomalies"] == ["carer_in_two_homes"]
    assert second["anomalies"] == ["carer_in_two_homes"]
    assert details(engine, first["id"]) == [
        ("carer_in_two_homes", f"also at home {next_door} from 2026-02-10T09:10:00+00:00")
    ]


def test_impossible_travel_between_consecutive_homes(engine: Engine, settings: Settings) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    norwich, london, close = w.add_home(52.63, 1.29), w.add_home(51.50, -0.12), w.add_home()
    store(engine, ann, norwich, IN, utc("2026-02-10T09:00:00"))
    store(engine, ann, norwich, OUT, utc("2026-02-10T09:30:00"))
    store(engine, ann, london, IN, utc("2026-02-10T10:00:00"))  # ~160 km in 30 minutes
    store(engine, ann, london, OUT, utc("2026-02-10T10:30:00"))
    # A fair drive afterwards: back to Norwich three hours later is fine.
    store(engine, ann, close, IN, utc("2026-02-10T13:30:00"))
    store(engine, ann, close, OUT, utc("2026-02-10T14:00:00"))

    build(engine, settings, w, DAY, LATER)

    assert visits_of(engine, norwich)[0]["anomalies"] == []
    [far] = visits_of(engine, london)
    assert far["anomalies"] == ["impossible_travel"]
    [(_, reason)] = details(engine, far["id"])
    assert reason == "158.4 km from the previous home in 30 min (317 km/h)"
    assert visits_of(engine, close)[0]["anomalies"] == []


def test_one_handset_checking_in_two_carers(engine: Engine, settings: Settings) -> None:
    w = care_world(engine)
    ann, bob = w.add_handset(), w.add_handset()
    home, other = w.add_home(), w.add_home(52.64, 1.30)
    store(engine, ann, home, IN, utc("2026-02-10T09:00:00"))
    store(engine, ann, home, OUT, utc("2026-02-10T09:20:00"))
    # Ann's phone checks Bob in elsewhere ten minutes later: buddy punching.
    store(engine, ann, other, IN, utc("2026-02-10T09:30:00"), carer_id=bob.carer_id)
    store(engine, ann, other, OUT, utc("2026-02-10T10:00:00"), carer_id=bob.carer_id)

    build(engine, settings, w, DAY, LATER)

    assert visits_of(engine, home)[0]["anomalies"] == ["handset_shared"]
    assert visits_of(engine, other)[0]["anomalies"] == ["handset_shared"]


def test_device_clock_far_from_receive_time(engine: Engine, settings: Settings) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    home, offline = w.add_home(), w.add_home()
    at = utc("2026-02-10T09:00:00")
    store(engine, ann, home, IN, at, received_at=at + timedelta(minutes=20))
    store(engine, ann, home, OUT, at + timedelta(minutes=30))
    # Held on the phone for hours without signal: late by design, not a clock fault.
    store(
        engine,
        ann,
        offline,
        IN,
        at + timedelta(hours=2),
        received_at=at + timedelta(hours=6),
        evidence=Evidence(late_arriving=True),
    )
    store(engine, ann, offline, OUT, at + timedelta(hours=2, minutes=30))

    build(engine, settings, w, DAY, LATER)

    [skewed] = visits_of(engine, home)
    assert details(engine, skewed["id"]) == [
        ("device_clock_skew", "check_in device time is 1200 s from its receive time")
    ]
    assert visits_of(engine, offline)[0]["anomalies"] == []


def test_gps_outside_the_geofence(engine: Engine, settings: Settings) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    home, measured_here = w.add_home(), w.add_home(52.63, 1.29)
    fix = GpsFix(lat=52.63, lon=1.29, accuracy_m=10, fix_time=utc("2026-02-10T09:00:00"))
    outside = Evidence(level="none", gps_distance_m=400.0, gps_within_fence=False)
    store(engine, ann, home, IN, utc("2026-02-10T09:00:00"), gps=fix, evidence=outside)
    store(engine, ann, home, OUT, utc("2026-02-10T09:30:00"))
    # No distance from ingest: measured here from the home's coordinates (~1.1 km north).
    far_fix = GpsFix(lat=52.64, lon=1.29, accuracy_m=10, fix_time=utc("2026-02-10T12:00:00"))
    store(engine, ann, measured_here, IN, utc("2026-02-10T12:00:00"), gps=far_fix)
    store(engine, ann, measured_here, OUT, utc("2026-02-10T12:30:00"))

    build(engine, settings, w, DAY, LATER)

    assert details(engine, visits_of(engine, home)[0]["id"]) == [
        ("gps_outside_geofence", "check_in GPS 400 m from the home")
    ]
    assert details(engine, visits_of(engine, measured_here)[0]["id"]) == [
        ("gps_outside_geofence", "check_in GPS 1112 m from the home")
    ]


def test_tag_tapped_far_from_its_home(engine: Engine, settings: Settings) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    home = w.add_home(52.63, 1.29)
    # A cloned or moved tag: a valid tap, but the phone is 5.6 km away.
    fix = GpsFix(lat=52.68, lon=1.29, accuracy_m=8, fix_time=utc("2026-02-10T09:00:00"))
    store(
        engine,
        ann,
        home,
        IN,
        utc("2026-02-10T09:00:00"),
        tag_uid="04A1B2C3D4E5F6",
        gps=fix,
        evidence=Evidence(level="tag", gps_distance_m=5560.0, gps_within_fence=False),
    )
    store(engine, ann, home, OUT, utc("2026-02-10T09:30:00"), evidence=Evidence(level="tag"))

    build(engine, settings, w, DAY, LATER)

    [visit] = visits_of(engine, home)
    assert visit["anomalies"] == ["gps_outside_geofence", "tag_far_from_home"]
    assert ("tag_far_from_home", "tag 04A1B2C3D4E5F6 tapped 5560 m from its home") in details(
        engine, visit["id"]
    )


def test_visit_far_shorter_than_planned(engine: Engine, settings: Settings) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    home = w.add_home()
    plan(engine, w, home, "2026-02-10T09:00:00+00:00", 45)
    store(engine, ann, home, IN, utc("2026-02-10T09:00:00"))
    store(engine, ann, home, OUT, utc("2026-02-10T09:12:00"))

    build(engine, settings, w, DAY, LATER)

    [visit] = visits_of(engine, home)
    assert visit["status"] == "short"
    assert details(engine, visit["id"]) == [("far_shorter_than_planned", "12 of 45 minutes")]
