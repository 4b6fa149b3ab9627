"""Subject access: the export holds every record about a seeded person (checked against every
table that names a service user), as JSON and as CSV; erasure pseudonymises at once and deletes
only what no retention rule keeps; both are for the person's council only, and audited."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from api.auth.roles import Role
from core import csv_safe
from core.settings import Settings
from retention.subject_repository import SECTIONS
from tests.api.api_support import client_for
from tests.retention.world import (
    Person,
    World,
    add_person,
    add_service_request,
    add_telephone_check_in,
    count,
    make_world,
)
from tests.support.ids import unique
from tests.support.paths import ROOT

# Which export section holds the rows of each table that names a service user.
SECTION_OF_TABLE = {
    "service_user": "service_user",
    "home_tag": "home_tags",
    "home_code_device": "home_code_devices",
    "planned_visit_version": "planned_visits",
    "visit": "visits",
    "visit_correction": "visit_corrections",
    "visit_alert": "alerts",
    "manual_visit": "manual_visits",
    "device_event": "events",
    "telephony_call": "telephony_calls",
    "telephony_event": "telephony_events",
    "service_request": "service_requests",
    "care_package": "care_packages",
    "reconciliation_run_line": "reconciliation_lines",
    "reconciliation_run_evidence": "reconciliation_evidence",
    "reconciliation_run_unbilled": "reconciliation_unbilled",
    "erasure_request": "erasure_requests",
}


def tables_naming_a_service_user(conn: Connection) -> dict[str, str]:
    """Every table (not partition) with a column naming a service user, and that column."""
    rows = conn.execute(
        text(
            "select c.table_name, c.column_name from information_schema.columns c "
            "join pg_class k on k.relname = c.table_name and not k.relispartition "
            "join pg_namespace n on n.oid = k.relnamespace and n.nspname = c.table_schema "
            "where c.table_schema = 'public' "
            "and c.column_name in ('service_user_id', 'service_user_ref') "
            "and k.relkind in ('r', 'p')"
        )
    ).all()
    found = {table: column for table, column in rows}
    found["service_user"] = "id"
    return found


def add_reconciliation(conn: Connection, world: World, person: Person) -> None:
    """A paid run whose line, evidence and unbilled visit name the person."""
    council = person.council_id
    conn.execute(
        text(
            "insert into reconciliation_contract (council_id, version, content, sha256, "
            "uploaded_by) values (:c, 1, '', :sha, 'test')"
        ),
        {"c": council, "sha": "0" * 64},
    )
    invoice_id = conn.execute(
        text(
            "insert into reconciliation_invoice (council_id, name, content, sha256, lines, "
            "problems, uploaded_by) values (:c, 'invoice.csv', '', :sha, 1, '[]', 'test') "
            "returning id"
        ),
        {"c": council, "sha": "0" * 64},
    ).scalar_one()
    run_id = conn.execute(
        text(
            "insert into reconciliation_run (council_id, contract_version, contract_sha256, "
            "engine_version, schedule_sha256, actuals_sha256, invoices, problems, summary, "
            "run_by) values (:c, 1, :sha, '1', :sha, :sha, '[]', '[]', '{}', 'test') "
            "returning id"
        ),
        {"c": council, "sha": "0" * 64},
    ).scalar_one()
    su, at = person.service_user_id, person.visit_at
    conn.execute(
        text(
            "insert into reconciliation_run_line values (:run, 1, :inv, 'INV-1', 1, :p, :su, "
            "cast(:at as date), '08:00', '08:30', 30, 1, 12.06, 'approved', null, 30, 12.06, "
            "'V1', 1, 30, false)"
        ),
        {"run": run_id, "inv": invoice_id, "p": world.provider_id, "su": su, "at": at},
    )
    conn.execute(
        text(
            "insert into reconciliation_run_evidence values (:run, 1, :p, :su, :carer, :at, "
            ":out, 'tag', :visit, :segment, null, null)"
        ),
        {
            "run": run_id, "p": world.provider_id, "su": su, "carer": world.carer_id, "at": at,
            "out": at + timedelta(minutes=30), "visit": uuid.uuid4(), "segment": uuid.uuid4(),
        },
    )  # fmt: skip
    conn.execute(
        text(
            "insert into reconciliation_run_unbilled values (:run, 1, :p, :su, :carer, :at, "
            ":out, 'tag', :visit)"
        ),
        {
            "run": run_id, "p": world.provider_id, "su": su, "carer": world.carer_id, "at": at,
            "out": at + timedelta(minutes=30), "visit": uuid.uuid4(),
        },
    )  # fmt: skip


def test_the_export_is_complete_for_a_seeded_person(
    scratch: Settings, scratch_engine: Engine
) -> None:
    engine = scratch_engine
    council, other_council = unique("C"), unique("C")
    world = make_world(engine, [council, other_council])
    # A name a spreadsheet would run: kept exact in JSON, neutralised in CSV.
    person = add_person(
        engine, world, council, datetime.now(UTC) - timedelta(days=3), name="=HYPERLINK(x)"
    )
    someone_else = add_person(engine, world, council, datetime.now(UTC) - timedelta(days=2))
    with engine.begin() as conn:
        add_reconciliation(conn, world, person)
        add_telephone_check_in(conn, world, person)
        add_service_request(conn, world, person)
    su = person.service_user_id
    path = f"/service-users/{su}/subject-access"
    for officer in client_for(scratch, Role.COUNCIL_OFFICER, council_id=council):
        answer = officer.get(path)
        assert answer.status_code == 200, answer.text
        document = answer.json()
        zipped = officer.get(f"{path}.zip")
        assert zipped.status_code == 200
        assert zipped.headers["content-type"] == "application/zip"
        # The second export lists the first among the accesses to the person's records.
        again = officer.get(path).json()

    with engine.connect() as conn:
        tables = tables_naming_a_service_user(conn)
        assert set(tables) == set(SECTION_OF_TABLE), "a new table names service users"
        for table, column in tables.items():
            expected = count(conn, table, f"{column} = :su", su=su)
            section = SECTION_OF_TABLE[table]
            assert len(document[section]) == expected, table
            assert expected >= 1 or table == "erasure_request", table
        visits = [row["id"] for row in document["visits"]]
        for section, table in (
            ("visit_carers", "visit_carer"),
            ("visit_anomalies", "visit_anomaly"),
        ):
            assert len(document[section]) == count(
                conn, table, "visit_id = any(cast(:v as uuid[]))", v=visits
            ) == 1  # fmt: skip
        assert len(document["alert_notifications"]) == person.rows["alert_notification"]
        for section in (
            "service_offers",
            "service_request_events",
            "care_package_versions",
            "alert_actions",
        ):
            assert len(document[section]) == 1, section
    # Nothing about anyone else.
    assert someone_else.service_user_id not in json.dumps(document)
    assert set(document) - {"format", "service_user_id", "generated_at", "counts"} == set(SECTIONS)
    assert document["service_user"][0]["name"] == "=HYPERLINK(x)"
    assert {e["event_id"] for e in document["events"]} == set(person.event_ids)
    assert [a["path"] for a in again["accesses"]] == [path, f"{path}.zip"]

    archive = zipfile.ZipFile(io.BytesIO(zipped.content))
    assert set(archive.namelist()) == {"README.txt", *(f"{name}.csv" for name in SECTIONS)}
    for name in SECTIONS:
        raw = archive.read(f"{name}.csv").decode()
        rows = list(csv.reader(io.StringIO(raw, newline="")))
        # The zip was made after the JSON export, which is one access more.
        expected = len(document[name]) + (name == "accesses")
        assert len(rows) == 1 + expected, name
    registry = list(csv.reader(io.StringIO(archive.read("service_user.csv").decode())))
    name_cell = registry[1][registry[0].index("name")]
    assert name_cell == "'=HYPERLINK(x)"
    assert csv_safe.restore(name_cell) == "=HYPERLINK(x)"


def test_only_the_persons_council_and_administrators_export_or_erase(
    scratch: Settings, scratch_engine: Engine
) -> None:
    engine = scratch_engine
    council, other_council = unique("C"), unique("C")
    world = make_world(engine, [council, other_council])
    person = add_person(engine, world, council, datetime.now(UTC) - timedelta(days=3))
    su = person.service_user_id
    for stranger in client_for(scratch, Role.COUNCIL_OFFICER, council_id=other_council):
        assert stranger.get(f"/service-users/{su}/subject-access").status_code == 404
        assert stranger.post(f"/service-users/{su}/erasure").status_code == 404
        assert stranger.get(f"/councils/{council}/retention-policy").status_code == 404
    for manager in client_for(scratch, Role.PROVIDER_MANAGER, provider_id=world.provider_id):
        assert manager.get(f"/service-users/{su}/subject-access").status_code == 403
        assert manager.get(f"/councils/{council}/retention-policy").status_code == 403
    for admin in client_for(scratch):
        assert admin.get(f"/service-users/{su}/subject-access").status_code == 200
        assert admin.get(f"/service-users/{unique('SU')}/subject-access").status_code == 404


def test_erasure_pseudonymises_now_and_keeps_what_retention_requires(
    scratch: Settings, scratch_engine: Engine, role_env: dict[str, str], tmp_path: Path
) -> None:
    engine = scratch_engine
    council = unique("C")
    world = make_world(engine, [council])
    recent = add_person(engine, world, council, datetime.now(UTC) - timedelta(days=30))
    long_ago = add_person(engine, world, council, datetime.now(UTC) - timedelta(days=9 * 366))
    upcoming = add_person(engine, world, council, datetime.now(UTC) + timedelta(days=2))

    for officer in client_for(scratch, Role.COUNCIL_OFFICER, council_id=council):
        refused = officer.post(f"/service-users/{upcoming.service_user_id}/erasure")
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "care_ongoing"
        kept = officer.post(f"/service-users/{recent.service_user_id}/erasure")
        assert kept.status_code == 200, kept.text
        report = kept.json()

    assert report["pseudonymised"] == {"service_user": 1, "home_tag": 1, "home_code_device": 1}
    assert report["deleted"] == {}
    [care, events, _] = report["kept"]
    assert care["what"] == "care records" and care["rows"]["visit"] == 1
    until = datetime.fromisoformat(care["until"])
    assert until.year == datetime.fromisoformat(report["care_ended"]).year + 8
    assert events["rows"] == {"device_event": 2}
    with engine.connect() as conn:
        name = conn.execute(
            text("select name from service_user where id = :su"), {"su": recent.service_user_id}
        ).scalar_one()
        assert name == "pseudonymised"
        assert count(conn, "visit", "service_user_id = :su", su=recent.service_user_id) == 1
        assert count(conn, "erasure_request", "service_user_id = :su",
                     su=recent.service_user_id) == 1  # fmt: skip

    # From the command line, for someone whose care ended nine years ago: the care records go.
    done = subprocess.run(
        [sys.executable, "-m", "ecm", "subject-access", "erase", long_ago.service_user_id],
        env={**role_env, "ECM_DATABASE_URL": scratch.database_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    erased = json.loads(done.stdout)
    assert erased["deleted"]["visit"] == 1 and erased["deleted"]["planned_visit_version"] == 1
    with engine.connect() as conn:
        assert count(conn, "visit", "service_user_id = :su", su=long_ago.service_user_id) == 0
        audited = conn.execute(
            text("select method, role from audit_log where path = :p"),
            {"p": f"/service-users/{long_ago.service_user_id}/erasure"},
        ).all()
    assert [tuple(row) for row in audited] == [("ERASE", "system")]

    exported = tmp_path / "export.json"
    done = subprocess.run(
        [sys.executable, "-m", "ecm", "subject-access", "export", recent.service_user_id,
         "--out", str(exported)],
        env={**role_env, "ECM_DATABASE_URL": scratch.database_url},
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = json.loads(exported.read_text())
    assert document["service_user"][0]["name"] == "pseudonymised"
    assert len(document["erasure_requests"]) == 1
