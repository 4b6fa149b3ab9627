"""The carer's day pages over HTTP: the provider's list and one carer's day with travel, the
pay rate form, the council's figures; other tenants refused as for the API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.auth.roles import Role
from core.settings import Settings
from tests.api.api_support import client_for
from tests.api.carer_day_world import DAY, CarerWorld, make_world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(engine: Engine) -> CarerWorld:
    return make_world(engine)


@pytest.fixture(scope="module")
def manager(settings: Settings, world: CarerWorld) -> Iterator[TestClient]:
    yield from client_for(settings, Role.PROVIDER_MANAGER, provider_id=world.provider_id)


def test_the_provider_declares_pay_and_reads_its_carers_days(
    manager: TestClient, world: CarerWorld
) -> None:
    base = f"/portal/providers/{world.provider_id}"
    empty = manager.get(f"{base}/carer-days", params={"date": DAY})
    assert empty.status_code == 200
    assert "No pay rate declared for this day" in empty.text
    assert 'href="/portal/providers/' in empty.text and "Carers&#39; days" in empty.text

    saved = manager.post(
        f"{base}/pay-rate",
        data={"effective_from": "2025-04-01", "hourly_rate_gbp": "£11.50"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("notice=pay-rate-saved")
    page = manager.get(f"{base}/carer-days", params={"date": DAY})
    assert "£11.50 an hour</strong>, travel between visits not paid" in page.text
    assert 'class="carer-day-row below-floor"' in page.text
    assert "£23.96 of £32.97: £9.01 below" in page.text
    assert "37 min" in page.text and "2 h 48 min" in page.text  # travel, unpaid gaps

    day = manager.get(f"{base}/carers/{world.carer_id}/days/{DAY}")
    assert day.status_code == 200
    text = day.text
    assert "Pay is £9.01 below the National Living Wage" in text
    assert "2 h 05 min" in text and "2 h 42 min worked" in text
    assert text.count('class="segment segment-visit"') == 4
    assert text.count('class="segment segment-travel"') == 3
    assert text.count('class="segment segment-unpaid"') == 1
    assert (
        '180 min to the next visit: <span class="travel">12 min travel</span>, 2 h 48 min unpaid'
        in text
    )
    assert "3.9 km" in text and "8 km/h" in text


def test_a_bad_rate_is_a_readable_refusal(manager: TestClient, world: CarerWorld) -> None:
    refused = manager.post(
        f"/portal/providers/{world.provider_id}/pay-rate",
        data={"effective_from": DAY, "hourly_rate_gbp": "twelve"},
    )
    assert refused.status_code == 422
    assert "hourly rate in pounds" in refused.text


def test_other_tenants_get_404_and_councils_their_own_page(
    settings: Settings, world: CarerWorld
) -> None:
    for stranger in client_for(
        settings, Role.PROVIDER_MANAGER, provider_id=world.other_provider_id
    ):
        for path in (
            f"/portal/providers/{world.provider_id}/carer-days",
            f"/portal/providers/{world.provider_id}/carers/{world.carer_id}/days/{DAY}",
        ):
            response = stranger.get(path)
            assert response.status_code == 404 and "Ann Carer" not in response.text
        assert stranger.get("/portal/carer-days").status_code == 403
    shown = settings.model_copy(update={"carer_day_min_cell": 1})
    for officer in client_for(shown, Role.COUNCIL_OFFICER, council_id=world.council_id):
        refused = officer.get(f"/portal/providers/{world.provider_id}/carer-days")
        assert refused.status_code == 403
        page = officer.get("/portal/carer-days", params={"from": DAY, "to": DAY})
        assert page.status_code == 200
        assert f'data-provider="{world.provider_id}"' in page.text
        assert "Ann Carer" not in page.text and world.carer_id not in page.text
        assert "17.8 min" in page.text  # travel per contact hour
        assert page.text.count('class="bar-chart"') == 2
