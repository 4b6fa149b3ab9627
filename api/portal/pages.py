"""Rendering portal pages: one Jinja2 environment (autoescaped), the filters every page uses to
speak plainly (London time, pounds, durations, reasons in words), the navigation each role
sees, and the security headers every page carries. No external assets and no script: the CSS is
served from here."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.auth.roles import Role
from api.deps import Principal
from api.portal import wording
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


def money(amount: Decimal | float | int | str | None) -> str:
    """Pounds as a finance officer writes them: £1,234.50 (-£12.60 for a negative sum)."""
    if amount is None or amount == "":
        return "-"
    value = Decimal(str(amount))
    sign = "-" if value < 0 else ""
    return f"{sign}£{abs(value):,.2f}"


def share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"


for name, function in {
    "london": london_time,
    "london_iso": london_iso,
    "money": money,
    "share": share,
    "duration": wording.duration,
    "minutes": wording.minutes,
    "plain": wording.plain,
    "status_words": wording.status_words,
    "verification_words": wording.verification_words,
    "evidence_words": wording.evidence_words,
    "correction_reason": wording.correction_reason,
    "alert_reason": wording.alert_reason,
    "anomaly_words": wording.anomaly_words,
    "outcome_words": wording.outcome_words,
    "reason_words": wording.reason_words,
    "day": wording.day,
}.items():
    templates.env.filters[name] = function

# What each role finds in the navigation bar, in order. A page added later registers here (or
# in navigation() when its link depends on the person's own provider or council).
NAVIGATION: dict[str, list[tuple[str, str]]] = {
    Role.ADMINISTRATOR.value: [
        ("Providers", f"{PORTAL_PREFIX}/providers"),
        ("KPIs", f"{PORTAL_PREFIX}/kpis"),
        ("Carers' pay", f"{PORTAL_PREFIX}/carer-days"),
        ("Service requests", f"{PORTAL_PREFIX}/requests"),
        ("Reconciliation", f"{PORTAL_PREFIX}/reconciliation"),
        ("People", f"{PORTAL_PREFIX}/people"),
    ],
    Role.COUNCIL_OFFICER.value: [
        ("Providers", f"{PORTAL_PREFIX}/providers"),
        ("KPIs", f"{PORTAL_PREFIX}/kpis"),
        ("Carers' pay", f"{PORTAL_PREFIX}/carer-days"),
        ("Service requests", f"{PORTAL_PREFIX}/requests"),
        ("Reconciliation", f"{PORTAL_PREFIX}/reconciliation"),
    ],
    Role.PROVIDER_MANAGER.value: [],
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
    nav: list[tuple[str, str]] = []
    if principal.provider_id is not None:
        base = f"{PORTAL_PREFIX}/providers/{principal.provider_id}"
        nav += [
            ("Today", f"{base}/today"),
            ("Alerts", f"{base}/alerts"),
            ("Visit log", f"{base}/visits"),
            ("Carers' days", f"{base}/carer-days"),
            ("Offers", f"{base}/offers"),
        ]
    if principal.council_id is not None:
        base = f"{PORTAL_PREFIX}/councils/{principal.council_id}"
        nav += [("Worklist", f"{base}/worklist")]
    nav += NAVIGATION.get(principal.role, [])
    if principal.council_id is not None:
        nav += [("Settings", f"{PORTAL_PREFIX}/councils/{principal.council_id}/settings")]
    return nav


def _current(nav: list[tuple[str, str]], path: str) -> str | None:
    """The navigation entry the page belongs to: the longest link the path starts with."""
    found = [link for _, link in nav if path == link or path.startswith(link + "/")]
    return max(found, key=len) if found else None


def page(
    request: Request,
    template: str,
    principal: Principal | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
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
            "current_path": _current(nav, request.url.path),
            **context,
        },
        status_code=status_code,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


ERROR_TITLES = {
    400: "That did not work",
    403: "Not allowed",
    404: "Page not found",
    409: "That has changed",
    413: "Too large",
    422: "Please check what you entered",
    429: "Please wait",
    500: "Something went wrong",
    503: "Please try again shortly",
}


def error_page(
    request: Request, status_code: int, message: str, principal: Principal | None = None
) -> HTMLResponse:
    """A refused or failed portal request as a page a person can read and leave."""
    return page(
        request,
        "error.html",
        principal,
        status_code=status_code,
        message=wording.plain(message),
        title=ERROR_TITLES.get(status_code, "That did not work"),
        status_code_shown=status_code,
        now_text=london_time(datetime.now(UTC), "%-d %B %Y %H:%M"),
    )
