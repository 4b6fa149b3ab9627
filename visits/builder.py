"""The visit builder: visits are derived data, rebuilt from the append-only evidence.

Work is cut into (home, London day) keys. A pass finds the keys that changed since the last one
(events by stored_at, planned visits and corrections by their timestamps, and planned visits whose
missed deadline has just passed) and rebuilds exactly those: it reads the evidence of those homes
from a day before to a day after, pairs and groups it, matches planned visits, flags anomalies and
replaces the keys' visit rows. Rebuilding a key twice gives the same rows, so passes are
idempotent and the lookback that guards against late-committing transactions costs only time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection

from core.settings import Settings
from visits import kpis, repository
from visits.anomalies import VisitRules, carer_anomalies, handset_anomalies, visit_anomalies
from visits.days import day_start, london_date
from visits.model import Home, PlannedVisit, Visit
from visits.pairing import (
    StatusRules,
    apply_corrections,
    group_into_visits,
    match_planned,
    missed_visit,
    pair_stays,
    visit_status,
)
from visits.policy import PolicyBook, load_policies
from visits.repository import HomeDay


@dataclass
class BuildReport:
    keys: int = 0
    visits: int = 0
    missed: int = 0
    anomalies: int = 0


def refresh(conn: Connection, settings: Settings, now: datetime | None = None) -> BuildReport:
    """One incremental pass, in the caller's transaction (which must commit it)."""
    now = now or datetime.now(UTC)
    repository.lock_build(conn)
    events_mark, changes_mark, clock_mark = repository.watermarks(conn)
    # Rows of a transaction still running become visible only when it commits, yet carry its
    # start time (stored_at = now()). So nothing is read past the start of the oldest open
    # transaction: the next pass looks again from there.
    started, oldest_open = repository.clock_and_oldest_open(conn)
    safe = min(started, oldest_open or started) - timedelta(microseconds=1)
    lookback = timedelta(seconds=settings.visits_build_lookback_s)
    window = timedelta(minutes=settings.visits_match_window_minutes)

    event_keys, latest_stored = repository.changed_event_homes(conn, events_mark - lookback)
    keys: set[HomeDay] = set()
    for home, day in event_keys:
        # An event can close or reopen a stay that began the day before.
        keys.update({(home, day), (home, day - timedelta(days=1))})
    for home, start in repository.changed_plan_homes(conn, changes_mark - lookback):
        keys.update((home, london_date(start + shift)) for shift in (-window, window * 0, window))
    keys.update(repository.changed_correction_homes(conn, changes_mark - lookback))
    keys.update(_deadlines_passed(conn, settings, max(clock_mark, now - timedelta(days=3)), now))

    report = build_days(conn, settings, keys, now)
    repository.advance_watermarks(conn, latest_stored, safe, now)
    return report


def build_day(
    conn: Connection,
    settings: Settings,
    day: date,
    *,
    now: datetime | None = None,
    service_user_ids: list[str] | None = None,
) -> BuildReport:
    """Rebuild every home with evidence or planned visits on one London day (or only the
    given service users): for tests, the demo and repairs."""
    now = now or datetime.now(UTC)
    start, end = day_start(day), day_start(day + timedelta(days=1))
    if service_user_ids is None:
        homes = repository.homes_with_work(conn, start, end)
    else:
        homes = set(service_user_ids)
    repository.lock_build(conn)
    return build_days(conn, settings, {(home, day) for home in homes}, now)


def _deadlines_passed(
    conn: Connection, settings: Settings, since: datetime, now: datetime
) -> set[HomeDay]:
    """Homes and days where a planned visit's missed deadline fell in (since, now]."""
    if since >= now:
        return set()
    policies = load_policies(conn, settings)
    rows = repository.plans_with_next(conn, since - timedelta(days=2), now + timedelta(days=2))
    keys: set[HomeDay] = set()
    for home, start, council_id, next_start in rows:
        deadline = policies.for_council(council_id).missed_deadline(start, next_start)
        if since < deadline <= now:
            keys.add((home, london_date(start)))
    return keys


