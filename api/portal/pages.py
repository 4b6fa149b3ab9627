"""Rendering portal pages: one Jinja2 environment (autoescaped), the navigation each role sees,
and the security headers every page carries. No external assets: the CSS is served from here."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.auth.roles import Role
from api.deps import Principal
from api.portal.paths import PORTAL_PREFIX
from api.times import LONDON

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def london_time(moment: datetime | None, form: str = "%H:%M") -> str:
    """Times are shown as people in England read them: London wall-clock time."""
    return "" if moment is None else moment.astimezone(LONDON).strftime(form)


def london_iso(value: str | None, form: str = "%H:%M") -> str:
    """A time stored as ISO 8601 text (a correction's before and after), in London time."""
    if not value:
        return "-"
    try:
        return london_time(datetime.fromisoformat(value), form)
    except ValueError:
        return value


templates.env.filters["london"] = london_time
templates.env.filters["london_iso"] = london_iso

# What each role finds in the navigation bar. Pages added later register here.
NAVIGATION: dict[str, list[tuple[str, str]]] = {
    Role.ADMINISTRATOR.value: [
        ("Providers", f"{PORTAL_PREFIX}/providers"),
        ("Reconciliation", f"{PORTAL_PREFIX}/reconciliation"),
    ],
    Role.COUNCIL_OFFICER.value: [
        ("Providers", f"{PORTAL_PREFIX}/providers"),
        ("Reconciliation", f"{PORTAL_PREFIX}/reconciliation"),
    ],
    Role.PROVIDER_MANAGER.value: [("My provider", f"{PORTAL_PREFIX}/providers")],
}
ROLE_NAMES = {
    Role.ADMINISTRATOR.value: "Administrator",
    Role.COUNCIL_OFFICER.value: "Council officer",
    Role.PROVIDER_MANAGER.value: "Provider manager",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages show personal data: never keep them in a shared or back-button cache.
    "Cache-Control": "no-store",
}


def navigation(principal: Principal) -> list[tuple[str, str]]:
    nav = list(NAVIGATION.get(principal.role, []))
    if principal.provider_id is not None:
        base = f"{PORTAL_PREFIX}/providers/{principal.provider_id}"
        nav += [
            ("Today's visits", f"{base}/today"),
            ("Visit log", f"{base}/visits"),
            ("Carers' days", f"{base}/carer-days"),
            ("Offers", f"{base}/offers"),
        ]
    if principal.is_admin or principal.council_id is not None:
        nav.append(("KPIs", f"{PORTAL_PREFIX}/kpis"))
        nav.append(("Carers' pay", f"{PORTAL_PREFIX}/carer-days"))
        nav.append(("Service requests", f"{PORTAL_PREFIX}/requests"))
    return nav


def page(
    request: Request,
    template: str,
    principal: Principal | None = None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    nav = navigation(principal) if principal else []
    return templates.TemplateResponse(
        request,
        template,
        {
            "principal": principal,
            "role_name": ROLE_NAMES.get(principal.role, "") if principal else "",
            "nav": nav,
            "current_path": request.url.path,
            **context,
        },
        status_code=status_code,
        headers=SECURITY_HEADERS,
    )


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    """A refused or failed portal request as a page a person can read and leave."""
    return page(
        request,
        "error.html",
        status_code=status_code,
        message=message,
        status_code_shown=status_code,
    )
