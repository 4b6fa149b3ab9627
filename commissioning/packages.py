"""Care packages: what an accepted request becomes, and how it changes.

Accepting a request commissions its care: a package (version 1, the request's pattern) whose
planned visits are imported as the council's schedule would be (commissioning.planning). A change
of pattern from a date, or the end of the package, is a new version; the planned visits from
then on are rewritten as new planned-visit versions. Nothing is overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import Connection

from commissioning import package_repository
from commissioning.model import (
    LONDON,
    CarePackage,
    LotRole,
    PackageChange,
    PackageVersion,
    Pattern,
    ServiceRequest,
)
from commissioning.planning import PlannedSlot, planned_between, replan, schedule_csv
from core.errors import Unprocessable
from visits.schedule import import_schedule


def london_today(now: datetime) -> date:
    return now.astimezone(LONDON).date()


def write_plan(
    conn: Connection,
    package: CarePackage,
    planned: Sequence[PlannedSlot],
    cancelled: Sequence[PlannedSlot],
    *,
    source: str,
    actor: str,
) -> None:
    """The planned visits through the schedule import, as the case system's schedule.csv."""
    if not planned and not cancelled:
        return
    content = schedule_csv(package.service_user_id, package.provider_id, planned, cancelled)
    report = import_schedule(
        conn, content, source=source, imported_by=actor, council_id=package.council_id
    )
    if report.errors:
        first = report.errors[0]
        raise Unprocessable(
            f"the package's planned visits were refused: {first.visit_ref}: {first.reason}",
            code="package_invalid",
        )


def commission(
    conn: Connection,
    request: ServiceRequest,
    *,
    provider_id: str,
    role: LotRole,
    horizon_days: int,
    actor: str,
    now: datetime,
) -> CarePackage:
    """Version 1 from the request, and its planned visits up to the horizon."""
    planned_until = london_today(now) + timedelta(days=horizon_days)
    package_id = package_repository.insert_package(
        conn,
        request_id=request.id,
        council_id=request.council_id,
        provider_id=provider_id,
        service_user_id=request.service_user_id,
        lot_id=request.lot_id,
        role=role,
        plan_from=now,
        planned_until=planned_until,
        now=now,
    )
    version = package_repository.add_version(
        conn,
        package_id,
        effective_from=request.start_date,
        start_date=request.start_date,
        end_date=request.end_date,
        visits=request.visits,
        reason=PackageChange.ACCEPTED,
        made_by=actor,
        now=now,
    )
    package = package_repository.get_package(conn, package_id)
    assert package is not None
    planned = planned_between(request.id, [version], request.start_date, planned_until, after=now)
    write_plan(conn, package, planned, [], source=f"package {package_id} v1", actor=actor)
    return package


def change(
    conn: Connection,
    package: CarePackage,
    *,
    effective_from: date,
    visits: Pattern,
    actor: str,
    now: datetime,
) -> PackageVersion:
    """A new weekly pattern from `effective_from` (today or later)."""
    before = package_repository.versions(conn, package.id)
    current = before[-1]
    if effective_from < london_today(now):
        raise Unprocessable("a change starts today or later (London)", code="package_invalid")
    if current.end_date is not None and effective_from > current.end_date:
        raise Unprocessable(
            f"the package ends on {current.end_date}; a change must start by then",
            code="package_invalid",
        )
    version = package_repository.add_version(
        conn,
        package.id,
        effective_from=effective_from,
        start_date=current.start_date,
        end_date=current.end_date,
        visits=visits,
        reason=PackageChange.CHANGED,
        made_by=actor,
        now=now,
    )
    _rewrite(conn, package, before, version, effective_from, actor=actor, now=now)
    return version


def end(
    conn: Connection, package: CarePackage, *, end_date: date, actor: str, now: datetime
) -> PackageVersion:
    """The package's last day of care; its planned visits after that day are cancelled."""
    before = package_repository.versions(conn, package.id)
    current = before[-1]
    if end_date < london_today(now):
        raise Unprocessable("the end date is today or later (London)", code="package_invalid")
    if current.end_date is not None and end_date >= current.end_date:
        raise Unprocessable(
            f"the package already ends on {current.end_date}", code="package_invalid"
        )
    # Effective the day after the end: the days up to it keep the versions they had (a change
    # already set for a date before the end still applies), and no day after it has visits.
    effective_from = end_date + timedelta(days=1)
    version = package_repository.add_version(
        conn,
        package.id,
        effective_from=effective_from,
        start_date=current.start_date,
        end_date=end_date,
        visits=current.visits,
        reason=PackageChange.ENDED,
        made_by=actor,
        now=now,
    )
    _rewrite(conn, package, before, version, effective_from, actor=actor, now=now)
    return version


def _rewrite(
    conn: Connection,
    package: CarePackage,
    before: list[PackageVersion],
    version: PackageVersion,
    first: date,
    *,
    actor: str,
    now: datetime,
) -> None:
    planned, cancelled = replan(
        package.request_id, before, [*before, version], first, package.planned_until, now=now
    )
    write_plan(
        conn,
        package,
        planned,
        cancelled,
        source=f"package {package.id} v{version.version}",
        actor=actor,
    )


def extend(conn: Connection, package: CarePackage, *, horizon_days: int, now: datetime) -> int:
    """Plan the package's visits up to the horizon; returns how many were written."""
    until = london_today(now) + timedelta(days=horizon_days)
    if until <= package.planned_until:
        return 0
    versions = package_repository.versions(conn, package.id)
    planned = planned_between(
        package.request_id,
        versions,
        package.planned_until + timedelta(days=1),
        until,
        after=now,
    )
    write_plan(conn, package, planned, [], source=f"package {package.id} plan", actor="system")
    package_repository.set_planned_until(conn, package.id, until)
    return len(planned)
