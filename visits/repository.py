"""All SQL of the visit builder (visits/builder.py). Callers own the transaction."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, text

from visits.anomalies import PlacedStay
from visits.model import Anomaly, Correction, EvidenceEvent, Home, PlannedVisit, Visit

HomeDay = tuple[str, date]  # (service user id, or "" for events naming none; London day)

BUILD_LOCK = "select pg_advisory_xact_lock(hashtext('ecm.visits.build'))"

_EVENT_COLUMNS = (
    "event_id, device_time, received_at, device_id, provider_id, carer_id, service_user_id, "
    "seq, event_type, tag_uid, gps_lat, gps_lon, gps_distance_m, gps_within_fence, "
    "evidence_level, late_arriving"
)
_LONDON_DAY = "(({column}) at time zone 'Europe/London')::date"


def _copy(
    conn: Connection, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """COPY rows in the caller's transaction: a day of a county is tens of thousands of rows,
    which one statement per row would spend seconds on."""
    driver = conn.connection.driver_connection
    assert driver is not None
    with (
        driver.cursor() as cursor,
        cursor.copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _home_condition(homes: Collection[str]) -> str:
    named = "service_user_id = any(:homes)"
    return f"({named} or service_user_id is null)" if "" in homes else named


def lock_build(conn: Connection) -> None:
    """One build pass at a time, the `ecm visits` role's and every reader's."""
    conn.execute(text(BUILD_LOCK))


def watermarks(conn: Connection) -> tuple[datetime, datetime, datetime]:
    """(events, changes, clock) watermarks of the last pass, the state row locked."""
    row = conn.execute(
        text(
            "select events_watermark, changes_watermark, clock_watermark "
            "from visit_build_state where id = 1 for update"
        )
    ).one()
    return row[0], row[1], row[2]


def clock_and_oldest_open(conn: Connection) -> tuple[datetime, datetime | None]:
    """The database's clock, and the start of the oldest other open transaction (if any)."""
    row = conn.execute(
        text(
            "select clock_timestamp(), (select min(xact_start) from pg_stat_activity "
            "where datname = current_database() and pid <> pg_backend_pid() "
            "and xact_start is not null)"
        )
    ).one()
    return row[0], row[1]


def advance_watermarks(
    conn: Connection, latest_stored: datetime | None, safe: datetime, now: datetime
) -> None:
    conn.execute(
        text(
            "update visit_build_state set events_watermark = greatest(events_watermark, "
            "least(coalesce(:stored, events_watermark), :safe)), "
            "changes_watermark = greatest(changes_watermark, :safe), "
            # The clock as given, even backwards: a pass driven by a simulated clock must not
            # stop later real-time passes from seeing deadlines go by.
            "clock_watermark = :now where id = 1"
        ),
        {"stored": latest_stored, "safe": safe, "now": now},
    )


def homes_with_work(conn: Connection, start: datetime, end: datetime) -> set[str]:
    """Homes ("" for events naming none) with evidence or current planned visits in
    [start, end)."""
    rows = conn.execute(
        text(
            "select distinct coalesce(service_user_id, '') from device_event "
            "where device_time >= :s and device_time < :e union "
            "select service_user_id from planned_visit_version "
            "where superseded_at is null and planned_start >= :s and planned_start < :e"
        ),
        {"s": start, "e": end},
    ).scalars()
    return set(rows)


