"""The portal's people page (administrators force a password reset) and the signed-out page
where a person sets a new password with the code, over plain HTTP against the real database.
The same in a browser, photographed and read by axe: tests/api/test_portal_browser.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.auth.accounts import CODE_ALPHABET, disable_account, new_reset_code
from api.auth.roles import Role
from api.times import LONDON
from core.db import make_engine
from core.settings import Settings
from tests.api.api_support import (
    TEST_PASSWORD,
    add_user,
    administrator,
    client_address,
    client_for,
    sign_in,
)
from tests.api.tenants import make_tenant
from tests.support.ids import unique

CODE = re.compile(r'<p class="reset-code" id="reset-code">([A-Z0-9-]+)</p>')
NEW_PASSWORD = "a kettle on the boil"


@pytest.fixture
def browser(settings: Settings) -> Iterator[TestClient]:
    """A signed-out browser, with an address of its own (throttling is per address)."""
    with TestClient(create_app(settings), client=client_address()) as client:
        yield client


def portal_session(client: TestClient, username: str, password: str = TEST_PASSWORD) -> None:
    answer = client.post(
        "/portal/session",
        data={"username": username, "password": password},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


@pytest.fixture
def admin(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), client=client_address()) as client:
        portal_session(client, administrator(settings))
        yield client


def disable(settings: Settings, username: str) -> None:
    engine = make_engine(settings, "tests", pool_size=1)
    try:
        with engine.begin() as conn:
            disable_account(conn, username)
    finally:
        engine.dispose()


def force(admin: TestClient, username: str) -> tuple[str, str]:
    """Through the confirm step to the code: (the code, the page)."""
    confirm = admin.get(f"/portal/people/{username}/password-reset")
    assert confirm.status_code == 200, confirm.text
    assert f"Force a password reset for {username}?" in confirm.text
    assert f'action="/portal/people/{username}/password-reset"' in confirm.text
    shown = admin.post(f"/portal/people/{username}/password-reset")
    assert shown.status_code == 200, shown.text
    match = CODE.search(shown.text)
    assert match, shown.text
    return match.group(1), shown.text


def set_password(client: TestClient, **fields: str) -> tuple[int, str]:
    answer = client.post("/portal/set-password", data=fields)
    return answer.status_code, answer.text


def test_reset_codes_avoid_characters_people_confuse() -> None:
    for _ in range(200):
        code = new_reset_code()
        assert re.fullmatch(r"[A-Z0-9]{4}(-[A-Z0-9]{4}){4}", code)
        assert set(code.replace("-", "")) <= set(CODE_ALPHABET)
    assert not set("0O1IL") & set(CODE_ALPHABET)


def test_an_administrator_lists_people_and_forces_a_reset_that_is_audited(
    settings: Settings, engine: Engine, admin: TestClient, browser: TestClient
) -> None:
    tenant = make_tenant(engine)
    owner = add_user(settings, Role.PROVIDER_MANAGER, provider_id=tenant.provider_id)
    gone = add_user(settings, Role.COUNCIL_OFFICER, council_id=tenant.council_id)
    disable(settings, gone)
    listed = admin.get("/portal/people")
    assert listed.status_code == 200, listed.text
    row = listed.text[listed.text.index(f"<td>{owner}</td>") :].split("</tr>")[0]
    assert "Provider manager" in row and f"Provider {tenant.provider_id}" in row
    assert "Active" in row and f"/portal/people/{owner}/password-reset" in row
    row = listed.text[listed.text.index(f"<td>{gone}</td>") :].split("</tr>")[0]
    assert "Disabled" in row and "password-reset" not in row
    assert f"Council {tenant.council_id}" in row

    # The owner is signed in somewhere; the reset ends that session too.
    portal_session(browser, owner)
    assert browser.get(f"/portal/providers/{tenant.provider_id}/today").status_code == 200
    started = datetime.now(UTC)
    code, shown = force(admin, owner)
    expiry = re.search(r'<strong id="reset-expiry">([^<]+)</strong>', shown)
    assert expiry
    expected = (started + timedelta(seconds=settings.password_reset_ttl_s)).astimezone(LONDON)
    assert expiry.group(1) in {
        (expected + timedelta(minutes=m)).strftime("%-d %B %Y at %H:%M") for m in (0, 1)
    }
    signed_out = browser.get(
        f"/portal/providers/{tenant.provider_id}/today", follow_redirects=False
    )
    assert signed_out.status_code == 303 and "/portal/sign-in" in signed_out.headers["location"]
    # The list says a new password is awaited, and the code is nowhere to be read again.
    again = admin.get("/portal/people").text
    row = again[again.index(f"<td>{owner}</td>") :].split("</tr>")[0]
    assert "Waiting for a new password" in row and code not in again
    # Audited as the administrator's change, like the API's POST /users/{username}/...
    with engine.connect() as conn:
        entries = conn.execute(
            text(
                "select action, method, path from audit_log where actor = :a and path = :p "
                "order by id"
            ),
            {"a": administrator(settings), "p": f"/portal/people/{owner}/password-reset"},
        ).all()
    assert [tuple(e) for e in entries] == [
        ("read", "GET", f"/portal/people/{owner}/password-reset"),
        ("change", "POST", f"/portal/people/{owner}/password-reset"),
    ]

    # The owner sets a new password with the code, typed as people type it.
    typed = code.replace("-", " ").lower()
    status, page = set_password(
        browser,
        username=owner,
        reset_code=typed,
        new_password=NEW_PASSWORD,
        confirm_password=NEW_PASSWORD,
    )
    assert status == 200, page
    assert "Your password is set" in page and 'href="/portal/sign-in"' in page
    portal_session(browser, owner, NEW_PASSWORD)
    # The code worked once.
    status, page = set_password(
        browser,
        username=owner,
        reset_code=code,
        new_password=NEW_PASSWORD,
        confirm_password=NEW_PASSWORD,
    )
    assert status == 401 and "do not match, or the code has expired or has been used" in page


def test_a_disabled_account_is_refused_in_the_portal_and_the_api(
    settings: Settings, admin: TestClient
) -> None:
    gone = add_user(settings)
    disable(settings, gone)
    for answer in (
        admin.get(f"/portal/people/{gone}/password-reset"),
        admin.post(f"/portal/people/{gone}/password-reset"),
    ):
        assert answer.status_code == 409
        assert "account is disabled, so it cannot be given a reset code" in answer.text
        assert "<html" in answer.text  # a page, not JSON
    for api in client_for(settings):
        refused = api.post(f"/users/{gone}/password-reset")
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "account_disabled"
    nobody = unique("nobody-")
    assert admin.get(f"/portal/people/{nobody}/password-reset").status_code == 404
    assert admin.post(f"/portal/people/{nobody}/password-reset").status_code == 404


def test_only_administrators_see_people_or_force_resets(
    settings: Settings, engine: Engine, browser: TestClient
) -> None:
    mine, theirs = make_tenant(engine), make_tenant(engine)
    colleague = add_user(settings, Role.PROVIDER_MANAGER, provider_id=mine.provider_id)
    stranger = add_user(settings, Role.PROVIDER_MANAGER, provider_id=theirs.provider_id)
    officer = add_user(settings, Role.COUNCIL_OFFICER, council_id=mine.council_id)
    for who in (colleague, officer):
        with TestClient(create_app(settings), client=client_address()) as client:
            portal_session(client, who)
            listed = client.get("/portal/people")
            assert listed.status_code == 403 and "administrators only" in listed.text.lower()
            assert stranger not in listed.text and colleague not in listed.text.split("<main")[1]
            for target in (stranger, colleague):
                assert client.get(f"/portal/people/{target}/password-reset").status_code == 403
                assert client.post(f"/portal/people/{target}/password-reset").status_code == 403
            assert 'href="/portal/people"' not in client.get("/portal/providers").text
    # Nothing was reset: both still sign in with their passwords.
    sign_in(browser, stranger)
    sign_in(browser, colleague)
    # Signed out, the people page sends the browser to sign in.
    answer = browser.get("/portal/people", follow_redirects=False)
    assert answer.status_code == 303 and "/portal/sign-in" in answer.headers["location"]


def test_setting_a_password_explains_each_mistake(
    settings: Settings, admin: TestClient, browser: TestClient
) -> None:
    page = browser.get("/portal/sign-in").text
    assert 'href="/portal/set-password"' in page and "Have a reset code?" in page
    form = browser.get("/portal/set-password")
    assert form.status_code == 200 and "Set a new password" in form.text
    owner = add_user(settings)
    code, _ = force(admin, owner)
    base = {"username": owner, "reset_code": code}
    status, page = set_password(
        browser, **base, new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD + "!"
    )
    assert status == 422 and "The two passwords are not the same" in page
    assert f'value="{owner}"' in page  # what was typed stays
    status, page = set_password(browser, **base, new_password="short", confirm_password="short")
    assert status == 422 and "too short: it needs at least 12 characters" in page
    wrong = {**base, "reset_code": new_reset_code()}
    status, page = set_password(
        browser, **wrong, new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD
    )
    assert status == 401 and "do not match, or the code has expired" in page
    # None of those used the code up.
    status, page = set_password(
        browser, **base, new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD
    )
    assert status == 200 and "Your password is set" in page


def test_an_expired_code_is_refused(
    settings: Settings, engine: Engine, admin: TestClient, browser: TestClient
) -> None:
    owner = add_user(settings)
    code, _ = force(admin, owner)
    with engine.begin() as conn:
        conn.execute(
            text(
                "update app_user set reset_expires_at = now() - interval '1 minute' "
                "where username = :u"
            ),
            {"u": owner},
        )
    status, page = set_password(
        browser,
        username=owner,
        reset_code=code,
        new_password=NEW_PASSWORD,
        confirm_password=NEW_PASSWORD,
    )
    assert status == 401 and "the code has expired" in page


def test_setting_a_password_is_throttled_like_signing_in(
    settings: Settings, admin: TestClient, browser: TestClient
) -> None:
    owner = add_user(settings)
    code, _ = force(admin, owner)
    statuses = []
    for _ in range(40):
        status, page = set_password(
            browser,
            username=owner,
            reset_code=new_reset_code(),
            new_password=NEW_PASSWORD,
            confirm_password=NEW_PASSWORD,
        )
        statuses.append(status)
        if status == 429:
            break
    assert statuses[-1] == 429, statuses
    assert "Too many failed attempts. You can try again in" in page and "London time" in page
    # The throttle is the sign-in's: this address may not sign in as the owner either.
    refused = browser.post("/auth/token", data={"username": owner, "password": "x" * 12})
    assert refused.status_code == 429
    # From another address the owner still sets their password.
    with TestClient(create_app(settings), client=client_address()) as elsewhere:
        status, page = set_password(
            elsewhere,
            username=owner,
            reset_code=code,
            new_password=NEW_PASSWORD,
            confirm_password=NEW_PASSWORD,
        )
    assert status == 200, page
