"""The `ecm visits` role as a real subprocess on the test stack."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import Engine, text

from tests.support.paths import ROOT
from tests.visits.support import IN, OUT, care_world, store, utc


def test_visits_run_once_builds_new_evidence_and_build_rebuilds_a_day(
    engine: Engine, role_env: dict[str, str]
) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    home = w.add_home()
    check_in = store(engine, ann, home, IN, utc("2026-02-27T09:00:00"))
    store(engine, ann, home, OUT, utc("2026-02-27T09:40:00"))

    once = subprocess.run(
        [sys.executable, "-m", "ecm", "visits", "run", "--once"],
        env=role_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert once.returncode == 0, once.stderr

    def minutes() -> list[int]:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    text("select minutes from visit where home_key = :h"), {"h": home}
                ).scalars()
            )

    assert minutes() == [40]
    rebuilt = subprocess.run(
        [sys.executable, "-m", "ecm", "visits", "build", "2026-02-27"],
        env=role_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "homes rebuilt" in rebuilt.stdout
    assert minutes() == [40]
    with engine.connect() as conn:
        assert (
            conn.execute(text("select id from visit where home_key = :h"), {"h": home}).scalar_one()
            == check_in
        )
