"""Visit rules for the API: provider must exist; reads fold in new evidence first; corrections,
approvals and schedule imports map their failures to domain errors."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from time import monotonic
from typing import TypeVar
from uuid import UUID

from sqlalchemy import Connection, Engine, text

from api.deps import Principal
from api.errors import Conflict, NotFound, Unprocessable
from api.pagination import split_page
from api.registry.service import require_provider
from api.visits import repository
from api.visits.access import council_scope
from api.visits.schemas import (
    Correction,
    CorrectionRequest,
    CouncilPolicy,
    ScheduleImport,
    ScheduleRowError,
    Visit,
    VisitPage,
    VisitSummary,
)
from core.db import make_engine
from core.settings import Settings
from visits import builder, corrections, policy
from visits.schedule import ScheduleFileError, import_schedule

T = TypeVar("T")


def fresh(conn: Connection, settings: Settings, now: datetime | None = None) -> None:
    """Fold evidence stored since the last build into the visit tables before a read, so the
    API never shows visits older than the evidence (the `ecm visits` role does the same in
    the background; both are incremental and serialised by one lock).

    The pass commits in a short transaction of its own: run inside the request's transaction,
    its lock would be held until the request commits, and every visit read of every caller
    would queue behind every other. The read that follows sees the committed pass.

    Reads arriving together share passes: a read needs a pass that began after it arrived, not
    one of its own, so under load there is about one pass at a time, not one per read. A read
    on a clock of its own (`now`, the portal's injected clock) runs its own pass."""
    engine = _build_engine(conn.engine, settings)

    def _pass() -> None:
        with engine.begin() as build:
            builder.refresh(build, settings, now)

    if now is None:
        _passes(engine).after_arrival(_pass)
    else:
        _pass()


class SharedPasses:
    """Run a pass for callers who need one that started after they arrived, one at a time.

    A caller returns as soon as any pass that began after its arrival has completed, whoever
    ran it; otherwise it runs the next pass itself, or waits for the one running and looks
    again. A pass that fails raises in the caller that ran it; the others look again."""

    def __init__(self, clock: Callable[[], float] = monotonic) -> None:
        self._clock = clock
        self._changed = threading.Condition()
        self._running = False
        self._last_completed_start = float("-inf")
        self.passes = 0

    def after_arrival(self, run: Callable[[], None]) -> None:
        arrived = self._clock()
        with self._changed:
            while self._last_completed_start < arrived:
                if not self._running:
                    self._running = True
                    break
                self._changed.wait()
            else:
                return
        started = self._clock()
        completed = False
        try:
            run()
            completed = True
        finally:
            with self._changed:
                self._running = False
                if completed:
                    self.passes += 1
                    self._last_completed_start = max(self._last_completed_start, started)
                self._changed.notify_all()


def rebuild_in_request(conn: Connection, settings: Settings) -> None:
    """The same pass inside the request's transaction, after the request changed what visits
    are built from (a correction), so the caller's next read already shows it."""
    builder.refresh(conn, settings)


_BUILD_ENGINES: dict[str, Engine] = {}
_BUILD_ENGINES_LOCK = threading.Lock()
_PASSES: dict[str, SharedPasses] = {}


def _passes(engine: Engine) -> SharedPasses:
    url = engine.url.render_as_string(hide_password=False)
    with _BUILD_ENGINES_LOCK:
        return _PASSES.setdefault(url, SharedPasses())


def _build_engine(engine: Engine, settings: Settings) -> Engine:
    # A pool of its own: a request holding its connection never waits on the request pool for
    # a second one (which could deadlock the pool under load), only on this small one.
    url = engine.url.render_as_string(hide_password=False)
    with _BUILD_ENGINES_LOCK:
        if url not in _BUILD_ENGINES:
            _BUILD_ENGINES[url] = make_engine(settings, "api.visits_build", pool_size=2, url=url)
        return _BUILD_ENGINES[url]


def list_visits(
    conn: Connection,
    settings: Settings,
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
        settings,
        provider_id,
        (day, service_user_id, carer_id, status),
        limit,
        offset,
        now,
    )
    return VisitPage(items=items, next_offset=next_offset)


def list_visits_json(
    conn: Connection,
    settings: Settings,
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
        settings,
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
    settings: Settings,
    provider_id: str,
    filters: _Filters,
    limit: int,
    offset: int,
    now: datetime | None,
) -> tuple[list[T], int | None]:
    """A page of the provider's visits (day, service user, carer, status), fresh from the
    evidence, as `fetch` gives them: models or JSON texts."""
    require_provider(conn, provider_id)
    fresh(conn, settings, now)
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
    settings: Settings,
    provider_id: str,
    *,
    day: date | None,
    service_user_id: str | None,
    carer_id: str | None,
    now: datetime | None = None,
) -> VisitSummary:
    require_provider(conn, provider_id)
    fresh(conn, settings, now)
    return repository.summarise_visits(
        conn, provider_id, day=day, service_user_id=service_user_id, carer_id=carer_id
    )


