"""Rendering portal pages: one Jinja2 environment (autoescaped), the navigation each role sees,
and the security headers every page carries. No external assets: the CSS is served from here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.auth.roles import Role
from api.deps import Principal
from api.portal.paths import PORTAL_PREFIX

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

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


def page(
    request: Request,
    template: str,
    principal: Principal | None = None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    nav = NAVIGATION.get(principal.role, []) if principal else []
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