def plans_with_next(
    conn: Connection, start: datetime, end: datetime
) -> list[tuple[str, datetime, str | None, datetime | None]]:
    """(home, planned start, council, the home's next planned start) of current planned visits
    starting in [start, end)."""
    rows = conn.execute(
        text(
            "select p.service_user_id, p.planned_start, su.council_id, lead(p.planned_start) "
            "over (partition by p.service_user_id order by p.planned_start) "
            "from planned_visit_version p join service_user su on su.id = p.service_user_id "
            "where p.superseded_at is null and p.status = 'planned' "
            "and p.planned_start >= :from and p.planned_start < :to"
        ),
        {"from": start, "to": end},
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def changed_event_homes(conn: Connection, since: datetime) -> tuple[set[HomeDay], datetime | None]:
    rows = conn.execute(
        text(
            "select coalesce(service_user_id, ''), "
            f"{_LONDON_DAY.format(column='device_time')}, max(stored_at) "
            "from device_event where stored_at > :since group by 1, 2"
        ),
        {"since": since},
    )
    keys: set[HomeDay] = set()
    latest: datetime | None = None
    for home, day, stored in rows:
        keys.add((home, day))
        latest = stored if latest is None else max(latest, stored)
    return keys, latest


def changed_plan_homes(conn: Connection, since: datetime) -> set[tuple[str, datetime]]:
    rows = conn.execute(
        text(
            "select service_user_id, planned_start from planned_visit_version "
            "where valid_from > :since or superseded_at > :since"
        ),
        {"since": since},
    )
    return {(home, start) for home, start in rows}


def changed_correction_homes(conn: Connection, since: datetime) -> set[HomeDay]:
    """The day of the visit a correction was made on, and the day its new times fall on."""
    rows = conn.execute(
        text(
            "select coalesce(c.service_user_id, ''), v.london_day from visit_correction c "
            "join visit_carer vc on vc.segment_id = c.segment_id "
            "join visit v on v.id = vc.visit_id "
            "where c.requested_at > :since or c.approved_at > :since "
            "union select coalesce(service_user_id, ''), "
            f"{_LONDON_DAY.format(column='coalesce(check_in, check_out)')} "
            "from visit_correction where (requested_at > :since or approved_at > :since) "
            "and coalesce(check_in, check_out) is not null"
        ),
        {"since": since},
    )
    return {(home, day) for home, day in rows}


def load_events(
    conn: Connection, homes: Collection[str], start: datetime, end: datetime
) -> list[EvidenceEvent]:
    rows = conn.execute(
        text(
            f"select {_EVENT_COLUMNS} from device_event where {_home_condition(homes)} "
            "and device_time >= :start and device_time < :end"
        ),
        {"homes": [h for h in homes if h], "start": start, "end": end},
    )
    return [EvidenceEvent(*row) for row in rows]


def load_homes(conn: Connection, homes: Collection[str]) -> dict[str, Home]:
    rows = conn.execute(
        text(
            "select id, council_id, home_lat, home_lon, geofence_m, home_tag_uid "
            "from service_user where id = any(:homes)"
        ),
        {"homes": list(homes)},
    )
    return {row[0]: Home(*row) for row in rows}


def load_planned(
    conn: Connection, homes: Collection[str], start: datetime, end: datetime
) -> list[PlannedVisit]:
    rows = conn.execute(
        text(
            "select visit_ref, service_user_id, provider_id, planned_start, planned_minutes, "
            "carers_required, status from planned_visit_version "
            "where superseded_at is null and service_user_id = any(:homes) "
            "and planned_start >= :start and planned_start < :end"
        ),
        {"homes": [h for h in homes if h], "start": start, "end": end},
    )
    return [PlannedVisit(*row) for row in rows]


def load_corrections(conn: Connection, homes: Collection[str]) -> list[Correction]:
    rows = conn.execute(
        text(
            "select id, segment_id, check_in, check_out, "
            "(not needs_approval or approved_at is not null) from visit_correction "
            f"where {_home_condition(homes)}"
        ),
        {"homes": [h for h in homes if h]},
    )
    return [Correction(*row) for row in rows]


def plans_matched_elsewhere(conn: Connection, keys: Collection[HomeDay]) -> set[str]:
    """Planned visits already taken by a visit on a day not being rebuilt."""
    homes = [home for home, _ in keys]
    days = [day for _, day in keys]
    rows = conn.execute(
        text(
            "select planned_visit_ref from visit v where v.planned_visit_ref is not null "
            "and v.home_key = any(:homes) and not exists (select 1 from unnest("
            "cast(:homes as text[]), cast(:days as date[])) k(home, day) "
            "where k.home = v.home_key and k.day = v.london_day)"
        ),
        {"homes": homes, "days": days},
    ).scalars()
    return set(rows)


def delete_visits(
    conn: Connection, keys: Collection[HomeDay], ids: Collection[UUID]
) -> set[tuple[str, date]]:
    """Removes the visits of the given homes and days (and any visit whose id is about to be
    reused); returns the (provider, day) pairs whose KPIs they fed."""
    rows = conn.execute(
        text(
            "delete from visit v using unnest(cast(:homes as text[]), cast(:days as date[])) "
            "k(home, day) where k.home = v.home_key and k.day = v.london_day "
            "returning v.provider_id, v.london_day"
        ),
        {"homes": [h for h, _ in keys], "days": [d for _, d in keys]},
    )
    touched = {(provider, day) for provider, day in rows}
    rows = conn.execute(
        text("delete from visit where id = any(:ids) returning provider_id, london_day"),
        {"ids": list(ids)},
    )
    touched.update((provider, day) for provider, day in rows)
    return touched


_VISIT_TABLE_COLUMNS = (
    "id",
    "provider_id",
    "service_user_id",
    "home_key",
    "london_day",
    "planned_visit_ref",
    "planned_start",
    "planned_minutes",
    "carers_required",
    "check_in",
    "check_out",
    "minutes",
    "status",
    "verification",
    "carers",
    "corrections_pending",
    "built_at",
)
_STAY_COLUMNS = (
    "visit_id",
    "segment_id",
    "carer_id",
    "device_id",
    "check_in",
    "check_out",
    "check_in_event_id",
    "check_out_event_id",
    "verification",
    "correction_id",
)


def insert_visits(conn: Connection, visits: Sequence[Visit], built_at: datetime) -> None:
    if not visits:
        return
    _copy(
        conn,
        "visit",
        _VISIT_TABLE_COLUMNS,
        (
            (
                v.id,
                v.provider_id,
                v.service_user_id,
                v.home_key,
                v.london_day,
                v.planned.visit_ref if v.planned else None,
                v.planned.planned_start if v.planned else None,
                v.planned.planned_minutes if v.planned else None,
                v.planned.carers_required if v.planned else None,
                v.check_in,
                v.check_out,
                v.minutes,
                v.status,
                v.verification,
                len({s.carer_id for s in v.stays}),
                v.corrections_pending,
                built_at,
            )
            for v in visits
        ),
    )
    _copy(
        conn,
        "visit_carer",
        _STAY_COLUMNS,
        (
            (
                v.id,
                s.segment_id,
                s.carer_id,
                s.device_id,
                s.start,
                s.end,
                s.check_in.event_id if s.check_in else None,
                s.check_out.event_id if s.check_out else None,
                s.verification,
                s.correction.id if s.correction else None,
            )
            for v in visits
            for s in v.stays
        ),
    )
    insert_anomalies(conn, [(v.id, a) for v in visits for a in v.anomalies])


def insert_anomalies(conn: Connection, found: Iterable[tuple[UUID, Anomaly]]) -> None:
    _copy(
        conn,
        "visit_anomaly",
        ("visit_id", "code", "carer_id", "event_id", "detail"),
        ((visit_id, a.code, a.carer_id, a.event_id, a.detail) for visit_id, a in found),
    )


def placed_stays(
    conn: Connection,
    *,
    carers: Collection[str],
    devices: Collection[str],
    start: datetime,
    end: datetime,
) -> list[PlacedStay]:
    rows = conn.execute(
        text(
            "select vc.visit_id, vc.carer_id, vc.device_id, v.home_key, su.home_lat, "
            "su.home_lon, vc.check_in, vc.check_out from visit_carer vc "
            "join visit v on v.id = vc.visit_id "
            "left join service_user su on su.id = v.service_user_id "
            "where (vc.carer_id = any(:carers) or vc.device_id = any(:devices)) "
            "and coalesce(vc.check_in, vc.check_out) >= :start "
            "and coalesce(vc.check_in, vc.check_out) < :end"
        ),
        {"carers": list(carers), "devices": list(devices), "start": start, "end": end},
    )
    return [PlacedStay(*row) for row in rows]


def clear_cross_anomalies(
    conn: Connection, stays: Sequence[PlacedStay], carers: Collection[str], devices: Collection[str]
) -> None:
    """Drops the carer and handset flags that are about to be recomputed: carer flags of the
    given carers' stays, handset flags of stays on the given handsets."""
    from visits.anomalies import CARER_CODES, HANDSET_CODES

    keys: list[tuple[UUID, str, str]] = []
    for s in stays:
        if s.carer_id in carers:
            keys.extend((s.visit_id, s.carer_id, code) for code in CARER_CODES)
        if s.device_id in devices:
            keys.extend((s.visit_id, s.carer_id, code) for code in HANDSET_CODES)
    if keys:
        conn.execute(
            text(
                "delete from visit_anomaly a using unnest(cast(:visits as uuid[]), "
                "cast(:carers as text[]), cast(:codes as text[])) k(visit_id, carer_id, code) "
                "where a.visit_id = k.visit_id and a.carer_id = k.carer_id and a.code = k.code"
            ),
            {
                "visits": [k[0] for k in keys],
                "carers": [k[1] for k in keys],
                "codes": [k[2] for k in keys],
            },
        )
