"""Portal pages over plain HTTP: provider visit pages, the evidence map, corrections, the
council's KPI dashboard, tenant isolation and the audit trail."""

from __future__ import annotations

import csv
import html
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from math import hypot

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.auth.roles import Role
from api.times import LONDON
from core import csv_safe
from core.settings import Settings
from reconciliation.kpi_report import CSV_COLUMNS
from tests.api.api_support import client_for
from tests.api.portal_world import PortalDay, portal_day
from tests.support.world import World

# A past day: every planned visit's missed deadline (23:00 London) has passed.
ANCHOR = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"

signed_in = contextmanager(client_for)


@pytest.fixture(scope="module")
def care_day(engine: Engine) -> PortalDay:
    return portal_day(engine, ANCHOR)


@pytest.fixture(scope="module")
def manager(settings: Settings, care_day: PortalDay) -> Iterator[TestClient]:
    with signed_in(
        settings, Role.PROVIDER_MANAGER, provider_id=care_day.world.provider_id
    ) as client:
        yield client


@pytest.fixture(scope="module")
def officer(settings: Settings, care_day: PortalDay) -> Iterator[TestClient]:
    with signed_in(settings, Role.COUNCIL_OFFICER, council_id=care_day.world.council_id) as client:
        yield client


def rows(html: str, status: str) -> int:
    return html.count(f'data-status="{status}"')


def log_url(care_day: PortalDay) -> str:
    return f"/portal/providers/{care_day.world.provider_id}/visits"


def visit_url(care_day: PortalDay) -> str:
    return f"{log_url(care_day)}/{care_day.on_time_visit}"


def test_the_visit_log_shows_the_day_with_late_and_missed_rows_highlighted(
    manager: TestClient, care_day: PortalDay
) -> None:
    page = manager.get(log_url(care_day), params={"date": care_day.day.isoformat()})
    assert page.status_code == 200, page.text
    assert rows(page.text, "on_time") == 1
    assert rows(page.text, "late") == 1
    assert rows(page.text, "missed") == 2
    assert 'class="visit-row attention attention-late"' in page.text
    assert 'class="visit-row attention attention-missed"' in page.text
    assert 'class="visit-row"' in page.text  # the on-time visit is not highlighted
    assert f'href="{visit_url(care_day)}"' in page.text


def test_the_visit_log_filters_by_status_carer_and_service_user(
    manager: TestClient, care_day: PortalDay
) -> None:
    day = care_day.day.isoformat()
    missed = manager.get(log_url(care_day), params={"date": day, "status": "missed"}).text
    assert rows(missed, "missed") == 2 and rows(missed, "on_time") == rows(missed, "late") == 0
    # The filter form keeps what was chosen.
    assert '<option value="missed" selected>' in missed
    by_carer = manager.get(log_url(care_day), params={"date": day, "carer_id": care_day.carer_id})
    assert rows(by_carer.text, "on_time") == 1 and rows(by_carer.text, "late") == 1
    assert rows(by_carer.text, "missed") == 0  # nobody went
    by_home = manager.get(log_url(care_day), params={"service_user_id": care_day.home}).text
    assert rows(by_home, "on_time") == 1 and rows(by_home, "late") == 0
    # Empty fields from the GET form mean "any".
    empty = manager.get(
        log_url(care_day), params={"date": day, "carer_id": "", "service_user_id": "", "status": ""}
    )
    assert rows(empty.text, "missed") == 2
    bad = manager.get(log_url(care_day), params={"date": "10/02/2026"})
    assert bad.status_code == 422 and "a date like 2026-02-10" in bad.text
    assert bad.headers["content-type"].startswith("text/html")
    # The form comes back with what was typed.
    assert 'value="10/02/2026"' in bad.text


