"""Visits built from stored evidence: pairing, double-handed care, planned matching, status
and verification, across midnight and both clock changes (Europe/London)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, text

from core.settings import Settings
from tests.visits.support import (
    CODE,
    IN,
    NONE,
    OUT,
    TAG,
    build,
    care_world,
    plan,
    store,
    utc,
    visits_of,
)
from visits.builder import refresh

LATER = utc("2026-12-31T00:00:00")


def test_check_in_and_out_make_one_visit_matched_on_time(
    engine: Engine, settings: Settings
) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    home = w.add_home()
    ref = plan(engine, w, home, "2026-02-03T09:00:00+00:00", 30)
    check_in = store(engine, ann, home, IN, utc("2026-02-03T09:05:00"), evidence=TAG)
    store(engine, ann, home, OUT, utc("2026-02-03T09:36:30"), evidence=TAG)

    build(engine, settings, w, date(2026, 2, 3), LATER)

    [visit] = visits_of(engine, home)
    assert visit["id"] == check_in
    assert visit["planned_visit_ref"] == ref
    assert (visit["status"], visit["verification"], visit["minutes"]) == ("on_time", "tag", 31)
    assert visit["carer_ids"] == [ann.carer_id]
    assert visit["anomalies"] == []


def test_verification_is_the_weakest_end(engine: Engine, settings: Settings) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    home = w.add_home()
    store(engine, ann, home, IN, utc("2026-02-03T09:00:00"), evidence=TAG)
    store(engine, ann, home, OUT, utc("2026-02-03T09:30:00"), evidence=CODE)
    store(engine, ann, home, IN, utc("2026-02-03T12:00:00"), evidence=TAG)
    store(engine, ann, home, OUT, utc("2026-02-03T12:30:00"), evidence=NONE)

    build(engine, settings, w, date(2026, 2, 3), LATER)

    found = visits_of(engine, home)
    assert [(v["status"], v["verification"]) for v in found] == [
        ("unplanned", "code"),
        ("unplanned", "none"),
    ]


def test_late_short_open_and_missed(engine: Engine, settings: Settings) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    home = w.add_home()
    plan(engine, w, home, "2026-02-03T08:00:00+00:00", 30)  # late: in at 08:20
    plan(engine, w, home, "2026-02-03T12:00:00+00:00", 60)  # short: 20 of 60 minutes
    plan(engine, w, home, "2026-02-03T17:00:00+00:00", 30)  # open: no check-out
    missed = plan(engine, w, home, "2026-02-03T21:00:00+00:00", 30)
    store(engine, ann, home, IN, utc("2026-02-03T08:20:00"))
    store(engine, ann, home, OUT, utc("2026-02-03T08:50:00"))
    store(engine, ann, home, IN, utc("2026-02-03T12:00:00"))
    store(engine, ann, home, OUT, utc("2026-02-03T12:20:00"))
    store(engine, ann, home, IN, utc("2026-02-03T17:00:00"))

    # Before the 23:00 cut-off the 21:00 visit is not yet missed.
    build(engine, settings, w, date(2026, 2, 3), utc("2026-02-03T22:59:00"))
    assert [v["status"] for v in visits_of(engine, home)] == ["late", "short", "open"]

    build(engine, settings, w, date(2026, 2, 3), utc("2026-02-03T23:00:00"))
    found = visits_of(engine, home)
    assert [v["status"] for v in found] == ["late", "short", "open", "missed"]
    assert found[3]["planned_visit_ref"] == missed
    assert "far_shorter_than_planned" in found[1]["anomalies"]


def test_double_handed_visit_is_one_visit_with_both_carers(
    engine: Engine, settings: Settings
) -> None:
    w = care_world(engine)
    ann, bob = w.add_handset(), w.add_handset()
    home = w.add_home()
    plan(engine, w, home, "2026-02-03T09:00:00+00:00", 30, carers=2)
    store(engine, ann, home, IN, utc("2026-02-03T09:00:00"), evidence=TAG)
    store(engine, bob, home, IN, utc("2026-02-03T09:04:00"), evidence=TAG)
    store(engine, ann, home, OUT, utc("2026-02-03T09:31:00"), evidence=TAG)
    store(engine, bob, home, OUT, utc("2026-02-03T09:34:59"), evidence=TAG)

    build(engine, settings, w, date(2026, 2, 3), LATER)

    [visit] = visits_of(engine, home)
    assert visit["carer_ids"] == sorted([ann.carer_id, bob.carer_id])
    assert visit["carers"] == 2
    # Both present from 09:04 to 09:31.
    assert visit["minutes"] == 27
    assert visit["status"] == "on_time"
    assert visit["anomalies"] == []


def test_double_handed_visit_with_one_carer_is_flagged(engine: Engine, settings: Settings) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    home = w.add_home()
    plan(engine, w, home, "2026-02-03T09:00:00+00:00", 30, carers=2)
    store(engine, ann, home, IN, utc("2026-02-03T09:00:00"))
    store(engine, ann, home, OUT, utc("2026-02-03T09:30:00"))

    build(engine, settings, w, date(2026, 2, 3), LATER)

    [visit] = visits_of(engine, home)
    assert visit["anomalies"] == ["carer_missing"]


def test_visit_across_midnight_into_the_spring_clock_change(
    engine: Engine, settings: Settings
) -> None:
    # 2026-03-29: London goes from GMT to BST at 01:00 UTC. A visit planned for 00:30 on the
    # 29th, started at 23:50 on the 28th, belongs to the 28th and still matches its plan.
    w = care_world(engine)
    ann = w.add_handset()
    home = w.add_home()
    ref = plan(engine, w, home, "2026-03-29T00:30:00+00:00", 60)
    store(engine, ann, home, IN, utc("2026-03-28T23:50:00"))
    store(engine, ann, home, OUT, utc("2026-03-29T01:10:00"))  # 02:10 BST

    build(engine, settings, w, date(2026, 3, 28), LATER)
    build(engine, settings, w, date(2026, 3, 29), LATER)

    [visit] = visits_of(engine, home)
    assert visit["london_day"] == date(2026, 3, 28)
    assert visit["planned_visit_ref"] == ref
    assert (visit["minutes"], visit["status"]) == (80, "on_time")


def test_autumn_clock_change_day_has_25_hours(engine: Engine, settings: Settings) -> None:
    # 2026-10-25 runs from 2026-10-24T23:00Z (00:00 BST) to 2026-10-26T00:00Z (00:00 GMT).
    w = care_world(engine)
    ann = w.add_handset()
    home = w.add_home()
    early = plan(engine, w, home, "2026-10-25T01:30:00+01:00", 30)  # the first 01:30
    late = plan(engine, w, home, "2026-10-25T23:30:00+00:00", 20)
    store(engine, ann, home, IN, utc("2026-10-25T00:35:00"))  # 01:35 BST
    store(engine, ann, home, OUT, utc("2026-10-25T01:05:00"))  # 01:05 GMT, the second hour
    store(engine, ann, home, IN, utc("2026-10-25T23:30:00"))
    store(engine, ann, home, OUT, utc("2026-10-25T23:50:00"))
    store(engine, ann, home, IN, utc("2026-10-24T22:59:00"))  # 23:59 BST on the 24th

    build(engine, settings, w, date(2026, 10, 25), LATER)

    found = visits_of(engine, home)
    assert [(v["london_day"], v["planned_visit_ref"], v["status"]) for v in found] == [
        (date(2026, 10, 25), early, "on_time"),
        (date(2026, 10, 25), late, "on_time"),
    ]
    build(engine, settings, w, date(2026, 10, 24), LATER)
    assert [v["london_day"] for v in visits_of(engine, home)] == [
        date(2026, 10, 24),
        date(2026, 10, 25),
        date(2026, 10, 25),
    ]


def test_rebuilding_is_idempotent_and_incremental_refresh_follows_new_evidence(
    engine: Engine, settings: Settings
) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    home = w.add_home()
    store(engine, ann, home, IN, utc("2026-02-05T09:00:00"))
    with engine.begin() as conn:
        refresh(conn, settings, LATER)
    [visit] = visits_of(engine, home)
    assert visit["status"] == "open"

    store(engine, ann, home, OUT, utc("2026-02-05T09:30:00"))
    with engine.begin() as conn:
        refresh(conn, settings, LATER)
        refresh(conn, settings, LATER)
    [visit] = visits_of(engine, home)
    assert (visit["status"], visit["minutes"]) == ("unplanned", 30)
    with engine.connect() as conn:
        carers = conn.execute(
            text("select count(*) from visit_carer where visit_id = :v"), {"v": visit["id"]}
        ).scalar_one()
    assert carers == 1
