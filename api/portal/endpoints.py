"""The portal skeleton: sign-in page, session cookie, sign-out, each role's home, and the
providers page."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine

from api.auth.service import sign_in
from api.deps import ConnDep, PrincipalDep, SettingsDep, client_address, get_engine
from api.errors import TooManyRequests, Unauthorized
from api.portal import (
    alert_pages,
    carer_day_pages,
    kpi_pages,
    offer_pages,
    people_pages,
    request_pages,
    settings_pages,
    visit_pages,
    worklist_pages,
)
from api.portal.pages import HERE, london_time, page
from api.portal.paths import PORTAL_PREFIX, SESSION_COOKIE, SIGN_IN_PATH
from gateway.registry import queries as registry

HOME_PATH = f"{PORTAL_PREFIX}/home"

# Pages are for browsers, not API clients: kept out of the OpenAPI document.
router = APIRouter(prefix=PORTAL_PREFIX, include_in_schema=False)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request) -> HTMLResponse:
    return page(request, "sign_in.html")


def wait_words(seconds: int) -> str:
    """How long to wait, rounded up the way a person says it."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{math.ceil(minutes / 60)} hours"


def lock_out_message(retry_after: str | None) -> str:
    """The sign-in refusal with the wait the server gave (Retry-After, seconds)."""
    try:
        seconds = max(1, int(retry_after or ""))
    except ValueError:
        return "Too many failed sign-ins. Please wait a few minutes and try again."
    at = london_time(datetime.now(UTC) + timedelta(seconds=seconds))
    return (
        f"Too many failed sign-ins. You can try again in {wait_words(seconds)} "
        f"(at {at}, London time)."
    )


@router.post("/session", response_model=None)
def start_session(
    request: Request,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    settings: SettingsDep,
    engine: Annotated[Engine, Depends(get_engine)],
) -> Response:
    try:
        token = sign_in(engine, settings, username, password, client_address(request))
    except (Unauthorized, TooManyRequests) as exc:
        if isinstance(exc, TooManyRequests):
            error = lock_out_message((exc.headers or {}).get("Retry-After"))
        else:
            error = "Wrong user name or password. Check both and try again."
        response = page(
            request,
            "sign_in.html",
            status_code=exc.status_code,
            error=error,
            username=username,
        )
        if exc.headers:
            response.headers.update(exc.headers)
        return response
    redirect = RedirectResponse(HOME_PATH, status_code=303)
    # HttpOnly: no script can read the token. SameSite=Strict: no other site's page can make
    # the browser send it, which is what stands between the portal's forms and CSRF.
    redirect.set_cookie(
        SESSION_COOKIE,
        token.access_token,
        max_age=token.expires_in,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.env == "prod",
    )
    return redirect


@router.post("/sign-out")
def end_session() -> RedirectResponse:
    redirect = RedirectResponse(SIGN_IN_PATH, status_code=303)
    redirect.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return redirect


@router.get("/")
def portal_home() -> RedirectResponse:
    return RedirectResponse(HOME_PATH, status_code=303)


@router.get("/home")
def role_home(principal: PrincipalDep) -> RedirectResponse:
    """Where each role starts: a provider at today's visits, a council at its worklist."""
    if principal.provider_id is not None:
        target = f"{PORTAL_PREFIX}/providers/{principal.provider_id}/today"
    elif principal.council_id is not None:
        target = f"{PORTAL_PREFIX}/councils/{principal.council_id}/worklist"
    else:
        target = f"{PORTAL_PREFIX}/providers"
    return RedirectResponse(target, status_code=303)


@router.get("/providers", response_class=HTMLResponse)
def providers_page(request: Request, conn: ConnDep, principal: PrincipalDep) -> HTMLResponse:
    providers = registry.list_providers(conn, principal)
    return page(request, "providers.html", principal, providers=providers)


@router.get("/static/portal.css")
def stylesheet() -> FileResponse:
    return FileResponse(HERE / "static" / "portal.css", media_type="text/css")


for pages in (
    visit_pages,
    alert_pages,
    worklist_pages,
    settings_pages,
    kpi_pages,
    carer_day_pages,
    offer_pages,
    request_pages,
    people_pages,
):
    router.include_router(pages.router)
