"""The council's KPI dashboard: per provider (by name) and lot, week by week, visits started
within 15 minutes, planned minutes delivered, visits verified by the home's tag or code and
missed visits, as line charts against the contract's targets, with red, amber or green (in
words too) for the period and for each week. Every figure links to the visits behind it (the
provider's visit log for those days); the same numbers download as CSV (/kpis.csv).

The figures come from the API's own KPI function (visits.service.council_kpis, through
reconciliation.kpi_report), so the same access rules apply: a council officer sees its own
council only, an administrator any."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import ClockDep, ConnDep, FreshnessDep, PrincipalDep
from api.errors import Forbidden
from api.portal.charts import LineChart, line_chart, share_text
from api.portal.pages import page
from api.portal.paths import PORTAL_PREFIX
from gateway.registry.repository import list_councils
from reconciliation.kpi_report import MEASURES, CouncilReport, council_report
from reconciliation.kpi_targets import RAG_WORDS
from visits.days import london_date
from visits.kpis import week_start

router = APIRouter()
DEFAULT_WEEKS = 8
# Where a figure's visits are: the measure's visits in the visit log (missed ones filtered).
MEASURE_STATUS = {"missed": "missed"}


def visits_link(provider_id: str, first: date, last: date, measure: str | None = None) -> str:
    query: dict[str, Any] = {"from": first.isoformat(), "to": last.isoformat()}
    if measure in MEASURE_STATUS:
        query["status"] = MEASURE_STATUS[measure]
    return f"{PORTAL_PREFIX}/providers/{provider_id}/visits?{urlencode(query)}"


def row_label(name: str, lot: str | None) -> str:
    return f"{name} · {lot}" if lot else name


def trend_charts(report: CouncilReport) -> list[tuple[str, LineChart]]:
    labels = [monday.strftime("%-d %b") for monday in report.weeks]
    charts = []
    for measure in MEASURES:
        target = report.targets[measure]
        charts.append(
            (
                measure,
                line_chart(
                    target.label,
                    labels,
                    [
                        (row_label(p.name, p.lot), [f.value for f in p.week_figures[measure]])
                        for p in report.providers
                    ],
                    target=target.green,
                    target_text=f"{'at least' if target.higher_is_better else 'at most'} "
                    f"{share_text(target.green)}",
                ),
            )
        )
    return charts


def _day(value: str | None, name: str, errors: list[str]) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"{name} must be a date like 2026-02-10")
        return None


@router.get("/kpis", response_class=HTMLResponse)
def kpi_page(
    request: Request,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    clock: ClockDep,
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
    errors: list[str] = []
    today = london_date(clock())
    last_day = _day(last, "To", errors) or today
    first_day = _day(first, "From", errors) or (
        week_start(last_day) - timedelta(weeks=DEFAULT_WEEKS - 1)
    )
    if last_day < first_day:
        errors.append("To must be on or after From")
    elif (last_day - first_day).days >= 400:
        errors.append("choose at most 400 days")
    report = None
    if council_id is not None and not errors:
        report = council_report(conn, freshness, principal, council_id, first_day, last_day)
    return page(
        request,
        "kpis.html",
        principal,
        status_code=422 if errors else 200,
        council_id=council_id,
        councils=councils,
        first_day=first_day,
        last_day=last_day,
        typed={"from": first or first_day.isoformat(), "to": last or last_day.isoformat()},
        errors=errors,
        report=report,
        charts=trend_charts(report) if report else [],
        measures=list(MEASURES),
        rag_words=RAG_WORDS,
        share_text=share_text,
        visits_link=visits_link,
        week_end=lambda monday: min(monday + timedelta(days=6), last_day),
        week_first=lambda monday: max(monday, first_day),
        csv_url=(
            "/kpis.csv?"
            + urlencode(
                {
                    "council_id": council_id,
                    "from": first_day.isoformat(),
                    "to": last_day.isoformat(),
                }
            )
            if council_id
            else None
        ),
    )


def _csv_url(council_id: str | None, first_day: date, last_day: date) -> str | None:
    if council_id is None:
        return None
    period = {"from": first_day.isoformat(), "to": last_day.isoformat()}
    return "/kpis.csv?" + urlencode({"council_id": council_id, **period})
