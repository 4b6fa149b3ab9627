"""The portal skeleton: sign-in page, session cookie, role navigation, the providers page."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.auth.roles import Role
from core.settings import Settings
from tests.api.api_support import TEST_PASSWORD, add_user, client_address
from tests.api.tenants import make_tenant


def test_a_signed_out_browser_is_sent_to_the_sign_in_page(settings: Settings) -> None:
    with TestClient(create_app(settings), client=client_address()) as client:
        response = client.get("/portal/providers", follow_redirects=False)
        page = client.get("/portal/sign-in")
    assert response.status_code == 303
    assert response.headers["location"] == "/portal/sign-in"
    assert page.status_code == 200
    assert '<form method="post" action="/portal/session">' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    # Self-contained: no asset from another origin.
    assert "http://" not in page.text and "https://" not in page.text


def test_signing_in_sets_a_strict_http_only_cookie_and_shows_only_own_providers(
    settings: Settings, engine: Engine
) -> None:
    mine, theirs = make_tenant(engine), make_tenant(engine)
    username = add_user(settings, Role.PROVIDER_MANAGER, provider_id=mine.provider_id)
    with TestClient(create_app(settings), client=client_address()) as client:
        response = client.post(
            "/portal/session",
            data={"username": username, "password": TEST_PASSWORD},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/portal/home"
        home = client.get("/portal/home", follow_redirects=False)
        assert home.headers["location"] == f"/portal/providers/{mine.provider_id}/today"
        cookie = response.headers["set-cookie"]
        page = client.get("/portal/providers")
        css = client.get("/portal/static/portal.css")
        signed_out = client.post("/portal/sign-out", follow_redirects=False)
        client.cookies.clear()
        after = client.get("/portal/providers", follow_redirects=False)
    assert cookie.startswith("ecm_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert page.status_code == 200
    assert mine.provider_id in page.text
    assert theirs.provider_id not in page.text
    assert "Provider manager" in page.text and ">Alerts</a>" in page.text
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert signed_out.status_code == 303
    assert 'ecm_session=""' in signed_out.headers["set-cookie"]
    assert after.status_code == 303


def test_a_council_officer_sees_the_providers_its_council_commissions(
    settings: Settings, engine: Engine
) -> None:
    mine, theirs = make_tenant(engine), make_tenant(engine)
    username = add_user(settings, Role.COUNCIL_OFFICER, council_id=mine.council_id)
    with TestClient(create_app(settings), client=client_address()) as client:
        client.post("/portal/session", data={"username": username, "password": TEST_PASSWORD})
        page = client.get("/portal/providers")
    assert mine.provider_id in page.text
    assert theirs.provider_id not in page.text
    assert "Council officer" in page.text


def test_a_wrong_password_shows_the_form_again_with_a_message(settings: Settings) -> None:
    username = add_user(settings)
    with TestClient(create_app(settings), client=client_address()) as client:
        response = client.post(
            "/portal/session", data={"username": username, "password": "not the password"}
        )
    assert response.status_code == 401
    assert "Wrong user name or password" in response.text
    assert "set-cookie" not in response.headers
    # The name typed is kept, escaped.
    assert f'value="{username}"' in response.text


def test_page_text_is_escaped(settings: Settings, engine: Engine) -> None:
    with TestClient(create_app(settings), client=client_address()) as client:
        response = client.post(
            "/portal/session", data={"username": "<script>x</script>", "password": "nope nope"}
        )
    assert "<script>x</script>" not in response.text
    assert "&lt;script&gt;" in response.text
