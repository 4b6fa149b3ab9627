"""The case system's files: requests.csv imported with line-numbered errors and idempotent
re-import; decisions.csv and packages.csv exported in the documented columns."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from commissioning import exchange, service
from commissioning.formats import DECISION_COLUMNS, PACKAGE_COLUMNS
from commissioning.model import LONDON, DeclineReason
from core.errors import Unprocessable
from tests.commissioning.support import LotWorld, lot_world
from tests.support.ids import unique

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=LONDON)
HEADER = (
    "request_ref,service_user_ref,lot_ref,start_date,end_date,days,start_time,minutes,carers,"
    "service_type,notes\n"
)


def import_file(world: LotWorld, content: str, now: datetime = NOW) -> exchange.ImportReport:
    with world.engine.begin() as conn:
        return exchange.import_requests(
            conn, world.officer, content, source="requests.csv", council_id=None, now=now
        )


def test_import_reports_bad_lines_and_imports_the_rest_once(engine: Engine) -> None:
    world = lot_world(engine)
    good, other = world.add_home(), world.add_home()
    stranger = lot_world(engine).add_home()  # another council's service user
    r1, r2, r3, r4 = (unique("R") for _ in range(4))
    content = HEADER + (
        f"{r1},{good},{world.lot_id},2026-03-09,,daily,07:30,45,2,personal care,Key safe 1234\n"
        f"{r1},{good},{world.lot_id},2026-03-09,,Mon-Fri,17:00,30,1,meal,\n"
        f"{r2},{stranger},{world.lot_id},2026-03-09,,daily,07:30,45,1,personal care,\n"
        f"{r3},{other},no-such-lot,2026-03-09,,daily,07:30,45,1,personal care,\n"
        f"{r4},{other},{world.lot_id},2026-03-09,,daily,25:00,45,1,personal care,\n"
    )
    report = import_file(world, content)
    assert (report.rows_read, report.created, report.unchanged) == (5, 1, 0)
    assert [(e.line, e.request_ref, e.reason) for e in report.errors] == [
        (4, r2, f"council {world.council_id} has no service user {stranger}"),
        (5, r3, f"council {world.council_id} has no lot no-such-lot"),
        (6, r4, "start_time is not HH:MM (24-hour London time)"),
    ]
    with engine.connect() as conn:
        request = (
            conn.execute(text("select * from service_request where request_ref = :r"), {"r": r1})
            .mappings()
            .one()
        )
        imports = (
            conn.execute(
                text("select * from request_import where id = :i"), {"i": report.import_id}
            )
            .mappings()
            .one()
        )
    assert request["source"] == f"import {report.import_id}" and request["status"] == "open"
    assert len(request["visits"]) == 2 and request["notes"] == "Key safe 1234"
    assert (imports["rows_read"], imports["requests_created"], imports["rows_rejected"]) == (
        5,
        1,
        3,
    )
    # Offered to the lead at once.
    assert [o["provider_id"] for o in world.offers(request["id"])] == [world.lead]

    # The same file again: nothing new, the same errors.
    again = import_file(world, content, NOW + timedelta(hours=1))
    assert (again.created, again.unchanged) == (0, 1)
    assert [e.line for e in again.errors] == [4, 5, 6]
    assert [o["provider_id"] for o in world.offers(request["id"])] == [world.lead]

    # The same reference with different content is refused with a reason.
    changed = HEADER + (
        f"{r1},{good},{world.lot_id},2026-03-09,,daily,07:30,60,2,personal care,Key safe 1234\n"
        f"{r1},{good},{world.lot_id},2026-03-09,,Mon-Fri,17:00,30,1,meal,\n"
    )
    refused = import_file(world, changed)
    assert [(e.line, e.reason) for e in refused.errors] == [
        (
            2,
            f"request {r1} exists with different content; withdraw it and send the new one "
            "under a new request_ref",
        ),
        (3, f"request {r1} not imported: see line 2"),
    ]


def test_a_file_without_the_columns_is_refused_whole(engine: Engine) -> None:
    world = lot_world(engine)
    with pytest.raises(Unprocessable, match="header lacks"):
        import_file(world, "request_ref,lot_ref\nR1,north\n")


def test_decisions_and_packages_export(engine: Engine) -> None:
    world = lot_world(engine)
    request_id = world.request(NOW, start=date(2026, 3, 9))
    lead_offer = world.offers(request_id)[0]["id"]
    with engine.begin() as conn:
        service.decline(
            conn,
            world.manager(world.lead),
            world.lead,
            lead_offer,
            DeclineReason.OTHER,
            "=cmd|' /C calc'!A0",
            now=NOW + timedelta(hours=1),
        )
    a1 = world.additional[0]
    a1_offer = next(o["id"] for o in world.offers(request_id) if o["provider_id"] == a1)
    with engine.begin() as conn:
        package_id = service.accept(
            conn, world.manager(a1), a1, a1_offer, horizon_days=7, now=NOW + timedelta(hours=2)
        )
    with engine.begin() as conn:
        decisions = exchange.decisions_csv(
            conn, world.officer, council_id=None, first=NOW.date(), last=NOW.date()
        )
        packages = exchange.packages_csv(
            conn, world.officer, council_id=None, first=NOW.date(), last=NOW.date()
        )
    rows = list(csv.DictReader(io.StringIO(decisions)))
    assert tuple(rows[0]) == DECISION_COLUMNS
    ref = world.request_row(request_id)["request_ref"]
    mine = [r for r in rows if r["request_ref"] == ref]
    assert [(r["provider_ref"], r["role"], r["outcome"], r["decline_reason"]) for r in mine] == [
        (world.lead, "lead", "declined", "other"),
        (a1, "additional", "accepted", ""),
    ]
    # A formula in free text reaches the spreadsheet as text.
    assert mine[0]["decline_note"] == "'=cmd|' /C calc'!A0"
    assert mine[0]["offered_at"] == "2026-03-04T10:00:00+00:00"
    assert mine[0]["deadline"] == "2026-03-05T10:00:00+00:00"

    lines = [r for r in csv.DictReader(io.StringIO(packages)) if r["package_id"] == str(package_id)]
    assert tuple(csv.DictReader(io.StringIO(packages)).fieldnames or ()) == PACKAGE_COLUMNS
    assert [
        (r["version"], r["change"], r["provider_ref"], r["days"], r["start_time"]) for r in lines
    ] == [("1", "accepted", a1, "Mon Tue Wed Thu Fri Sat Sun", "07:30")]
    assert lines[0]["current"] == "true" and lines[0]["carers"] == "2"

    # Another council's officer gets only its own council's rows.
    other = lot_world(engine)
    with engine.begin() as conn:
        theirs = exchange.decisions_csv(
            conn, other.officer, council_id=world.council_id, first=NOW.date(), last=NOW.date()
        )
    assert ref not in theirs
