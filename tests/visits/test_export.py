"""Visits leave in the reconciliation formats the reconciliation engine reads."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

from sqlalchemy import Engine

from core.settings import Settings
from tests.support.paths import ROOT
from tests.visits.support import (
    HEADER,
    IN,
    OUT,
    TAG,
    build,
    care_world,
    plan,
    store,
    utc,
)
from visits.export import actuals_csv, schedule_csv
from visits.schedule import parse_schedule

DAY = date(2026, 3, 5)


def test_actuals_and_schedule_in_the_interchange_formats(
    engine: Engine, settings: Settings, role_env: dict[str, str]
) -> None:
    w = care_world(engine)
    ann, bob = w.add_handset(), w.add_handset()
    home = w.add_home()
    ref = plan(engine, w, home, "2026-03-05T09:00:00+00:00", 30, carers=2)
    store(engine, ann, home, IN, utc("2026-03-05T09:00:00"), evidence=TAG)
    store(engine, bob, home, IN, utc("2026-03-05T09:02:00"))
    store(engine, ann, home, OUT, utc("2026-03-05T09:31:00"), evidence=TAG)
    store(engine, bob, home, OUT, utc("2026-03-05T09:30:00"))
    store(engine, ann, home, IN, utc("2026-03-05T18:00:00"))  # open: not an actual
    build(engine, settings, w, DAY, utc("2026-12-31T00:00:00"))

    with engine.connect() as conn:
        actuals = actuals_csv(conn, DAY, DAY, provider_id=w.provider_id)
        planned = schedule_csv(conn, DAY, DAY, provider_id=w.provider_id)

    assert actuals.splitlines() == [
        "service_user_ref,provider_ref,carer_ref,check_in,check_out,verification",
        f"{home},{w.provider_id},{ann.carer_id},2026-03-05T09:00:00+00:00,"
        "2026-03-05T09:31:00+00:00,tag",
        f"{home},{w.provider_id},{bob.carer_id},2026-03-05T09:02:00+00:00,"
        "2026-03-05T09:30:00+00:00,none",
    ]
    assert planned.splitlines() == [
        HEADER,
        f"{ref},{home},{w.provider_id},2026-03-05T09:00:00+00:00,30,2,personal",
    ]
    # What leaves can come back in: the schedule export is a valid import.
    rows, errors = parse_schedule(planned)
    assert (len(rows), errors) == (1, [])

    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "ecm",
            "visits",
            "export",
            "actuals",
            "--from",
            "2026-03-05",
            "--to",
            "2026-03-05",
            "--provider",
            w.provider_id,
        ],
        env=role_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout == actuals
