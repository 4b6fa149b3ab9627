"""The portal's working pages over plain HTTP: the alert console (acknowledge a missed visit
with a reason, record it as delivered), the council's worklist (approve ticked items), the
settings form, finding people by name in any case, the lock-out wait, and portal-styled
refusals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.auth.roles import Role
from api.portal.endpoints import lock_out_message, wait_words
from core.settings import Settings
from core.times import LONDON
from gateway.registry import queries as registry
from tests.api.api_support import add_user, administrator, client_address, client_for, sign_in
from tests.api.portal_world import PortalDay, portal_day

# A fixed morning: the care day's visits are an hour old, the first missed home's visit missed.
NOW = datetime(2026, 6, 10, 10, 0, tzinfo=UTC)

signed_in = contextmanager(client_for)


@pytest.fixture(scope="module")
def care_day(engine: Engine) -> PortalDay:
    return portal_day(engine, NOW)


def at_now(client: TestClient) -> TestClient:
    app = client.app
    assert isinstance(app, FastAPI)
    app.state.clock = lambda: NOW
    return client


@pytest.fixture(scope="module")
def manager(settings: Settings, care_day: PortalDay) -> Iterator[TestClient]:
    with signed_in(
        settings, Role.PROVIDER_MANAGER, provider_id=care_day.world.provider_id
    ) as client:
        yield at_now(client)


@pytest.fixture(scope="module")
def officer(settings: Settings, care_day: PortalDay) -> Iterator[TestClient]:
    with signed_in(settings, Role.COUNCIL_OFFICER, council_id=care_day.world.council_id) as client:
        yield at_now(client)


def missed_alert(manager: TestClient, care_day: PortalDay) -> str:
    today = manager.get(f"/portal/providers/{care_day.world.provider_id}/today").text
    found = re.search(r'class="alert-item kind-missed" data-alert="(\d+)"', today)
    assert found is not None, today
    return f"/portal/providers/{care_day.world.provider_id}/alerts/{found.group(1)}"


def test_a_provider_acknowledges_a_missed_visit_with_a_reason_then_records_it_delivered(
    manager: TestClient, officer: TestClient, care_day: PortalDay, engine: Engine
) -> None:
    url = missed_alert(manager, care_day)
    page = manager.get(url)
    assert page.status_code == 200
    assert "Missed visit to" in page.text and "Dot Missed" in page.text
    # No reason is chosen for anyone: the first option says so.
    assert '<option value="" selected>Not known yet</option>' in page.text
    acknowledged = manager.post(
        f"{url}/acknowledge",
        data={"reason_code": "no_access", "note": "Door locked, no answer"},
        follow_redirects=False,
    )
    assert acknowledged.status_code == 303
    shown = manager.get(acknowledged.headers["location"]).text
    assert "Acknowledged." in shown and "The carer could not get into the home" in shown
    assert "Door locked, no answer" in shown
    # A bad attempt keeps what was typed.
    missing_times = manager.post(
        f"/portal/providers/{care_day.world.provider_id}/manual-visits",
        data={
            "visit_ref": alert_ref(engine, url),
            "alert_id": url.rsplit("/", 1)[1],
            "carer_id": care_day.carer_id,
            "check_in": "",
            "check_out": "",
            "note": "The daughter saw her arrive",
        },
    )
    assert missing_times.status_code == 422
    assert "Give the times the carer arrived and left" in missing_times.text
    assert "The daughter saw her arrive" in missing_times.text
    start = (NOW - timedelta(minutes=19)).astimezone(LONDON)
    delivered = manager.post(
        f"/portal/providers/{care_day.world.provider_id}/manual-visits",
        data={
            "visit_ref": alert_ref(engine, url),
            "alert_id": url.rsplit("/", 1)[1],
            "carer_id": care_day.carer_id,
            "check_in": start.strftime("%Y-%m-%dT%H:%M"),
            "check_out": (start + timedelta(minutes=9)).strftime("%Y-%m-%dT%H:%M"),
            "note": "The daughter saw her arrive",
        },
        follow_redirects=False,
    )
    assert delivered.status_code == 303, delivered.text
    after = manager.get(delivered.headers["location"]).text
    assert "Recorded as delivered" in after and "Awaiting the council" in after
    # It has left the attention list; the council's worklist has it.
    today = manager.get(f"/portal/providers/{care_day.world.provider_id}/today").text
    assert "Needs attention: 1" not in today
    worklist = officer.get(f"/portal/councils/{care_day.world.council_id}/worklist")
    assert worklist.status_code == 200
    assert "Dot Missed" in worklist.text and "The daughter saw her arrive" in worklist.text
    record = re.search(r'name="manual_visits" value="(\d+)"', worklist.text)
    assert record is not None
    # Ticked and approved together with nothing else; the visit is then delivered, by hand.
    no_reason = officer.post(
        f"/portal/councils/{care_day.world.council_id}/worklist",
        data={"manual_visits": [record.group(1)], "decision": "reject"},
    )
    assert "To reject, write the reason" in no_reason.text
    approved = officer.post(
        f"/portal/councils/{care_day.world.council_id}/worklist",
        data={"manual_visits": [record.group(1)], "decision": "approve"},
    )
    assert "1 item approved." in approved.text
    with engine.connect() as conn:
        verification = conn.execute(
            text("select verification from visit where planned_visit_ref = :r"),
            {"r": alert_ref(engine, url)},
        ).scalar_one()
    assert verification == "manual"


def alert_ref(engine: Engine, url: str) -> str:
    with engine.connect() as conn:
        ref: str = conn.execute(
            text("select visit_ref from visit_alert where id = :id"),
            {"id": int(url.rsplit("/", 1)[1])},
        ).scalar_one()
    return ref


def test_service_users_and_carers_are_found_by_name_in_any_case(
    manager: TestClient, care_day: PortalDay
) -> None:
    people = f"/providers/{care_day.world.provider_id}/people"
    by_code = manager.get(people, params={"q": care_day.home.lower()}).json()
    assert [p["id"] for p in by_code["service_users"]] == [care_day.home]
    by_name = manager.get(people, params={"q": "bea"}).json()
    assert [p["name"] for p in by_name["service_users"]] == ["Bea User"]
    assert manager.get(people, params={"q": "ANN"}).json()["carers"][0]["name"] == "Ann Carer"
    # The visit log's filters take a name, a code in any case, or the suggestion as shown.
    log = f"/portal/providers/{care_day.world.provider_id}/visits"
    day = care_day.day.isoformat()
    for typed in ("bea", care_day.home.lower(), f"Bea User ({care_day.home})"):
        page = manager.get(log, params={"from": day, "to": day, "service_user": typed}).text
        assert page.count('data-status="on_time"') == 1, typed
        assert page.count('class="visit-row') == 1, typed
    # Suggestions as you type: the browser's own list, no script.
    assert f'<option value="Bea User ({care_day.home})">' in page
    ambiguous = manager.get(log, params={"service_user": "e"}).text
    assert "Several service users match" in ambiguous
    nobody = manager.get(log, params={"service_user": "zebedee"}).text
    assert "No service user matches" in nobody


def test_the_council_settings_form_keeps_what_was_typed_when_it_is_wrong(
    officer: TestClient, care_day: PortalDay
) -> None:
    url = f"/portal/councils/{care_day.world.council_id}/settings"
    page = officer.get(url)
    assert page.status_code == 200 and 'name="escalate_after_minutes"' in page.text
    wrong = officer.post(
        url,
        data={
            "late_after_minutes": "15",
            "missed_cutoff": "25:99",
            "correction_approval_minutes": "30",
            "escalate_after_minutes": "45",
            "second_payment_approval": "yes",
        },
    )
    assert wrong.status_code == 422 and "Missed at" in wrong.text
    assert 'value="25:99"' in wrong.text and 'value="45"' in wrong.text
    saved = officer.post(
        url,
        data={
            "late_after_minutes": "15",
            "missed_cutoff": "00:00",
            "correction_approval_minutes": "30",
            "escalate_after_minutes": "45",
            "second_payment_approval": "yes",
        },
    )
    assert "Settings saved." in saved.text
    policy = officer.get(f"/councils/{care_day.world.council_id}/policy").json()
    assert policy["escalate_after_minutes"] == 45
    assert officer.get(f"/councils/{care_day.world.council_id}/reconciliation/settings").json() == {
        "second_payment_approval": True
    }


def test_an_unknown_portal_address_and_a_fault_are_portal_pages(settings: Settings) -> None:
    with signed_in(settings) as admin:
        missing = admin.get("/portal/no-such-page")
        wrong_method = admin.put("/portal/providers")
        api_missing = admin.get("/no-such-endpoint")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Page not found" in missing.text and "Go to your home page" in missing.text
    assert wrong_method.status_code == 405 and "text/html" in wrong_method.headers["content-type"]
    # The API keeps its JSON.
    assert api_missing.json()["error"]["code"] == "not_found"


def test_a_page_that_fails_shows_the_fault_page_in_plain_words_and_no_trace(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_registry(*_: object) -> None:
        raise RuntimeError("secret-internal-detail: relation provider is locked")

    # The page's read fails the way a bug or a broken store would: an exception nobody
    # handles on the way up.
    monkeypatch.setattr(registry, "list_providers", broken_registry)
    username = administrator(settings)
    # raise_server_exceptions=False: see what a browser gets, not the test's own re-raise.
    app = create_app(settings)
    with TestClient(app, client=client_address(), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {sign_in(client, username)}"
        failed = client.get("/portal/providers")
        api_failed = client.get("/providers")
    assert failed.status_code == 500
    assert failed.headers["content-type"].startswith("text/html")
    # The portal's own page, with its security headers, in plain words.
    assert failed.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert failed.headers["Cache-Control"] == "no-store"
    assert "<title>Something went wrong" in failed.text
    assert "The page could not be shown because of a fault." in failed.text
    assert "Nothing you entered was lost on our side." in failed.text
    assert "Go to your home page" in failed.text
    # No trace, no exception, no internals.
    for leak in ("Traceback", "RuntimeError", "secret-internal-detail", 'File "', "line "):
        assert leak not in failed.text, leak
    # The API answers the same fault with its JSON body, again without internals.
    assert api_failed.status_code == 500
    assert api_failed.json() == {
        "error": {"code": "internal_error", "message": "An unexpected error occurred."}
    }
    # The operator gets the trace in the log.
    logged = [
        r for r in caplog.records if r.getMessage() == "unexpected error on GET /portal/providers"
    ]
    assert logged and logged[0].exc_info is not None
    assert "secret-internal-detail" in str(logged[0].exc_info[1])


def test_the_lock_out_says_when_to_try_again(settings: Settings) -> None:
    assert wait_words(40) == "40 seconds" and wait_words(61) == "2 minutes"
    message = lock_out_message("240")
    assert "try again in 4 minutes (at " in message and "London time" in message
    username = add_user(settings)
    with TestClient(create_app(settings), client=client_address()) as client:
        # However the throttling counts (docs/auth.md), wrong passwords end in a 429.
        for _ in range(40):
            locked = client.post(
                "/portal/session", data={"username": username, "password": "wrong pass"}
            )
            if locked.status_code == 429:
                break
    assert locked.status_code == 429
    wait = int(locked.headers["Retry-After"])
    assert "You can try again in" in locked.text
    assert wait_words(wait) in locked.text
    # What was typed stays in the form.
    assert f'value="{username}"' in locked.text
