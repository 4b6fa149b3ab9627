"""The portal in a real browser: headless Chromium against the real `ecm api` process on the
test stack. A provider manager follows today's visits, opens a visit's evidence and requests a
correction; a council officer reads the KPI dashboard and approves the correction.

Screenshots: .state/artefacts/portal/*.png (paths printed; run with -s to see them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from selenium.webdriver.support.select import Select
from sqlalchemy import Engine

from api.auth.roles import Role
from api.times import LONDON
from ecm.settings import Settings
from tests.api.api_support import add_user
from tests.api.browser_support import Portal, api_process, chromium
from tests.api.portal_world import portal_day


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
    portal: Portal, settings: Settings, engine: Engine
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
    assert "Correction approved." in portal.wait_for("p.notice").text
    assert "approved by" in portal.find("table.corrections").text
    portal.screenshot("06-correction-approved")

    # Reconciliation (recon-service, issue 7): the council officer's invoice upload and the
    # outcome page continue this journey here, signed in as `officer`, with `portal.screenshot`.

    assert all(path.stat().st_size > 5_000 for path in portal.shots)
