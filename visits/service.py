"""Visit services: the provider must exist; reads fold in new evidence first
(visits.freshness); corrections, approvals, schedule imports and council policy, their failures
as domain errors. The API and the portal call these; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from typing import TypeVar
from uuid import UUID

from sqlalchemy import Connection

from core.access import Scope
from core.errors import Conflict, NotFound, Unprocessable
from core.pages import split_page
from core.settings import Settings
from core.times import london_day
from gateway.registry.queries import require_council, require_provider
from visits import corrections, kpis, policy, webhooks
from visits import read_store as repository
from visits.access import council_scope, ensure_council_reader
from visits.freshness import VisitFreshness
from visits.schedule import ScheduleFileError, import_schedule
from visits.views import (
    Alert,
    Correction,
    CorrectionRequest,
    CouncilPolicy,
    DuePlan,
    ProviderKpis,
    ScheduleImport,
    ScheduleRowError,
    Visit,
    VisitPage,
    VisitSummary,
    Webhook,
    WebhookDelivery,
)

T = TypeVar("T")


def list_visits(
    conn: Connection,
    freshness: VisitFreshness,
    provider_id: str,
    *,
    day: date | None,
    service_user_id: str | None,
    carer_id: str | None,
    status: str | None,
    limit: int,
    offset: int,
    now: datetime | None = None,
) -> VisitPage:
    items, next_offset = _visit_page(
        repository.list_visits,
        conn,
        freshness,
        provider_id,
        (day, service_user_id, carer_id, status),
        limit,
        offset,
        now,
    )
    return VisitPage(items=items, next_offset=next_offset)


def list_visits_json(
    conn: Connection,
    freshness: VisitFreshness,
    provider_id: str,
    *,
    day: date | None,
    service_user_id: str | None,
    carer_id: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> bytes:
    """The page list_visits returns, as the JSON of VisitPage, without building the models."""
    items, next_offset = _visit_page(
        repository.list_visits_json,
        conn,
        freshness,
        provider_id,
        (day, service_user_id, carer_id, status),
        limit,
        offset,
        None,
    )
    following = "null" if next_offset is None else str(next_offset)
    return f'{{"items":[{",".join(items)}],"next_offset":{following}}}'.encode()


_Filters = tuple[date | None, str | None, str | None, str | None]


def _visit_page(
    fetch: Callable[..., Sequence[T]],
    conn: Connection,
    freshness: VisitFreshness,
    provider_id: str,
    filters: _Filters,
    limit: int,
    offset: int,
    now: datetime | None,
) -> tuple[list[T], int | None]:
    """A page of the provider's visits (day, service user, carer, status), fresh from the
    evidence, as `fetch` gives them: models or JSON texts."""
    require_provider(conn, provider_id)
    freshness.fresh(now)
    day, service_user_id, carer_id, status = filters
    rows = fetch(
        conn,
        provider_id,
        day=day,
        service_user_id=service_user_id,
        carer_id=carer_id,
        status=status,
        limit=limit + 1,
        offset=offset,
    )
    return split_page(rows, limit, offset)


def summarise_visits(
    conn: Connection,
    freshness: VisitFreshness,
    provider_id: str,
    *,
    day: date | None,
    service_user_id: str | None,
    carer_id: str | None,
    now: datetime | None = None,
) -> VisitSummary:
    require_provider(conn, provider_id)
    freshness.fresh(now)
    return repository.summarise_visits(
        conn, provider_id, day=day, service_user_id=service_user_id, carer_id=carer_id
    )


def get_visit(
    conn: Connection, freshness: VisitFreshness, provider_id: str, visit_id: UUID
) -> Visit:
    require_provider(conn, provider_id)
    freshness.fresh()
    visit = repository.get_visit(conn, provider_id, visit_id)
    if visit is None:
        raise NotFound(f"visit {visit_id} not found")
    return visit


def _correction(record: corrections.CorrectionRecord) -> Correction:
    return Correction.model_validate({**record.__dict__, "counts": record.counts})


def _domain_error(exc: corrections.CorrectionError) -> Exception:
    if exc.kind == "not_found":
        return NotFound(str(exc))
    if exc.kind == "conflict":
        return Conflict(str(exc))
    return Unprocessable(str(exc), code="correction_invalid")


def request_correction(
    conn: Connection,
    freshness: VisitFreshness,
    scope: Scope,
    provider_id: str,
    visit_id: UUID,
    request: CorrectionRequest,
) -> Correction:
    require_provider(conn, provider_id)
    freshness.fresh()
    try:
        record = corrections.request_correction(
            conn,
            freshness.settings,
            provider_id=provider_id,
            visit_id=visit_id,
            carer_id=request.carer_id,
            check_in=request.check_in,
            check_out=request.check_out,
            reason_code=request.reason_code,
            note=request.note,
            requested_by=scope.subject,
        )
    except corrections.CorrectionError as exc:
        raise _domain_error(exc) from exc
    # Rebuild now so the visit the caller reads next already shows the correction.
    freshness.rebuild_in(conn)
    return _correction(record)


def approve_correction(
    conn: Connection,
    freshness: VisitFreshness,
    scope: Scope,
    provider_id: str,
    visit_id: UUID,
    correction_id: int,
) -> Correction:
    council_id = council_scope(scope)
    owned = [c.id for c in corrections.corrections_for_visit(conn, visit_id)]
    if correction_id not in owned or repository.get_visit(conn, provider_id, visit_id) is None:
        raise NotFound(f"correction {correction_id} not found")
    try:
        record = corrections.approve_correction(
            conn, correction_id, approved_by=scope.subject, council_id=council_id
        )
    except corrections.CorrectionError as exc:
        raise _domain_error(exc) from exc
    freshness.rebuild_in(conn)
    return _correction(record)


def list_corrections(conn: Connection, provider_id: str, visit_id: UUID) -> list[Correction]:
    require_provider(conn, provider_id)
    if repository.get_visit(conn, provider_id, visit_id) is None:
        raise NotFound(f"visit {visit_id} not found")
    return [_correction(r) for r in corrections.corrections_for_visit(conn, visit_id)]


def import_schedule_file(
    conn: Connection, scope: Scope, content: str, source: str
) -> ScheduleImport:
    council_id = council_scope(scope)
    try:
        report = import_schedule(
            conn, content, source=source, imported_by=scope.subject, council_id=council_id
        )
    except ScheduleFileError as exc:
        raise Unprocessable(str(exc), code="schedule_invalid") from exc
    return ScheduleImport(
        import_id=report.import_id,
        rows_read=report.rows_read,
        created=report.created,
        changed=report.changed,
        cancelled=report.cancelled,
        unchanged=report.unchanged,
        rejected=report.rejected,
        errors=[ScheduleRowError(**e.__dict__) for e in report.errors],
    )


def set_council_policy(
    conn: Connection, scope: Scope, council_id: str, body: CouncilPolicy
) -> CouncilPolicy:
    own = council_scope(scope)
    if own is not None and own != council_id:
        raise NotFound(f"council {council_id} not found")
    require_council(conn, council_id)
    policy.set_policy(
        conn,
        council_id,
        late_after_minutes=body.late_after_minutes,
        missed_cutoff=time.fromisoformat(body.missed_cutoff),
        correction_approval_minutes=body.correction_approval_minutes,
    )
    return body


MAX_KPI_DAYS = 400


def council_kpis(
    conn: Connection,
    freshness: VisitFreshness,
    scope: Scope,
    council_id: str,
    first_day: date,
    last_day: date,
    *,
    provider_id: str | None = None,
) -> list[ProviderKpis]:
    """Per provider and lot of the council over [first_day, last_day]: counts per day and the
    period's shares. A provider caller sees its own rows only."""
    if last_day < first_day or (last_day - first_day).days >= MAX_KPI_DAYS:
        raise Unprocessable(f"`to` must be on or after `from`, at most {MAX_KPI_DAYS} days")
    own = ensure_council_reader(scope, council_id)
    if own is not None:
        provider_id = own
    freshness.fresh()
    found = kpis.council_kpis(conn, council_id, first_day, last_day, provider_id=provider_id)
    return [
        ProviderKpis.model_validate(
            {
                **entry.__dict__,
                "on_time_15_share": entry.on_time_15_share,
                "on_time_30_share": entry.on_time_30_share,
                "planned_minutes_delivered_share": entry.planned_minutes_delivered_share,
                "tag_or_code_verified_share": entry.tag_or_code_verified_share,
            }
        )
        for entry in found
    ]


def list_alerts(conn: Connection, provider_id: str, *, open_only: bool) -> list[Alert]:
    require_provider(conn, provider_id)
    return repository.list_alerts(conn, provider_id, open_only=open_only)


def register_webhook(conn: Connection, settings: Settings, provider_id: str, url: str) -> Webhook:
    require_provider(conn, provider_id)
    try:
        endpoint_id, secret = webhooks.register_endpoint(conn, settings, provider_id, url)
    except ValueError as exc:
        raise Unprocessable(str(exc), code="webhook_invalid") from exc
    return Webhook(id=endpoint_id, url=url, secret=secret)


def list_deliveries(conn: Connection, provider_id: str) -> list[WebhookDelivery]:
    require_provider(conn, provider_id)
    return repository.list_deliveries(conn, provider_id)


def planned_on(conn: Connection, provider_id: str, day: date) -> list[DuePlan]:
    """The provider's planned visits (not cancelled) of one London day, in start order."""
    return repository.planned_between(conn, provider_id, london_day(day))
