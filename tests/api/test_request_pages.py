"""The service-request pages rendered by the app (the browser test drives them in Chromium):
the officer's form, queue, request and monitoring pages; the provider's offers, its answer and
the package with its planned visits."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.auth.roles import Role
from commissioning.model import LONDON
from core.settings import Settings
from tests.api.api_support import client_for
from tests.commissioning.support import lot_world

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=LONDON)


@contextmanager
def signed_in(settings: Settings, role: Role, **tenant: str) -> Iterator[TestClient]:
    for client in client_for(settings, role, **tenant):
        client.app.state.clock = lambda: NOW  # type: ignore[attr-defined]
        yield client


def form(home: str, lot: str, **extra: str | list[str]) -> dict[str, str | list[str]]:
    return {
        "service_user_id": home,
        "lot_id": lot,
        "start_date": "2026-03-05",
        "days-0": ["Mon", "Tue", "Wed", "Thu", "Fri"],
        "start-0": "08:00",
        "minutes-0": "30",
        "carers-0": "1",
        "service_type-0": "personal care",
        "days-1": ["Sat", "Sun"],
        "start-1": "09:00",
        "minutes-1": "45",
        "carers-1": "2",
        "notes": "Ring the bell twice.",
        **extra,
    }


def test_officer_makes_a_request_and_the_provider_takes_it(
    settings: Settings, engine: Engine
) -> None:
    world = lot_world(engine)
    home = world.add_home()
    with (
        signed_in(settings, Role.COUNCIL_OFFICER, council_id=world.council_id) as officer,
        signed_in(settings, Role.PROVIDER_MANAGER, provider_id=world.lead) as lead,
    ):
        blank = officer.get("/portal/requests/new")
        assert blank.status_code == 200 and home in blank.text and world.lot_id in blank.text

        # A line with days but no time is refused, and the form comes back filled in.
        bad = officer.post("/portal/requests", data=form(home, world.lot_id, **{"start-0": ""}))
        assert bad.status_code == 422 and "visit line 1: choose the days and the time" in bad.text
        assert "Ring the bell twice." in bad.text

        made = officer.post(
            "/portal/requests", data=form(home, world.lot_id), follow_redirects=False
        )
        assert made.status_code == 303, made.text
        detail = officer.get(made.headers["location"])
        assert "Request made and offered" in detail.text
        assert f'data-provider="{world.lead}" data-status="open"' in detail.text
        assert "<dd>5.5</dd>" in detail.text  # (5 x 30 + 2 x 45 x 2) / 60 hours a week
        queue = officer.get("/portal/requests")
        # Answer due Thursday 10:00: a day from the injected clock's Wednesday 10:00.
        assert 'data-status="open"' in queue.text and "1 day 0 h left" in queue.text

        offers = lead.get(f"/providers/{world.lead}/offers")  # the API: find the offer id
        offer_id = offers.json()["items"][0]["offer"]["id"]
        listing = lead.get(f"/portal/providers/{world.lead}/offers")
        assert listing.status_code == 200 and "1 day 0 h left" in listing.text
        page = lead.get(f"/portal/providers/{world.lead}/offers/{offer_id}")
        assert "Ring the bell twice." in page.text and "Accept this request" in page.text
        refused = lead.post(
            f"/portal/providers/{world.lead}/offers/{offer_id}/decline",
            data={"reason": "other", "note": ""},
        )
        assert refused.status_code == 422 and "needs a note" in refused.text
        accepted = lead.post(
            f"/portal/providers/{world.lead}/offers/{offer_id}/accept", follow_redirects=False
        )
        assert accepted.status_code == 303
        done = lead.get(accepted.headers["location"])
        assert "You accepted this request" in done.text
        package_link = re.search(r'href="/portal/packages/(\d+)"', done.text)
        assert package_link is not None
        package = lead.get(f"/portal/packages/{package_link.group(1)}")
        # Thursday 5 March onwards: weekday mornings at 08:00, weekend visits at 09:00.
        assert package.status_code == 200 and "Thu 5 Mar 08:00" in package.text
        assert "Sat 7 Mar 09:00" in package.text
        assert officer.get(f"/portal/packages/{package_link.group(1)}").status_code == 200

        # The provider has no council pages; another provider's offer is not found.
        assert lead.get("/portal/requests").status_code == 403
        other = world.additional[0]
        assert lead.get(f"/portal/providers/{other}/offers").status_code == 404

        history = officer.get(made.headers["location"].split("?")[0]).text
        assert 'data-kind="viewed"' in history and 'data-kind="accepted"' in history


def test_the_monitoring_page_draws_its_charts(settings: Settings, engine: Engine) -> None:
    world = lot_world(engine)
    world.request(NOW)
    with signed_in(settings, Role.COUNCIL_OFFICER, council_id=world.council_id) as officer:
        page = officer.get(
            "/portal/requests/monitoring",
            params={"from": NOW.date().isoformat(), "to": NOW.date().isoformat()},
        )
    assert page.status_code == 200
    assert page.text.count('class="bar-chart"') == 4
    assert f'data-lot="{world.lot_id}"' in page.text and 'data-lot="ALL"' in page.text
    assert "monitoring.csv" in page.text


def test_withdraw_and_reoffer_from_the_request_page(settings: Settings, engine: Engine) -> None:
    world = lot_world(engine)
    request_id = world.request(NOW)
    with signed_in(settings, Role.COUNCIL_OFFICER, council_id=world.council_id) as officer:
        again = officer.post(
            f"/portal/requests/{request_id}/reoffer",
            data={"provider_id": world.dps[0]},
            follow_redirects=False,
        )
        assert again.status_code == 303
        page = officer.get(again.headers["location"]).text
        assert f'data-provider="{world.dps[0]}" data-status="open"' in page
        assert f'data-provider="{world.lead}" data-status="withdrawn"' in page
        gone = officer.post(
            f"/portal/requests/{request_id}/withdraw",
            data={"reason": "family will care"},
            follow_redirects=False,
        )
        assert gone.status_code == 303
        assert "Request withdrawn." in officer.get(gone.headers["location"]).text
        later = officer.post(f"/portal/requests/{request_id}/withdraw", data={"reason": "x"})
        assert later.status_code == 422 and "withdrawn" in later.text
