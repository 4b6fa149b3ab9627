"""Service requests in a real browser: headless Chromium against the real `ecm api` process. A
council officer who has never seen the pages makes a request, a lead provider declines it, the
officer watches it move down the cascade, an additional provider accepts it and finds the
package's visits in its schedule; the pages fit a 390 px phone.

Screenshots: .state/artefacts/portal/*.png (paths printed; run with -s to see them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from selenium.webdriver.support.select import Select
from sqlalchemy import Engine

from api.auth.roles import Role
from commissioning.model import LONDON
from core.settings import Settings
from tests.api.api_support import add_user
from tests.api.browser_support import Portal, api_process, chromium
from tests.commissioning.support import lot_world

PHONE_WIDTH = 390


@pytest.fixture(scope="module")
def api_url(role_env: dict[str, str]) -> Iterator[str]:
    with api_process(role_env) as url:
        yield url


@pytest.fixture
def portal(api_url: str, tmp_path: Path) -> Iterator[Portal]:
    with chromium(tmp_path / "chromium-profile") as driver:
        yield Portal(driver, api_url)


def set_value(portal: Portal, css: str, value: str) -> None:
    # Date and time fields' typed formats depend on the browser's locale; set their value.
    portal.driver.execute_script("arguments[0].value = arguments[1]", portal.find(css), value)


def fits_a_phone(portal: Portal) -> bool:
    portal.driver.set_window_size(PHONE_WIDTH, 900)
    try:
        width = portal.driver.execute_script("return document.documentElement.scrollWidth")
        return int(width) <= PHONE_WIDTH
    finally:
        portal.driver.set_window_size(1280, 900)


def test_a_request_made_in_the_portal_cascades_and_is_placed(
    portal: Portal, settings: Settings, engine: Engine
) -> None:
    world = lot_world(engine)
    home = world.add_home()
    officer = add_user(settings, Role.COUNCIL_OFFICER, council_id=world.council_id)
    lead = add_user(settings, Role.PROVIDER_MANAGER, provider_id=world.lead)
    additional = world.additional[0]
    taker = add_user(settings, Role.PROVIDER_MANAGER, provider_id=additional)
    # The visit at least 90 minutes from now, on the hour or half hour, London time: today's
    # page shows it as still to come (unless that is tomorrow already).
    soon = datetime.now(UTC).astimezone(LONDON) + timedelta(minutes=90)
    visit_at = (soon + timedelta(minutes=30 - soon.minute % 30)).replace(second=0, microsecond=0)
    start = visit_at.date()

    # The officer finds the form from the navigation and makes the request.
    portal.sign_in(officer)
    portal.click_link("Service requests")
    portal.wait_for("a.button")
    portal.click_link("New request")
    Select(portal.wait_for("#service_user_id")).select_by_value(home)
    Select(portal.find("#lot_id")).select_by_value(world.lot_id)
    set_value(portal, "#start_date", start.isoformat())
    for checkbox in portal.find_all("#visit-line-0 input[type=checkbox]"):
        checkbox.click()
    set_value(portal, "input[name=start-0]", visit_at.strftime("%H:%M"))
    portal.find("input[name=minutes-0]").send_keys("30")
    portal.find("#notes").send_keys("Key safe code from the duty desk.")
    assert fits_a_phone(portal)
    portal.screenshot("31-request-form")
    portal.find("button.make-request").click()
    portal.wait_for_text("p.notice", "Request made")
    assert portal.find("#request-status").text == "open"
    stages = [row.text for row in portal.find_all("table.cascade tbody tr")]
    assert world.lead in stages[0] and "current" in stages[0] and len(stages) == 4
    request_url = portal.driver.current_url.split("?")[0]
    portal.screenshot("32-request-offered-to-the-lead")
    portal.sign_out()

    # The lead provider sees the offer with its deadline counting down, and declines it.
    portal.sign_in(lead)
    portal.click_link("Offers")
    row = portal.wait_for("table.open-offers tr.offer-row")
    assert "left" in row.find_element("css selector", "td.countdown").text
    assert fits_a_phone(portal)
    row.find_element("css selector", "a").click()
    portal.wait_for("button.accept")
    assert "Key safe code from the duty desk." in portal.find("p.notes").text
    Select(portal.find("#reason")).select_by_value("no_capacity")
    portal.screenshot("33-lead-declines")
    portal.find("button.decline").click()
    portal.wait_for_text("p.notice", "You declined")
    portal.sign_out()

    # The officer watches it move on to the first additional provider.
    portal.sign_in(officer)
    portal.driver.get(request_url)
    portal.wait_for(f"tr.offer-row[data-provider='{additional}'][data-status='open']")
    declined = portal.find(f"tr.offer-row[data-provider='{world.lead}']").text
    assert "declined" in declined and "No carers free" in declined
    portal.screenshot("34-request-cascaded")
    portal.sign_out()

    # The additional provider accepts it and finds the visits in its schedule.
    portal.sign_in(taker)
    portal.click_link("Offers")
    portal.wait_for("table.open-offers tr.offer-row a").click()
    portal.wait_for("button.accept").click()
    portal.wait_for_text("p.notice", "You accepted this request")
    portal.screenshot("35-additional-accepts")
    portal.find("p.notice a").click()
    first = portal.wait_for("table.upcoming tr.planned-row")
    assert visit_at.strftime("%H:%M") in first.text
    assert len(portal.find_all("table.upcoming tr.planned-row")) >= 13  # daily, two weeks
    portal.screenshot("36-package-planned-visits")
    if start == datetime.now(UTC).astimezone(LONDON).date():
        portal.click_link("Today's visits")
        planned = portal.wait_for("table.to-come")
        assert home in planned.text and visit_at.strftime("%H:%M") in planned.text
        portal.screenshot("37-provider-today-with-the-package")
    portal.sign_out()

    # The officer sees it placed, and the monitoring page charts it.
    portal.sign_in(officer)
    portal.driver.get(request_url)
    status = portal.wait_for("#request-status")
    placed = portal.find("main section.card").text
    assert status.text == "placed" and "with Avon Home Care Ltd (additional)" in placed
    portal.click_link("Service requests")
    portal.click_link("Monitoring")
    portal.wait_for("svg.bar-chart")
    assert len(portal.find_all("svg.bar-chart")) == 4
    lot_row = portal.find(f"tr.monitoring-row[data-lot='{world.lot_id}']").text
    assert lot_row.startswith(f"North {world.lot_id} 1 1 0 (0 %) 1")
    portal.screenshot("38-monitoring")
    assert all(path.stat().st_size > 5_000 for path in portal.shots)
