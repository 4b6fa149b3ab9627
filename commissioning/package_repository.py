"""All SQL of care packages and their versions. Callers own the transaction."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import Connection, RowMapping, text

from commissioning.model import (
    CarePackage,
    LotRole,
    PackageChange,
    PackageVersion,
    Pattern,
    pattern_as_json,
    pattern_from_json,
)

_PACKAGE_COLUMNS = (
    "id, request_id, council_id, provider_id, service_user_id, lot_id, role, plan_from, "
    "planned_until, created_at"
)
_VERSION_COLUMNS = (
    "package_id, version, effective_from, start_date, end_date, visits, reason, made_by, "
    "made_at, superseded_at"
)


def _package(row: RowMapping) -> CarePackage:
    return CarePackage(
        id=row["id"],
        request_id=row["request_id"],
        council_id=row["council_id"],
        provider_id=row["provider_id"],
        service_user_id=row["service_user_id"],
        lot_id=row["lot_id"],
        role=LotRole(row["role"]),
        plan_from=row["plan_from"],
        planned_until=row["planned_until"],
        created_at=row["created_at"],
    )


def _version(row: RowMapping) -> PackageVersion:
    return PackageVersion(
        package_id=row["package_id"],
        version=row["version"],
        effective_from=row["effective_from"],
        start_date=row["start_date"],
        end_date=row["end_date"],
        visits=pattern_from_json(row["visits"]),
        reason=PackageChange(row["reason"]),
        made_by=row["made_by"],
        made_at=row["made_at"],
        superseded_at=row["superseded_at"],
    )


def insert_package(
    conn: Connection,
    *,
    request_id: int,
    council_id: str,
    provider_id: str,
    service_user_id: str,
    lot_id: str,
    role: LotRole,
    plan_from: datetime,
    planned_until: date,
    now: datetime,
) -> int:
    package_id: int = conn.execute(
        text(
            "insert into care_package (request_id, council_id, provider_id, service_user_id, "
            "lot_id, role, plan_from, planned_until, created_at) values (:r, :c, :p, :s, :l, "
            ":role, :from, :until, :now) returning id"
        ),
        {
            "r": request_id,
            "c": council_id,
            "p": provider_id,
            "s": service_user_id,
            "l": lot_id,
            "role": role.value,
            "from": plan_from,
            "until": planned_until,
            "now": now,
        },
    ).scalar_one()
    return package_id


def add_version(
    conn: Connection,
    package_id: int,
    *,
    effective_from: date,
    start_date: date,
    end_date: date | None,
    visits: Pattern,
    reason: PackageChange,
    made_by: str,
    now: datetime,
) -> PackageVersion:
    """The next version; the current one is superseded first (one current version each)."""
    conn.execute(
        text(
            "update care_package_version set superseded_at = :now "
            "where package_id = :p and superseded_at is null"
        ),
        {"now": now, "p": package_id},
    )
    row = (
        conn.execute(
            text(
                "insert into care_package_version (package_id, version, effective_from, "
                "start_date, end_date, visits, reason, made_by, made_at) values (:p, "
                "(select coalesce(max(version), 0) + 1 from care_package_version "
                "where package_id = :p), :eff, :start, :end, cast(:visits as jsonb), :reason, "
                f":by, :now) returning {_VERSION_COLUMNS}"
            ),
            {
                "p": package_id,
                "eff": effective_from,
                "start": start_date,
                "end": end_date,
                "visits": json.dumps(pattern_as_json(visits)),
                "reason": reason.value,
                "by": made_by,
                "now": now,
            },
        )
        .mappings()
        .one()
    )
    return _version(row)


def get_package(
    conn: Connection, package_id: int, *, for_update: bool = False
) -> CarePackage | None:
    lock = " for update" if for_update else ""
    row = (
        conn.execute(
            text(f"select {_PACKAGE_COLUMNS} from care_package where id = :id{lock}"),
            {"id": package_id},
        )
        .mappings()
        .first()
    )
    return _package(row) if row else None


def package_of_request(conn: Connection, request_id: int) -> CarePackage | None:
    row = (
        conn.execute(
            text(f"select {_PACKAGE_COLUMNS} from care_package where request_id = :r"),
            {"r": request_id},
        )
        .mappings()
        .first()
    )
    return _package(row) if row else None


def versions(conn: Connection, package_id: int) -> list[PackageVersion]:
    rows = conn.execute(
        text(
            f"select {_VERSION_COLUMNS} from care_package_version where package_id = :p "
            "order by version"
        ),
        {"p": package_id},
    ).mappings()
    return [_version(row) for row in rows]


def list_packages(
    conn: Connection,
    *,
    council_id: str | None,
    provider_id: str | None,
    limit: int,
    offset: int,
) -> list[CarePackage]:
    rows = conn.execute(
        text(
            f"select {_PACKAGE_COLUMNS} from care_package "
            "where (cast(:c as text) is null or council_id = :c) "
            "and (cast(:p as text) is null or provider_id = :p) "
            "order by id desc limit :limit offset :offset"
        ),
        {"c": council_id, "p": provider_id, "limit": limit, "offset": offset},
    ).mappings()
    return [_package(row) for row in rows]


def set_planned_until(conn: Connection, package_id: int, until: date) -> None:
    conn.execute(
        text("update care_package set planned_until = :u where id = :id"),
        {"u": until, "id": package_id},
    )


def packages_to_extend(conn: Connection, until: date, limit: int = 200) -> list[int]:
    """Packages planned short of `until` whose current version has not ended by then; locked
    (skipping those another pass holds)."""
    return list(
        conn.execute(
            text(
                "select p.id from care_package p join care_package_version v "
                "on v.package_id = p.id and v.superseded_at is null "
                "where p.planned_until < :until and (v.end_date is null "
                "or v.end_date > p.planned_until) order by p.id limit :limit "
                "for update of p skip locked"
            ),
            {"until": until, "limit": limit},
        ).scalars()
    )


def package_rows(
    conn: Connection,
    *,
    council_id: str | None,
    provider_id: str | None,
    start: datetime,
    end: datetime,
) -> list[RowMapping]:
    """Every package version made in [start, end), with its request's reference, for
    packages.csv."""
    return list(
        conn.execute(
            text(
                "select p.id as package_id, v.version, v.reason, v.effective_from, v.made_at, "
                "v.superseded_at is null as current, r.request_ref, p.provider_id, p.role, "
                "p.service_user_id, p.lot_id, v.start_date, v.end_date, v.visits "
                "from care_package p join care_package_version v on v.package_id = p.id "
                "join service_request r on r.id = p.request_id "
                "where (cast(:c as text) is null or p.council_id = :c) "
                "and (cast(:p as text) is null or p.provider_id = :p) "
                "and v.made_at >= :start and v.made_at < :end order by p.id, v.version"
            ),
            {"c": council_id, "p": provider_id, "start": start, "end": end},
        ).mappings()
    )
