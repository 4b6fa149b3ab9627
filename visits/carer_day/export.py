"""The carer's day as CSV: a provider's carers' days, and a council's aggregates per provider.

Times are ISO 8601 with their London offset; money in pounds with two decimals. Written through
the CSV helper (core.csv_safe, docs/csv.md): a text cell that a spreadsheet would read as a
formula gets a leading apostrophe, so a carer's name cannot run as a formula, while numbers
(a negative amount included) stay numbers.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from core import csv_safe
from visits.carer_day.days import CarerDayReport, ProviderAggregate
from visits.days import LONDON

CARER_DAY_HEADER = (
    "day",
    "carer_id",
    "carer_name",
    "visits",
    "open_visits",
    "first_check_in",
    "last_check_out",
    "contact_minutes",
    "travel_minutes",
    "unpaid_gap_minutes",
    "distance_km",
    "hourly_rate_gbp",
    "travel_paid",
    "pay_gbp",
    "floor_gbp_per_hour",
    "floor_gbp",
    "below_floor",
    "shortfall_gbp",
    "effective_gbp_per_hour",
)
COUNCIL_HEADER = (
    "provider_id",
    "provider_name",
    "carer_days",
    "withheld",
    "days_checked",
    "days_below_floor",
    "below_floor_share",
    "contact_minutes",
    "travel_minutes",
    "travel_minutes_per_contact_hour",
    "unpaid_gap_minutes",
)


def carer_days_csv(reports: Sequence[CarerDayReport]) -> str:
    rows = []
    for r in reports:
        day, pay = r.day, r.pay
        rows.append(
            (
                day.day.isoformat(),
                day.carer_id,
                r.carer_name,
                day.visits,
                day.open_stays,
                _time(day.first_check_in),
                _time(day.last_check_out),
                minutes(day.contact),
                minutes(day.travel),
                minutes(day.unpaid),
                f"{day.distance_km:.1f}",
                _gbp(r.rate.pence_per_hour) if r.rate else "",
                ("yes" if r.rate.travel_paid else "no") if r.rate else "",
                _gbp(pay.pay_pence) if pay else "",
                _gbp(pay.floor_pence_per_hour) if pay else "",
                _gbp(pay.floor_pence) if pay else "",
                ("yes" if pay.below_floor else "no") if pay else "",
                _gbp(pay.shortfall_pence) if pay else "",
                _gbp(pay.effective_pence_per_hour)
                if pay and pay.effective_pence_per_hour is not None
                else "",
            )
        )
    return _write(CARER_DAY_HEADER, rows)


def council_csv(aggregates: Sequence[ProviderAggregate]) -> str:
    rows = [
        (
            a.provider_id,
            a.provider_name,
            a.carer_days,
            "yes" if a.withheld else "no",
            _blank(a.days_checked),
            _blank(a.days_below_floor),
            "" if a.below_floor_share is None else f"{a.below_floor_share:.3f}",
            _blank(a.contact_minutes),
            _blank(a.travel_minutes),
            ""
            if a.travel_minutes_per_contact_hour is None
            else f"{a.travel_minutes_per_contact_hour:.1f}",
            _blank(a.unpaid_gap_minutes),
        )
        for a in aggregates
    ]
    return _write(COUNCIL_HEADER, rows)


def minutes(span: timedelta) -> int:
    """Whole minutes, rounded down, as visits count them."""
    return int(span.total_seconds() // 60)


def _time(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(LONDON).isoformat()


def _gbp(pence: int) -> str:
    return f"{pence / 100:.2f}"


def _blank(value: int | None) -> str:
    return "" if value is None else str(value)


def _write(header: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> str:
    out = io.StringIO()
    writer = csv_safe.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
