"""The carer's day in a real browser: headless Chromium against the real `ecm api` process. A
provider manager declares the pay rate, reads the carers' day list and one carer's day with its
travel, on a desktop and on a phone's width; a council officer reads the figures per provider.

Screenshots: .state/artefacts/portal/2x-*.png (paths printed; run with -s to see them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from api.auth.roles import Role
from core.settings import Settings
from tests.api.api_support import add_user
from tests.api.browser_support import WIDTH, Portal, api_process, chromium
from tests.api.carer_day_world import DAY, make_world

PHONE_WIDTH = 390


@pytest.fixture(scope="module")
def api_url(role_env: dict[str, str]) -> Iterator[str]:
    with api_process(role_env) as url:
        yield url


@pytest.fixture
def portal(api_url: str, tmp_path: Path) -> Iterator[Portal]:
    with chromium(tmp_path / "chromium-profile") as driver:
        yield Portal(driver, api_url)


def overflow_px(portal: Portal) -> int:
    """How far the page is wider than the window: a phone would have to scroll sideways."""
    return int(
        portal.driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
    )


def test_a_provider_reads_a_carers_day_and_a_council_the_figures(
    portal: Portal, settings: Settings, engine: Engine
) -> None:
    world = make_world(engine, colleagues=2)
    manager = add_user(settings, Role.PROVIDER_MANAGER, provider_id=world.provider_id)
    officer = add_user(settings, Role.COUNCIL_OFFICER, council_id=world.council_id)

    portal.sign_in(manager)
    portal.click_link("Carers' days")
    portal.wait_for("details.pay-form")
    portal.open(f"/portal/providers/{world.provider_id}/carer-days?date={DAY}")
    portal.find("details.pay-form summary").click()
    portal.find("#hourly_rate_gbp").send_keys("11.50")
    # A date field's typed format depends on the browser's locale; set its value.
    portal.driver.execute_script(
        "arguments[0].value = '2025-04-01'", portal.find("#effective_from")
    )
    portal.find("form[action$='/pay-rate'] button[type=submit]").click()
    portal.wait_for("p.notice")
    portal.open(f"/portal/providers/{world.provider_id}/carer-days?date={DAY}")
    rows = portal.find_all("tr.carer-day-row")
    assert len(rows) == 3
    ann = portal.find(f"tr.carer-day-row[data-carer='{world.carer_id}']")
    assert "below-floor" in str(ann.get_attribute("class"))
    assert "£9.01 below" in ann.text and "37 min" in ann.text
    # The stylesheet applies under the strict CSP: the row below the floor is highlighted.
    plain = portal.find("table.carer-days thead th").value_of_css_property("background-color")
    assert ann.find_element("css selector", "td").value_of_css_property("background-color") != plain
    portal.screenshot("21-carer-days")

    ann.find_element("link text", "Ann Carer").click()
    strip = portal.wait_for("figure.day-strip svg")
    assert strip.size["width"] > 300
    assert len(portal.find_all("rect.segment-visit")) == 4
    assert len(portal.find_all("rect.segment-travel")) == 3
    assert len(portal.find_all("ol.day-sequence li.visit-step")) == 4
    assert len(portal.find_all("ol.day-sequence p.leg")) == 3
    assert "Home B" in portal.find("ol.day-sequence").text
    body = portal.find("main").text
    assert "Pay is £9.01 below the National Living Wage" in body
    assert "12 min travel, 2 h 48 min unpaid" in body
    portal.screenshot("22-carer-day")

    # On a phone: nothing wider than the screen, the strip shrinks to fit.
    portal.driver.set_window_size(PHONE_WIDTH, 844)
    portal.driver.refresh()
    portal.wait_for("figure.day-strip svg")
    assert overflow_px(portal) <= 0
    assert portal.find("figure.day-strip svg").size["width"] <= PHONE_WIDTH
    assert portal.screenshot("23-carer-day-phone", PHONE_WIDTH).exists()
    portal.driver.set_window_size(WIDTH, 900)
    portal.sign_out()

    portal.sign_in(officer)
    portal.click_link("Carers' pay")
    portal.open(f"/portal/carer-days?from={DAY}&to={DAY}")
    row = portal.wait_for(f"tr.provider-row[data-provider='{world.provider_id}']")
    assert "3 (100 %)" in row.text and "17.8 min" in row.text
    assert "Ann Carer" not in portal.find("main").text
    assert len(portal.find_all("svg.bar-chart")) == 2
    portal.screenshot("24-council-carer-pay")