def test_the_visit_page_draws_positions_against_the_home_and_its_geofence(
    manager: TestClient, care_day: PortalDay
) -> None:
    page = manager.get(visit_url(care_day))
    assert page.status_code == 200, page.text
    svg_text = re.search(r'<svg class="evidence-map".*?</svg>', page.text, re.S)
    assert svg_text is not None
    svg = ET.fromstring(svg_text.group(0))
    size = float(svg.attrib["width"])
    [fence] = svg.iterfind(f".//{SVG}circle[@class='geofence']")
    centre = (float(fence.attrib["cx"]), float(fence.attrib["cy"]))
    assert centre == (size / 2, size / 2)
    fence_r = float(fence.attrib["r"])
    fixes = list(svg.iterfind(f".//{SVG}circle[@class='fix fix-check_in']")) + list(
        svg.iterfind(f".//{SVG}circle[@class='fix fix-check_out']")
    )
    assert len(fixes) == 2
    for fix in fixes:
        x, y = float(fix.attrib["cx"]), float(fix.attrib["cy"])
        # About 40 m north-east of a home with a 150 m fence: inside, up and to the right.
        assert 0 < hypot(x - centre[0], y - centre[1]) < fence_r * 40 / 150 * 1.2
        assert x > centre[0] and y < centre[1]
    accuracy = {c.attrib["class"]: float(c.attrib["r"]) for c in svg.iterfind(f".//{SVG}circle")}
    # 12 m and 30 m accuracy circles, drawn to the fence's scale.
    assert accuracy["accuracy accuracy-check_in"] == pytest.approx(fence_r * 12 / 150, abs=0.2)
    assert accuracy["accuracy accuracy-check_out"] == pytest.approx(fence_r * 30 / 150, abs=0.2)
    assert svg.find(f".//{SVG}g[@class='scale-bar']") is not None
    assert "150 m" in page.text  # the fence in the legend
    # Tag verified with uid and counter; device time against receive time.
    assert care_day.tag_uid in page.text
    assert "tap number 41" in page.text and "tap number 42" in page.text
    # Durations and times as people say them: London time, "1 min 35 s".
    assert "1 min 35 s later" in page.text
    check_in_local = (ANCHOR - timedelta(minutes=58)).astimezone(LONDON).strftime("%H:%M:%S")
    assert check_in_local in page.text
    assert "inside its area" in page.text
    # Names beside codes, and the home's address.
    assert "Bea User" in page.text and "Ann Carer" in page.text
    # The form to request a correction offers the reasons in words, and none is chosen for you.
    assert 'name="reason_code"' in page.text and 'value="forgot_check_out"' in page.text
    assert "The carer left without checking out" in page.text
    assert '<option value="" selected>Choose a reason</option>' in page.text
    assert "Approve correction" not in page.text