def build_days(
    conn: Connection, settings: Settings, keys: set[HomeDay], now: datetime
) -> BuildReport:
    """Replace the visits of the given (home, day) keys. The caller holds the build lock."""
    report = BuildReport(keys=len(keys))
    if not keys:
        return report
    window = timedelta(minutes=settings.visits_match_window_minutes)
    homes = {home for home, _ in keys}
    first_day = min(day for _, day in keys)
    last_day = max(day for _, day in keys)
    read_from = day_start(first_day - timedelta(days=1))
    read_to = day_start(last_day + timedelta(days=2))

    events = repository.load_events(conn, homes, read_from, read_to)
    corrections = repository.load_corrections(conn, homes)
    homes_by_day: dict[date, set[str]] = defaultdict(set)
    for home, day in keys:
        homes_by_day[day].add(home)
    visits: list[Visit] = []
    for day, day_homes in sorted(homes_by_day.items()):
        # A day's visits are paired from the evidence of the day before to the day after, and
        # no further, whatever else this pass reads: the same key always gives the same visits.
        low, high = day_start(day - timedelta(days=1)), day_start(day + timedelta(days=2))
        stays = pair_stays(
            e
            for e in events
            if (e.service_user_id or "") in day_homes and low <= e.device_time < high
        )
        pending = apply_corrections(stays, corrections)
        for visit in group_into_visits(stays):
            if visit.home_key in day_homes and visit.london_day == day:
                visit.corrections_pending = sum(
                    pending.get(str(s.segment_id), 0) for s in visit.stays
                )
                visits.append(visit)

    plans = repository.load_planned(conn, homes, read_from - window, read_to + window)
    taken = repository.plans_matched_elsewhere(conn, keys)
    match_planned(visits, [p for p in plans if p.visit_ref not in taken], window=window)

    policies = load_policies(conn, settings)
    home_records = repository.load_homes(conn, homes)
    missed = _missed(plans, visits, taken, keys, policies, home_records, now)
    visit_rules = VisitRules(
        clock_skew=timedelta(seconds=settings.visits_clock_skew_s),
        tag_far_m=settings.visits_tag_far_m,
        short_fraction=settings.visits_short_fraction,
    )
    for visit in visits:
        record = home_records.get(visit.home_key)
        policy = policies.for_council(record.council_id if record else None)
        rules = StatusRules(policy.late_after, settings.visits_short_fraction)
        visit.status = visit_status(visit, rules)
        visit.anomalies = visit_anomalies(visit, record, visit_rules)
    everything = visits + missed
    touched = repository.delete_visits(conn, keys, [v.id for v in everything])
    repository.insert_visits(conn, everything, now)
    touched.update((v.provider_id, v.london_day) for v in everything)
    report.visits = len(visits)
    report.missed = len(missed)
    report.anomalies = sum(len(v.anomalies) for v in visits)
    report.anomalies += _cross_home_anomalies(conn, settings, visits, first_day, last_day)
    kpis.refresh_days(conn, touched)
    return report


def _missed(
    plans: list[PlannedVisit],
    visits: list[Visit],
    taken: set[str],
    keys: set[HomeDay],
    policies: PolicyBook,
    homes: dict[str, Home],
    now: datetime,
) -> list[Visit]:
    matched = {v.planned.visit_ref for v in visits if v.planned is not None} | taken
    by_home: dict[str, list[PlannedVisit]] = defaultdict(list)
    for plan in plans:
        if plan.status == "planned":
            by_home[plan.service_user_id].append(plan)
    missed: list[Visit] = []
    for home, home_plans in by_home.items():
        home_plans.sort(key=lambda p: p.planned_start)
        record = homes.get(home)
        policy = policies.for_council(record.council_id if record else None)
        for plan, following in zip(home_plans, [*home_plans[1:], None], strict=True):
            if plan.visit_ref in matched:
                continue
            if (home, london_date(plan.planned_start)) not in keys:
                continue
            next_start = following.planned_start if following else None
            if policy.missed_deadline(plan.planned_start, next_start) <= now:
                missed.append(missed_visit(plan))
    return missed


def _cross_home_anomalies(
    conn: Connection,
    settings: Settings,
    visits: list[Visit],
    first_day: date,
    last_day: date,
) -> int:
    """Recompute the carer and handset flags around the rebuilt days.

    A stay lasts at most two days (pairing stops at the end of the next day), so the flags of
    stays from a day before to a day after the rebuilt ones are cleared and recomputed from the
    stays of three days either side: every stay that can overlap or precede a cleared one is in
    view, and a flag outside the cleared range cannot have changed."""
    carers = {s.carer_id for v in visits for s in v.stays}
    # The telephony bridge signs every landline call of its provider's carers: it is shared by
    # design (each call is bound to its carer by the PIN), so it is no handset to share.
    devices = {s.device_id for v in visits for s in v.stays if not s.by_telephone}
    if not carers:
        return 0
    placed = repository.placed_stays(
        conn,
        carers=carers,
        devices=devices,
        start=day_start(first_day - timedelta(days=3)),
        end=day_start(last_day + timedelta(days=4)),
    )
    clear_from = day_start(first_day - timedelta(days=1))
    clear_to = day_start(last_day + timedelta(days=2))
    cleared = [p for p in placed if clear_from <= p.first < clear_to]
    repository.clear_cross_anomalies(conn, cleared, carers, devices)
    by_carer = {(p.visit_id, p.carer_id) for p in cleared if p.carer_id in carers}
    by_device = {(p.visit_id, p.carer_id) for p in cleared if p.device_id in devices}
    found = [
        (visit_id, a)
        for visit_id, a in carer_anomalies(
            [p for p in placed if p.carer_id in carers],
            max_speed_kmh=settings.visits_max_speed_kmh,
        )
        if (visit_id, a.carer_id) in by_carer
    ]
    found += [
        (visit_id, a)
        for visit_id, a in handset_anomalies(
            [p for p in placed if p.device_id in devices],
            window=timedelta(minutes=settings.visits_shared_handset_minutes),
        )
        if (visit_id, a.carer_id) in by_device
    ]
    repository.insert_anomalies(conn, found)
    return len(found)
