"""The council's KPI dashboard: per provider and lot, punctuality within 15 and 30 minutes,
minutes delivered against planned, missed visits and the verified share, as inline SVG bar
charts with the same numbers in a table. Read only; each provider links to its visit log.

The figures come from the API's own KPI function (visits.service.council_kpis), so the same
access rules apply: a council officer sees its own council only, an administrator any."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import ConnDep, FreshnessDep, PrincipalDep
from api.errors import Forbidden, Unprocessable
from api.portal.charts import BarChart, Series, bar_chart, share_text
from api.portal.pages import page
from api.times import LONDON
from gateway.registry.repository import list_councils
from visits.days import london_date
from visits.service import council_kpis
from visits.views import ProviderKpis

router = APIRouter()
DEFAULT_DAYS = 7
PUNCTUAL_15 = Series("Within 15 min", "chart-a")
PUNCTUAL_30 = Series("Within 30 min", "chart-b")
PLANNED = Series("Planned minutes", "chart-b")
DELIVERED = Series("Minutes delivered", "chart-a")
MISSED = Series("Missed visits", "chart-warn")
VERIFIED = Series("Tag or code verified", "chart-a")


def row_label(entry: ProviderKpis) -> str:
    return f"{entry.provider_id} · {entry.lot}" if entry.lot else entry.provider_id


def kpi_charts(entries: list[ProviderKpis]) -> list[BarChart]:
    punctuality = [
        (
            row_label(e),
            [
                (e.on_time_15_share, share_text(e.on_time_15_share)),
                (e.on_time_30_share, share_text(e.on_time_30_share)),
            ],
        )
        for e in entries
    ]
    minutes = [
        (
            row_label(e),
            [
                (float(e.planned_minutes), f"{e.planned_minutes:,} min"),
                (float(e.delivered_planned_minutes), f"{e.delivered_planned_minutes:,} min"),
            ],
        )
        for e in entries
    ]
    missed = [(row_label(e), [(float(e.missed), str(e.missed))]) for e in entries]
    verified = [
        (
            row_label(e),
            [(e.tag_or_code_verified_share, share_text(e.tag_or_code_verified_share))],
        )
        for e in entries
    ]
    return [
        bar_chart(
            "Punctuality: visits started on time",
            [PUNCTUAL_15, PUNCTUAL_30],
            punctuality,
            maximum=1.0,
        ),
        bar_chart("Planned minutes and minutes delivered of them", [PLANNED, DELIVERED], minutes),
        bar_chart("Missed visits", [MISSED], missed),
        bar_chart("Verification: visits proven by tag or code", [VERIFIED], verified, maximum=1.0),
    ]


def _day(value: str | None, default: date, name: str) -> date:
    value = (value or "").strip()
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise Unprocessable(f"{name}: {value!r} is not YYYY-MM-DD") from exc


@router.get("/kpis", response_class=HTMLResponse)
def kpi_page(
    request: Request,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    council_id: Annotated[str | None, Query(max_length=200)] = None,
    first: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> HTMLResponse:
    if principal.council_id is not None:
        council_id = principal.council_id
        councils = []
    elif principal.is_admin:
        councils = list_councils(conn)
        council_id = (council_id or "").strip() or (councils[0].id if councils else None)
    else:
        raise Forbidden("KPIs are for councils and administrators")
    today = london_date(datetime.now(LONDON))
    last_day = _day(last, today, "to")
    first_day = _day(first, last_day - timedelta(days=DEFAULT_DAYS - 1), "from")
    entries: list[ProviderKpis] = []
    if council_id is not None:
        entries = council_kpis(conn, freshness, principal, council_id, first_day, last_day)
    return page(
        request,
        "kpis.html",
        principal,
        council_id=council_id,
        councils=councils,
        first_day=first_day,
        last_day=last_day,
        entries=entries,
        charts=kpi_charts(entries),
        share_text=share_text,
    )
