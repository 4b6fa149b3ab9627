"""Schedule import: bad rows with line numbers, idempotent re-import, versions kept."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from core.settings import Settings
from tests.api.api_support import client_for
from tests.support.ids import unique
from tests.support.paths import ROOT
from tests.visits.support import HEADER, care_world
from visits.schedule import ScheduleFileError, import_schedule, parse_schedule


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    yield from client_for(settings)


def versions(engine: Engine, ref: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select version, planned_minutes, status, superseded_at is null as current "
                "from planned_visit_version where visit_ref = :r order by version"
            ),
            {"r": ref},
        ).mappings()
        return [dict(r) for r in rows]


def test_bad_rows_are_reported_with_line_numbers_and_the_rest_imported(
    engine: Engine, client: TestClient
) -> None:
    w = care_world(engine)
    home = w.add_home()
    good, dup = unique("V"), unique("V")
    p = w.provider_id
    content = "\n".join(
        [
            HEADER,
            f"{good},{home},{p},2026-03-02T07:30:00+00:00,30,1,personal",  # line 2
            f"{unique('V')},{home},{p},2026-03-02T07:30:00,30,1,personal",  # 3: no offset
            f"{unique('V')},{home},{p},yesterday,30,1,personal",  # 4
            f"{unique('V')},{home},{p},2026-03-02T09:00:00+00:00,thirty,1,personal",  # 5
            f"{unique('V')},{home},{p},2026-03-02T09:00:00+00:00,30,0,personal",  # 6
            f"{unique('V')},nobody,{p},2026-03-02T09:00:00+00:00,30,1,personal",  # 7
            f"{unique('V')},{home},nobody,2026-03-02T09:00:00+00:00,30,1,personal",  # 8
            f"{dup},{home},{p},2026-03-02T12:00:00+00:00,30,2,meal",  # 9
            f"{dup},{home},{p},2026-03-02T13:00:00+00:00,30,2,meal",  # 10: repeats line 9
            f",{home},{p},2026-03-02T13:00:00+00:00,30,1,meal",  # 11: no visit_ref
        ]
    )

    response = client.post(
        "/schedules", content=content.encode(), headers={"content-type": "text/csv"}
    )

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows_read"], report["created"], report["rejected"]) == (10, 2, 8)
    assert [(e["line"], e["reason"]) for e in report["errors"]] == [
        (3, "planned_start has no UTC offset"),
        (4, "planned_start is not an ISO 8601 date-time"),
        (5, "planned_minutes is not a whole number"),
        (6, "carers_required must be at least 1"),
        (7, "unknown service user nobody"),
        (8, "unknown provider nobody"),
        (10, "visit_ref repeats line 9 of this file"),
        (11, "visit_ref is empty"),
    ]
    assert versions(engine, good) == [
        {"version": 1, "planned_minutes": 30, "status": "planned", "current": True}
    ]


def test_reimport_changes_nothing_and_changes_are_versioned(engine: Engine) -> None:
    w = care_world(engine)
    home = w.add_home()
    ref, other = unique("V"), unique("V")
    p = w.provider_id
    first = (
        f"{HEADER}\n{ref},{home},{p},2026-03-02T07:30:00+00:00,30,1,personal\n"
        f"{other},{home},{p},2026-03-02T12:00:00+00:00,45,1,meal\n"
    )

    def run(content: str) -> tuple[int, int, int, int]:
        with engine.begin() as conn:
            r = import_schedule(conn, content, source="t", imported_by="tests")
        assert r.errors == []
        return (r.created, r.changed, r.cancelled, r.unchanged)

    assert run(first) == (2, 0, 0, 0)
    assert run(first) == (0, 0, 0, 2)
    assert versions(engine, ref) == [
        {"version": 1, "planned_minutes": 30, "status": "planned", "current": True}
    ]

    changed = first.replace(",30,1,personal", ",45,1,personal")
    assert run(changed) == (0, 1, 0, 1)
    cancelled = (
        HEADER
        + ",status\n"
        + f"{ref},{home},{p},2026-03-02T07:30:00+00:00,45,1,personal,cancelled\n"
    )
    assert run(cancelled) == (0, 0, 1, 0)
    assert run(cancelled) == (0, 0, 0, 1)
    assert versions(engine, ref) == [
        {"version": 1, "planned_minutes": 30, "status": "planned", "current": False},
        {"version": 2, "planned_minutes": 45, "status": "planned", "current": False},
        {"version": 3, "planned_minutes": 45, "status": "cancelled", "current": True},
    ]


def test_a_file_without_the_columns_is_refused_whole() -> None:
    with pytest.raises(ScheduleFileError, match="planned_minutes"):
        parse_schedule("visit_ref,service_user_ref,provider_ref,planned_start\n")


def test_cli_imports_and_reports_bad_lines(
    engine: Engine, role_env: dict[str, str], tmp_path: Path
) -> None:
    w = care_world(engine)
    home = w.add_home()
    ref = unique("V")
    path = tmp_path / "schedule.csv"
    path.write_text(
        f"{HEADER}\n{ref},{home},{w.provider_id},2026-03-02T07:30:00+00:00,30,1,personal\n"
        f"{unique('V')},{home},{w.provider_id},2026-03-02T07:30:00+00:00,-5,1,personal\n"
    )
    command = [sys.executable, "-m", "ecm", "schedule", "import", str(path)]
    env = {**role_env, "COLUMNS": "160"}

    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)

    assert result.returncode == 1, result.stderr
    assert f"{path}:3:" in result.stdout
    assert "planned_minutes must be at least 1" in result.stdout
    assert versions(engine, ref)[0]["current"] is True
    again = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 1
    assert len(versions(engine, ref)) == 1