def test_a_correction_requested_in_the_form_awaits_and_gets_council_approval(
    settings: Settings, engine: Engine, manager: TestClient, officer: TestClient
) -> None:
    care_day = portal_day(engine, ANCHOR - timedelta(days=1))
    with signed_in(
        settings, Role.PROVIDER_MANAGER, provider_id=care_day.world.provider_id
    ) as provider:
        url = visit_url(care_day)
        # 45 minutes later than recorded: beyond the default 30-minute threshold.
        check_out = (ANCHOR - timedelta(days=1, minutes=29) + timedelta(minutes=45)).astimezone(
            LONDON
        )
        form = provider.get(url).text
        prefilled = re.search(
            r'id="check_in" name="check_in" type="datetime-local" value="([^"]+)"', form
        )
        assert prefilled is not None
        response = provider.post(
            f"{url}/corrections",
            data={
                "carer_id": care_day.carer_id,
                # Sent back as shown: whole minutes of the recorded check-in.
                "check_in": prefilled.group(1),
                "check_out": check_out.strftime("%Y-%m-%dT%H:%M"),
                "reason_code": "forgot_check_out",
                "note": "Carer stayed to help with a fall; left without checking out.",
            },
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == f"{url}?notice=correction-awaits-approval"
        shown = provider.get(response.headers["location"]).text
        assert "Awaiting council approval" in shown and "Approve correction" not in shown
        assert "Carer stayed to help with a fall" in shown
        refused = provider.post(
            f"{url}/corrections",
            data={
                "reason_code": "",
                "note": "Typed before the reason",
                "check_in": "2026-02-09T11:00",
            },
        )
        assert refused.status_code == 422
        assert "Choose the reason for the correction" in refused.text
        # The form keeps what was typed.
        assert (
            "Typed before the reason" in refused.text and 'value="2026-02-09T11:00"' in refused.text
        )
        assert '<tr class="correction">' in shown
        # A provider cannot approve its own correction, even by posting the form by hand.
        [recorded] = provider.get(
            f"/providers/{care_day.world.provider_id}/visits/{care_day.on_time_visit}/corrections"
        ).json()
        # The untouched check-in kept its seconds: only the check-out moved.
        assert recorded["after"]["check_in"] == recorded["before"]["check_in"]
        assert recorded["minutes_moved"] == 45
        correction_id = recorded["id"]
        self_approval = provider.post(f"{url}/corrections/{correction_id}/approve")
        assert self_approval.status_code == 403
        assert "Awaiting council approval" in self_approval.text
    with signed_in(settings, Role.COUNCIL_OFFICER, council_id=care_day.world.council_id) as council:
        page = council.get(url).text
        assert "Approve correction" in page and "Correct the times" not in page
        refused = council.post(
            f"{url}/corrections", data={"reason_code": "phone_dead", "note": "x"}
        )
        assert refused.status_code == 403 and "Only the provider" in refused.text
        action = re.search(r'action="([^"]+/approve)"', page)
        assert action is not None
        approved = council.post(action.group(1), follow_redirects=False)
        assert approved.status_code == 303
        after = council.get(approved.headers["location"]).text
    assert "Correction approved." in after
    assert re.search(r"Approved</span> by user-", after)
    assert "Approve correction" not in after


def test_today_page_shows_today_and_refreshes_itself(settings: Settings, engine: Engine) -> None:
    # The page's clock is the app's (a fixed morning here): today's visits began an hour
    # before it, which the real clock cannot promise shortly after midnight.
    now = datetime(2026, 6, 10, 10, 0, tzinfo=UTC)
    care_day = portal_day(engine, now)
    with signed_in(
        settings, Role.PROVIDER_MANAGER, provider_id=care_day.world.provider_id
    ) as provider:
        app = provider.app
        assert isinstance(app, FastAPI)
        app.state.clock = lambda: now
        page = provider.get(
            f"/portal/providers/{care_day.world.provider_id}/today", params={"live": "true"}
        )
        still = provider.get(f"/portal/providers/{care_day.world.provider_id}/today")
    assert page.status_code == 200
    assert '<meta http-equiv="refresh" content="30">' in page.text
    assert 'http-equiv="refresh"' not in still.text  # only when asked for
    assert "Wednesday 10 June 2026" in page.text and "Updated 11:00" in page.text
    # One thing needs someone: the visit missed once the home's next visit was due (its late
    # alert became the missed one). The late visit has finished, so it needs nobody.
    assert "Needs attention: 1" in page.text
    assert page.text.count('class="alert-item kind-missed"') == 1
    assert 'class="alert-item kind-late"' not in page.text
    assert "Dot Missed" in page.text and "4 Mill Street" in page.text
    assert rows(page.text, "missed") == 1 and rows(page.text, "late") == 1
    assert rows(page.text, "on_time") == 1
    # The home's last visit, due 10 minutes ago, is neither started nor missed yet.
    assert page.text.count('class="planned-row"') == 1


def test_another_providers_pages_are_not_found(
    settings: Settings, engine: Engine, care_day: PortalDay
) -> None:
    other = portal_day(engine, ANCHOR)
    with signed_in(settings, Role.PROVIDER_MANAGER, provider_id=other.world.provider_id) as them:
        base = f"/portal/providers/{care_day.world.provider_id}"
        responses = [
            them.get(f"{base}/today"),
            them.get(f"{base}/visits"),
            them.get(visit_url(care_day)),
            them.post(
                f"{visit_url(care_day)}/corrections",
                data={"reason_code": "phone_dead", "note": "x", "check_in": "2026-02-10T11:00"},
            ),
            them.get("/portal/kpis"),
        ]
        own = them.get(f"/portal/providers/{other.world.provider_id}/visits")
    assert [r.status_code for r in responses] == [404, 404, 404, 404, 403]
    for response in responses:
        assert (
            care_day.home not in response.text and str(care_day.on_time_visit) not in response.text
        )
        assert response.headers["content-type"].startswith("text/html")
    assert own.status_code == 200


def test_a_council_officer_sees_kpi_trends_against_targets_and_the_same_numbers_as_the_api(
    officer: TestClient, care_day: PortalDay, settings: Settings, engine: Engine
) -> None:
    day = care_day.day.isoformat()
    page = officer.get("/portal/kpis", params={"from": day, "to": day})
    assert page.status_code == 200, page.text
    # One weekly trend per measure, each with its target drawn.
    assert page.text.count('<svg class="line-chart"') == 4
    assert page.text.count('class="target"') == 4
    api = officer.get(
        "/kpis", params={"council_id": care_day.world.council_id, "from": day, "to": day}
    ).json()
    [entry] = api["providers"]
    assert entry["planned"] == 4 and entry["missed"] == 2 and entry["on_time_15"] == 1
    row = re.search(r'<tr class="kpi-row".*?</tr>', page.text, re.S)
    assert row is not None
    # The provider by name, its lot filled in, the figures with red/amber/green in words.
    assert "Test Care Ltd" in row.group(0) and care_day.world.lot in row.group(0)
    on_time = re.search(r'<td class="kpi-on_time_15">(.*?)</td>', row.group(0), re.S)
    assert on_time is not None
    assert f"{entry['on_time_15_share'] * 100:.0f} %" in on_time.group(1)
    assert "Below target" in on_time.group(1)  # 25 % against the default 90 %
    missed = re.search(r'<td class="kpi-missed">(.*?)</td>', row.group(0), re.S)
    assert missed is not None and "50 %" in missed.group(1)
    # Every figure leads to the visits behind it: the missed ones to the missed visits.
    assert f"{log_url(care_day)}?from={day}&amp;to={day}&amp;status=missed" in missed.group(1)
    behind = officer.get(log_url(care_day), params={"from": day, "to": day, "status": "missed"})
    assert rows(behind.text, "missed") == entry["missed"]
    # The same figures as CSV.
    csv_link = f"/kpis.csv?council_id={care_day.world.council_id}&amp;from={day}&amp;to={day}"
    assert csv_link in page.text
    # Another council's officer sees none of it.
    other = portal_day(engine, ANCHOR)
    with signed_in(settings, Role.COUNCIL_OFFICER, council_id=other.world.council_id) as them:
        theirs = them.get("/portal/kpis", params={"from": day, "to": day}).text
        log = them.get(log_url(care_day))
    assert care_day.world.provider_id not in theirs
    assert log.status_code == 404


def test_an_administrator_chooses_the_council(settings: Settings, care_day: PortalDay) -> None:
    day = care_day.day.isoformat()
    with signed_in(settings) as admin:
        page = admin.get(
            "/portal/kpis", params={"council_id": care_day.world.council_id, "from": day, "to": day}
        )
    assert page.status_code == 200
    assert f'<option value="{care_day.world.council_id}" selected>' in page.text
    assert care_day.world.provider_id in page.text


def test_portal_page_reads_are_in_the_audit_trail(
    manager: TestClient, care_day: PortalDay, engine: Engine
) -> None:
    url = visit_url(care_day)
    assert manager.get(url).status_code == 200
    with engine.connect() as conn:
        entry = conn.execute(
            text(
                "select actor, role, tenant, action, method from audit_log "
                "where path = :path order by id desc limit 1"
            ),
            {"path": url},
        ).one()
    assert entry.actor.startswith("user-")
    assert (entry.role, entry.tenant, entry.action, entry.method) == (
        Role.PROVIDER_MANAGER.value,
        care_day.world.provider_id,
        "read",
        "GET",
    )


def test_the_kpi_csv_download_holds_the_pages_and_the_apis_figures_in_safe_cells(
    settings: Settings, engine: Engine
) -> None:
    own = portal_day(engine, ANCHOR)
    # The registry renames the provider and its lot the way a hostile or careless import
    # could: as text a spreadsheet would run.
    name = '=HYPERLINK("http://evil.example","Test Care")'
    lot = "@" + own.world.lot
    renamed = World()
    renamed.provider(own.world.provider_id, name=name, council_id=own.world.council_id, lot=lot)
    renamed.seed(engine)
    day = own.day.isoformat()
    with signed_in(settings, Role.COUNCIL_OFFICER, council_id=own.world.council_id) as officer:
        page = officer.get("/portal/kpis", params={"from": day, "to": day}).text
        link = re.search(r'href="(/kpis\.csv\?[^"]+)"', page)
        assert link is not None, page
        downloaded = officer.get(html.unescape(link.group(1)))
        api = officer.get(
            "/kpis", params={"council_id": own.world.council_id, "from": day, "to": day}
        ).json()
    assert downloaded.status_code == 200
    assert downloaded.headers["content-type"].startswith("text/csv")
    assert downloaded.headers["content-disposition"] == (
        f'attachment; filename="kpis-{day}-to-{day}.csv"'
    )
    text_csv = downloaded.content.decode("utf-8-sig")  # a BOM, for spreadsheets
    raw = list(csv.reader(io.StringIO(text_csv)))
    assert raw[0] == list(CSV_COLUMNS)
    # The week of Monday 9 February, then the whole period.
    assert [(r[0], r[3]) for r in raw[1:]] == [
        (own.world.provider_id, "2026-02-09"),
        (own.world.provider_id, "all"),
    ]
    # Cells a spreadsheet would run are written with a quote in front, as core/csv_safe.py
    # says; a machine reading through csv_safe.reader gets the registry's text back.
    assert (raw[1][1], raw[1][2]) == ("'" + name, "'" + lot)
    restored = list(csv_safe.reader(io.StringIO(text_csv)))
    assert (restored[2][1], restored[2][2]) == (name, lot)
    # The figures are the API's, as the CSV's columns name them.
    [entry] = api["providers"]
    week = dict(zip(CSV_COLUMNS, restored[1], strict=True))
    period = dict(zip(CSV_COLUMNS, restored[2], strict=True))
    for figures in (week, period):  # one day, so the week and the period agree
        assert (figures["Planned visits"], figures["Delivered"], figures["Missed"]) == (
            str(entry["planned"]),
            str(entry["delivered"]),
            str(entry["missed"]),
        )
        assert (entry["planned"], entry["delivered"], entry["missed"]) == (4, 2, 2)
        assert figures["Started within 15 min (%)"] == f"{entry['on_time_15_share'] * 100:.1f}"
        assert figures["Planned minutes delivered (%)"] == (
            f"{entry['planned_minutes_delivered_share'] * 100:.1f}"
        )
        assert figures["Verified by tag or code (%)"] == (
            f"{entry['tag_or_code_verified_share'] * 100:.1f}"
        )
        assert figures["Missed (%)"] == f"{entry['missed'] / entry['planned'] * 100:.1f}"
        assert [figures[c] for c in CSV_COLUMNS if c.endswith("against target")] == [
            "Below target"
        ] * 4
    assert [period[c] for c in CSV_COLUMNS[7::2]] == ["25.0", "39.0", "50.0", "50.0"]
    # And the page's: the same shares and words in the provider's row, its name escaped.
    row = re.search(r'<tr class="kpi-row".*?</tr>', page, re.S)
    assert row is not None and name in html.unescape(row.group(0))
    assert name not in row.group(0)  # escaped in the markup
    for measure, shown in (("on_time_15", "25 %"), ("missed", "50 %")):
        cell = re.search(rf'<td class="kpi-{measure}">(.*?)</td>', row.group(0), re.S)
        assert cell is not None and shown in cell.group(1) and "Below target" in cell.group(1)
