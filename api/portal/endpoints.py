"""The portal skeleton: sign-in page, session cookie, sign-out, and the providers page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine

from api.auth.service import sign_in
from api.deps import ConnDep, PrincipalDep, SettingsDep, client_address, get_engine
from api.errors import TooManyRequests, Unauthorized
from api.portal import carer_day_pages, kpi_pages, offer_pages, request_pages, visit_pages
from api.portal.pages import HERE, page
from api.portal.paths import PORTAL_PREFIX, SESSION_COOKIE, SIGN_IN_PATH
from gateway.registry import queries as registry

HOME_PATH = f"{PORTAL_PREFIX}/providers"

# Pages are for browsers, not API clients: kept out of the OpenAPI document.
router = APIRouter(prefix=PORTAL_PREFIX, include_in_schema=False)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request) -> HTMLResponse:
    return page(request, "sign_in.html")


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
        response = page(
            request,
            "sign_in.html",
            status_code=exc.status_code,
            error=exc.message,
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


@router.get("/providers", response_class=HTMLResponse)
def providers_page(request: Request, conn: ConnDep, principal: PrincipalDep) -> HTMLResponse:
    providers = registry.list_providers(conn, principal)
    return page(request, "providers.html", principal, providers=providers)


@router.get("/static/portal.css")
def stylesheet() -> FileResponse:
    return FileResponse(HERE / "static" / "portal.css", media_type="text/css")


router.include_router(visit_pages.router)
router.include_router(kpi_pages.router)
router.include_router(carer_day_pages.router)
router.include_router(offer_pages.router)
router.include_router(request_pages.router)
