"""Exchange with the case system: requests.csv in; decisions.csv and packages.csv out
(docs/service-requests.md).

An import is idempotent: a request whose `request_ref` the council already has, with the same
content, is `unchanged`; with different content it is refused with a reason (a placed request
changes through its package, an open one is withdrawn and sent again under a new reference).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import Connection

from commissioning import package_repository, service
from commissioning import repository as store
from commissioning.access import acting_council, council_filter
from commissioning.formats import (
    DECISION_COLUMNS,
    PACKAGE_COLUMNS,
    ParsedRequest,
    RequestsFileError,
    RowError,
    parse_requests,
    write_csv,
)
from commissioning.model import LONDON, ServiceRequest, pattern_from_json, pattern_key
from core.access import Scope
from core.errors import NotFound, Unprocessable
from gateway.registry import lot_repository
from gateway.registry import repository as registry_repository

MAX_EXPORT_DAYS = 400


@dataclass
class ImportReport:
    import_id: int | None = None
    rows_read: int = 0
    created: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.errors)


def _same(existing: ServiceRequest, parsed: ParsedRequest) -> bool:
    return (
        existing.service_user_id == parsed.service_user_id
        and existing.lot_id == parsed.lot_id
        and existing.start_date == parsed.start_date
        and existing.end_date == parsed.end_date
        and existing.notes == parsed.notes
        and pattern_key(existing.visits) == pattern_key(parsed.pattern)
    )


def _refusal(
    parsed: ParsedRequest,
    existing: ServiceRequest | None,
    users: dict[str, str | None],
    lots: set[str],
    council_id: str,
) -> str | None:
    if existing is not None:
        if _same(existing, parsed):
            return None
        if existing.status.value == "placed":
            return (
                f"request {parsed.request_ref} is placed and differs from this file; change its "
                "package instead (POST /packages/{id}/changes)"
            )
        return (
            f"request {parsed.request_ref} exists with different content; withdraw it and send "
            "the new one under a new request_ref"
        )
    if users.get(parsed.service_user_id, "") != council_id:
        return f"council {council_id} has no service user {parsed.service_user_id}"
    if parsed.lot_id not in lots:
        return f"council {council_id} has no lot {parsed.lot_id}"
    return None


def import_requests(
    conn: Connection,
    caller: Scope,
    content: str,
    *,
    source: str,
    council_id: str | None,
    now: datetime,
) -> ImportReport:
    """Import requests.csv for the caller's council in the caller's transaction; each new
    request is offered down its lot's cascade at once."""
    council = acting_council(caller, council_id)
    if not registry_repository.council_exists(conn, council):
        raise NotFound(f"council {council} not found")
    try:
        parsed, errors = parse_requests(content)
    except RequestsFileError as exc:
        raise Unprocessable(str(exc), code="requests_invalid") from None
    report = ImportReport(rows_read=sum(len(p.lines) for p in parsed) + len(errors))
    store.lock_council_imports(conn, council)
    existing = store.requests_by_ref(conn, council, [p.request_ref for p in parsed])
    users = store.service_user_councils(conn, {p.service_user_id for p in parsed})
    lots = set(lot_repository.lot_ids(conn, council))
    report.import_id = store.start_import(
        conn, council, caller.subject, source, hashlib.sha256(content.encode()).hexdigest(), now
    )
    for request in parsed:
        found = existing.get(request.request_ref)
        reason = _refusal(request, found, users, lots, council)
        if reason is not None:
            errors.append(RowError(request.first_line, request.request_ref, reason))
            errors += [
                RowError(
                    line,
                    request.request_ref,
                    f"request {request.request_ref} not imported: see line {request.first_line}",
                )
                for line in request.lines[1:]
            ]
        elif found is not None:
            report.unchanged += 1
        else:
            service.make_request(
                conn,
                service.RequestDetails(
                    council_id=council,
                    request_ref=request.request_ref,
                    service_user_id=request.service_user_id,
                    lot_id=request.lot_id,
                    start_date=request.start_date,
                    end_date=request.end_date,
                    visits=request.pattern,
                    notes=request.notes,
                ),
                source=f"import {report.import_id}",
                actor=caller.subject,
                now=now,
                import_id=report.import_id,
            )
            report.created += 1
    report.errors = sorted(errors, key=lambda e: e.line)
    store.finish_import(
        conn,
        report.import_id,
        rows_read=report.rows_read,
        created=report.created,
        unchanged=report.unchanged,
        rejected=report.rejected,
    )
    return report


def london_window(first: date, last: date) -> tuple[datetime, datetime]:
    if last < first or (last - first).days >= MAX_EXPORT_DAYS:
        raise Unprocessable(
            f"`to` must be on or after `from`, at most {MAX_EXPORT_DAYS} days",
            code="period_invalid",
        )
    return (
        datetime.combine(first, time(), LONDON),
        datetime.combine(last + timedelta(days=1), time(), LONDON),
    )


def _instant(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(LONDON).isoformat()


def decisions_csv(
    conn: Connection, caller: Scope, *, council_id: str | None, first: date, last: date
) -> str:
    """One row per offer made on London days [first, last] (docs/service-requests.md)."""
    start, end = london_window(first, last)
    council = council_filter(caller) or council_id
    rows = store.decision_rows(conn, council_id=council, provider_id=None, start=start, end=end)
    return write_csv(
        DECISION_COLUMNS,
        (
            (
                r["request_ref"],
                r["lot_id"],
                r["service_user_id"],
                r["offer_id"],
                r["provider_id"],
                r["role"],
                r["round"],
                r["stage"],
                _instant(r["offered_at"]),
                _instant(r["deadline"]),
                r["status"],
                _instant(r["decided_at"]),
                r["decided_by"],
                r["decline_reason"],
                r["decline_note"] or "",
            )
            for r in rows
        ),
    )


def packages_csv(
    conn: Connection, caller: Scope, *, council_id: str | None, first: date, last: date
) -> str:
    """One row per weekly visit of each package version made on London days [first, last]."""
    start, end = london_window(first, last)
    council = council_filter(caller) or council_id
    rows = package_repository.package_rows(
        conn, council_id=council, provider_id=None, start=start, end=end
    )
    lines = []
    for r in rows:
        for slot in pattern_from_json(r["visits"]):
            lines.append(
                (
                    r["package_id"],
                    r["version"],
                    r["reason"],
                    r["effective_from"].isoformat(),
                    _instant(r["made_at"]),
                    "true" if r["current"] else "false",
                    r["request_ref"],
                    r["provider_id"],
                    r["role"],
                    r["service_user_id"],
                    r["lot_id"],
                    r["start_date"].isoformat(),
                    r["end_date"].isoformat() if r["end_date"] else "",
                    slot.days_text(),
                    slot.start.strftime("%H:%M"),
                    slot.minutes,
                    slot.carers,
                    slot.service_type,
                )
            )
    return write_csv(PACKAGE_COLUMNS, lines)
