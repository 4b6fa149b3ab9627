"""The portal in a real browser: headless Chromium against the real `ecm api` process on the
test stack. A provider manager follows today's visits, opens a visit's evidence and requests a
correction; a council officer reads the KPI dashboard, approves the correction, uploads a
contract and an invoice, runs the reconciliation and follows a payable line to its visit.

Screenshots: .state/artefacts/portal/*.png (paths printed; run with -s to see them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from selenium.webdriver.support.select import Select
from sqlalchemy import Engine

from api.auth.roles import Role
from api.times import LONDON
from core.settings import Settings
from ingest.verify import Evidence
from tests.api.api_support import add_user
from tests.api.browser_support import Portal, api_process, chromium
from tests.api.portal_world import HOME_LAT, HOME_LON, portal_day
from tests.visits.support import IN, OUT, plan, store


@pytest.fixture(scope="module")
def api_url(role_env: dict[str, str]) -> Iterator[str]:
    with api_process(role_env) as url:
        yield url


@pytest.fixture
def portal(api_url: str, tmp_path: Path) -> Iterator[Portal]:
    # A fresh profile per test: no cookie or cache carried from one test to the next.
    with chromium(tmp_path / "chromium-profile") as driver:
        yield Portal(driver, api_url)


def background(portal: Portal, css: str) -> str:
    return str(portal.find(css).value_of_css_property("background-color"))


def test_a_provider_manager_and_a_council_officer_use_the_portal(
    portal: Portal, settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    # The day's visits start an hour before the anchor; shortly after midnight they would fall
    # on yesterday, so then the day is read from the visit log instead of today's page.
    today = now.astimezone(LONDON).hour >= 2
    care_day = portal_day(engine, now if today else now - timedelta(hours=3))
    provider_id = care_day.world.provider_id
    manager = add_user(settings, Role.PROVIDER_MANAGER, provider_id=provider_id)
    officer = add_user(settings, Role.COUNCIL_OFFICER, council_id=care_day.world.council_id)

    # Provider manager: today's visits, late and missed highlighted.
    portal.sign_in(manager)
    portal.screenshot("01-provider-home")
    if today:
        portal.click_link("Today's visits")
        portal.wait_for(".attention-box")
        assert portal.find("meta[http-equiv=refresh]").get_attribute("content") == "30"
        assert len(portal.find_all("tr.planned-row")) == 1  # the last visit, still to come
    else:
        portal.open(f"/portal/providers/{provider_id}/visits?date={care_day.day.isoformat()}")
    portal.wait_for("tr.attention-missed")
    assert len(portal.find_all("tr.attention-late")) >= 1
    # The stylesheet applies under the strict CSP: highlighted rows really look different.
    plain = background(portal, "tr[data-status=on_time] td")
    assert background(portal, "tr.attention-missed td") != plain
    assert background(portal, "tr.attention-late td") != plain
    portal.screenshot("02-todays-visits")

    # One visit's evidence: the map with the geofence, tag and times.
    portal.find(f"a[href$='/visits/{care_day.on_time_visit}']").click()
    svg = portal.wait_for("svg#evidence-map")
    assert svg.size["width"] > 200 and svg.size["height"] > 200
    assert len(portal.find_all("svg#evidence-map circle.geofence")) == 1
    assert len(portal.find_all("svg#evidence-map circle.fix")) == 2
    body = portal.find("main").text
    assert care_day.tag_uid in body and "counter 41" in body and "95 s later" in body
    portal.screenshot("03-visit-evidence")

    # Request a correction: the check-in 45 minutes earlier (the visit ended less than an hour
    # ago, so a later check-out could lie in the future), beyond the council's threshold.
    check_in = portal.find("#check_in")
    recorded = datetime.fromisoformat(str(check_in.get_attribute("value")))
    # A datetime-local field's typed format depends on the browser's locale; set its value.
    portal.driver.execute_script(
        "arguments[0].value = arguments[1]",
        check_in,
        (recorded - timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M"),
    )
    Select(portal.find("#reason_code")).select_by_value("wrong_time")
    portal.find("#note").send_keys("The handset clock was wrong; the carer arrived earlier.")
    portal.find("form.correction-form button[type=submit]").click()
    notice = portal.wait_for("p.notice")
    assert "counts once the council approves it" in notice.text
    assert "awaiting council approval" in portal.find("table.corrections").text
    assert not portal.find_all("button.approve")
    # Before -> after: the check-in moved, the check-out left as shown did not.
    times = portal.find("table.corrections tr.correction td:nth-child(4)").text
    before_in, before_out, after_in, after_out = re.findall(r"\d\d:\d\d", times)
    assert before_out == after_out and before_in != after_in
    portal.screenshot("04-correction-requested")
    visit_url = portal.driver.current_url.split("?")[0]
    portal.sign_out()

    # Council officer: the KPI dashboard, then the approval.
    portal.sign_in(officer)
    portal.click_link("KPIs")
    if not today:
        portal.open(f"/portal/kpis?from={care_day.day.isoformat()}&to={care_day.day.isoformat()}")
    portal.wait_for("svg.bar-chart")
    assert len(portal.find_all("svg.bar-chart")) == 4
    row = portal.find(f"tr.kpi-row[data-provider='{provider_id}']")
    # Planned visits due: all but the last, which counts once its midnight deadline has passed.
    assert row.find_elements("css selector", "td")[2].text == ("3" if today else "4")
    assert len(portal.find_all(f"tr.kpi-row a[href='/portal/providers/{provider_id}/visits']"))
    portal.screenshot("05-council-kpis")

    portal.driver.get(visit_url)
    portal.wait_for("button.approve").click()
    portal.wait_for_text("p.notice", "Correction approved.")
    assert "approved by" in portal.find("table.corrections").text
    portal.screenshot("06-correction-approved")

    # Reconciliation: meanwhile a second carer's tag-verified visit to a fourth home arrived
    # (stored as ingest stores it, not yet seen by any page). The provider invoices it, the
    # corrected visit (a manual time now) and the missed one; the officer uploads the contract
    # and the invoice, runs the reconciliation and follows the payable line to its events.
    world = care_day.world
    visited_home = world.add_home(HOME_LAT + 0.03, HOME_LON)
    visit_start = care_day.anchor - timedelta(minutes=90)
    visited_plan = plan(engine, world, visited_home, visit_start.isoformat(), 30)
    carer = world.add_handset()
    tapped = Evidence(level="tag", tag_uid="04F1E2D3C4B5A6")
    arrived = store(
        engine, carer, visited_home, IN, visit_start + timedelta(minutes=1), evidence=tapped
    )
    left = store(
        engine, carer, visited_home, OUT, visit_start + timedelta(minutes=28), evidence=tapped
    )

    rate = Decimal("25.20")
    contract = tmp_path / "contract.toml"
    contract.write_text(
        '[rules]\nbilling_unit_minutes = 15\nrounding = "nearest"\ntolerance_minutes = 5\n\n'
        f'[[provider]]\nref = "{provider_id}"\ncontract = "framework"\n'
        f'rate_per_hour = {rate}\nlot = "{world.lot}"\n'
    )
    # 27 minutes delivered of 30 planned: within the 5-minute tolerance, so 30 minutes are due.
    half_hour = (rate * 30 / 60).quantize(Decimal("0.01"))

    def claim(line_no: int, home: str, start: datetime) -> str:
        local = start.astimezone(LONDON)
        end = local + timedelta(minutes=30)
        return (
            f"INV-77,{line_no},{provider_id},{home},{local.date().isoformat()},"
            f"{local:%H:%M},{end:%H:%M},30,1,{half_hour}\n"
        )

    # Line 1: the new visit, approved at the contract price. Line 2: the visit whose check-in
    # the officer's approved correction moved, a manual time now, so held UNVERIFIED. Line 3:
    # a visit to the home whose visits were missed, at a time nobody was there: rejected
    # NO_VISIT. (Every claim ends well before midnight, whenever the test runs.)
    invoice = tmp_path / "invoice.csv"
    invoice.write_text(
        "invoice_ref,line_no,provider_ref,service_user_ref,visit_date,start,end,"
        "minutes_claimed,carers,amount_claimed\n"
        + claim(1, visited_home, visit_start)
        + claim(2, care_day.home, care_day.anchor - timedelta(minutes=60))
        + claim(3, care_day.missed_home, visit_start)
    )

    portal.click_link("Reconciliation")
    portal.wait_for("#contract-file")
    assert "No contract yet" in portal.find("main").text
    assert not portal.find_all("input[name=invoice_ids]")
    portal.screenshot("07-reconciliation-empty")

    portal.find("#contract-file").send_keys(str(contract))
    portal.find("form[action$='/reconciliation/contract'] button[type=submit]").click()
    portal.wait_for_text("p[role=status]", "contract version 1 is current")
    assert "Version 1" in portal.find("main").text
    portal.find("#invoice-file").send_keys(str(invoice))
    portal.find("form[action$='/reconciliation/invoices'] button[type=submit]").click()
    status = portal.wait_for_text("p[role=status]", "invoice invoice.csv").text
    assert status == "invoice invoice.csv: 3 lines read, 0 problems", status
    portal.find("input[name=invoice_ids]").click()
    portal.screenshot("08-reconciliation-uploaded")

    portal.find("form[action$='/reconciliation/runs'] button[type=submit]").click()
    portal.wait_for_text("h1", "Reconciliation run #")
    totals = [cell.text for cell in portal.find("table.totals").find_elements("css selector", "td")]
    # lines, claimed, payable, variance, block, approved, adjusted, held, rejected, unbilled
    # visits, uncommissioned lines.
    assert totals == [
        "3",
        f"{half_hour * 3}",
        f"{half_hour}",
        f"{half_hour * 2}",
        "0.00",
        "1",
        "0",
        "1",
        "1",
        "0",
        "0",
    ], totals
    lines = [
        [cell.text for cell in row.find_elements("css selector", "td")]
        for row in portal.find_all("table.run-lines tbody tr")
    ]
    # #, invoice, line, provider, service user, date, time, claimed, outcome, reason, payable,
    # planned visit.
    assert [(row[0], row[8], row[9], row[10], row[11]) for row in lines] == [
        ("1", "approved", "", f"30 min, {half_hour}", visited_plan),
        ("2", "held", "UNVERIFIED", "0 min, 0.00", care_day.on_time_plan),
        ("3", "rejected", "NO_VISIT", "0 min, 0.00", ""),
    ], lines
    portal.screenshot("09-reconciliation-run")

    # The payable line, down to the visit and the two tag events behind it.
    portal.find("table.run-lines a[href$='/lines/1']").click()
    portal.wait_for("table.line-evidence")
    summary = portal.find("main section").text
    assert f"approved: pays 30 minutes, {half_hour}" in summary
    assert "actual minutes 27" in summary and visited_plan in summary
    evidence = portal.find("table.line-evidence tbody tr").text
    assert carer.carer_id in evidence and "tag" in evidence
    assert str(arrived) in evidence and str(left) in evidence
    portal.screenshot("10-reconciliation-line")
    portal.find(f"table.line-evidence a[href$='/visits/{arrived}']").click()
    portal.wait_for("svg#evidence-map")
    assert "04F1E2D3C4B5A6" in portal.find("main").text
    portal.screenshot("11-reconciliation-line-visit")

    assert all(path.stat().st_size > 5_000 for path in portal.shots)