def get_visit(conn: Connection, settings: Settings, provider_id: str, visit_id: UUID) -> Visit:
    require_provider(conn, provider_id)
    fresh(conn, settings)
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
    settings: Settings,
    principal: Principal,
    provider_id: str,
    visit_id: UUID,
    request: CorrectionRequest,
) -> Correction:
    require_provider(conn, provider_id)
    fresh(conn, settings)
    try:
        record = corrections.request_correction(
            conn,
            settings,
            provider_id=provider_id,
            visit_id=visit_id,
            carer_id=request.carer_id,
            check_in=request.check_in,
            check_out=request.check_out,
            reason_code=request.reason_code,
            note=request.note,
            requested_by=principal.subject,
        )
    except corrections.CorrectionError as exc:
        raise _domain_error(exc) from exc
    # Rebuild now so the visit the caller reads next already shows the correction.
    rebuild_in_request(conn, settings)
    return _correction(record)


def approve_correction(
    conn: Connection,
    settings: Settings,
    principal: Principal,
    provider_id: str,
    visit_id: UUID,
    correction_id: int,
) -> Correction:
    scope = council_scope(principal)
    owned = [c.id for c in corrections.corrections_for_visit(conn, visit_id)]
    if correction_id not in owned or repository.get_visit(conn, provider_id, visit_id) is None:
        raise NotFound(f"correction {correction_id} not found")
    try:
        record = corrections.approve_correction(
            conn, correction_id, approved_by=principal.subject, council_id=scope
        )
    except corrections.CorrectionError as exc:
        raise _domain_error(exc) from exc
    rebuild_in_request(conn, settings)
    return _correction(record)


def list_corrections(conn: Connection, provider_id: str, visit_id: UUID) -> list[Correction]:
    require_provider(conn, provider_id)
    if repository.get_visit(conn, provider_id, visit_id) is None:
        raise NotFound(f"visit {visit_id} not found")
    return [_correction(r) for r in corrections.corrections_for_visit(conn, visit_id)]


def import_schedule_file(
    conn: Connection, principal: Principal, content: str, source: str
) -> ScheduleImport:
    council_id = council_scope(principal)
    try:
        report = import_schedule(
            conn, content, source=source, imported_by=principal.subject, council_id=council_id
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
    conn: Connection, principal: Principal, council_id: str, body: CouncilPolicy
) -> CouncilPolicy:
    scope = council_scope(principal)
    if scope is not None and scope != council_id:
        raise NotFound(f"council {council_id} not found")
    exists = conn.execute(text("select 1 from council where id = :c"), {"c": council_id}).first()
    if exists is None:
        raise NotFound(f"council {council_id} not found")
    policy.set_policy(
        conn,
        council_id,
        late_after_minutes=body.late_after_minutes,
        missed_cutoff=time.fromisoformat(body.missed_cutoff),
        correction_approval_minutes=body.correction_approval_minutes,
    )
    return body
