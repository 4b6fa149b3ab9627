"""From evidence to visits: stays per carer and home, stays merged into visits, visits matched
to planned visits, and each visit's status. Pure functions; the builder feeds them."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.vocabulary import VisitStatus
from visits.days import LONDON
from visits.model import Correction, EvidenceEvent, PlannedVisit, Stay, Visit

MISSED_NAMESPACE = uuid.UUID("6f1c2a3e-8d4b-4f0a-9c57-0e9d1b2a7c31")


def pair_stays(events: Iterable[EvidenceEvent]) -> list[Stay]:
    """Per (carer, home), in (device_time, seq, event_id) order: a check-in followed by a
    check-out is one stay; a check-in followed by another check-in, or by nothing, is open; a
    check-out not preceded by a check-in is open with no check-in."""
    by_pair: dict[tuple[str, str | None], list[EvidenceEvent]] = defaultdict(list)
    for event in events:
        by_pair[(event.carer_id, event.service_user_id)].append(event)
    stays: list[Stay] = []
    for pair_events in by_pair.values():
        pair_events.sort(key=lambda e: (e.device_time, e.seq, str(e.event_id)))
        pending: EvidenceEvent | None = None
        for event in pair_events:
            if event.event_type == "check_in":
                if pending is not None:
                    stays.append(_stay(pending, None))
                pending = event
            elif pending is not None:
                stays.append(_stay(pending, event))
                pending = None
            else:
                stays.append(_stay(None, event))
        if pending is not None:
            stays.append(_stay(pending, None))
    return stays


def _stay(check_in: EvidenceEvent | None, check_out: EvidenceEvent | None) -> Stay:
    anchor = check_in or check_out
    assert anchor is not None
    return Stay(
        carer_id=anchor.carer_id,
        provider_id=anchor.provider_id,
        service_user_id=anchor.service_user_id,
        check_in=check_in,
        check_out=check_out,
    )


def apply_corrections(stays: Sequence[Stay], corrections: Iterable[Correction]) -> dict[str, int]:
    """Puts the latest counting correction beside each stay; returns pending counts by stay."""
    latest: dict[uuid.UUID, Correction] = {}
    pending: dict[str, int] = defaultdict(int)
    for correction in sorted(corrections, key=lambda c: c.id):
        if correction.counts:
            latest[correction.segment_id] = correction
        else:
            pending[str(correction.segment_id)] += 1
    for stay in stays:
        stay.correction = latest.get(stay.segment_id)
    return pending


def group_into_visits(stays: Iterable[Stay]) -> list[Visit]:
    """Stays of different carers of one provider at one home whose times overlap are one visit
    (double-handed care); a carer's stays are never merged with each other."""
    by_home: dict[tuple[str, str | None], list[Stay]] = defaultdict(list)
    for stay in stays:
        by_home[(stay.provider_id, stay.service_user_id)].append(stay)
    visits: list[Visit] = []
    for (provider_id, service_user_id), home_stays in by_home.items():
        home_stays.sort(key=lambda s: (s.anchor_time, str(s.segment_id)))
        group: list[Stay] = []
        group_end: datetime | None = None
        for stay in home_stays:
            start = stay.anchor_time
            end = stay.end or start
            joins = (
                group
                and group_end is not None
                and start < group_end
                and all(other.carer_id != stay.carer_id for other in group)
            )
            if group and not joins:
                visits.append(_visit(provider_id, service_user_id, group))
                group, group_end = [], None
            group.append(stay)
            group_end = end if group_end is None else max(group_end, end)
        if group:
            visits.append(_visit(provider_id, service_user_id, group))
    return visits


def _visit(provider_id: str, service_user_id: str | None, stays: list[Stay]) -> Visit:
    first = stays[0]
    return Visit(
        id=first.segment_id,
        provider_id=provider_id,
        service_user_id=service_user_id,
        london_day=first.anchor_time.astimezone(LONDON).date(),
        stays=list(stays),
    )


def match_planned(
    visits: Sequence[Visit],
    planned: Sequence[PlannedVisit],
    *,
    window: timedelta,
) -> None:
    """Each visit takes at most one planned visit of the same provider and home whose start is
    within `window` of the visit's start, nearest first (then the earlier planned start), and
    each planned visit is taken at most once."""
    by_home: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pi, plan in enumerate(planned):
        if plan.status == "planned":
            by_home[(plan.provider_id, plan.service_user_id)].append(pi)
    candidates: list[tuple[timedelta, datetime, int, int]] = []
    for vi, visit in enumerate(visits):
        start = visit.check_in or (visit.stays[0].anchor_time if visit.stays else None)
        if start is None or visit.service_user_id is None:
            continue
        for pi in by_home.get((visit.provider_id, visit.service_user_id), []):
            plan = planned[pi]
            distance = abs(plan.planned_start - start)
            if distance <= window:
                candidates.append((distance, plan.planned_start, vi, pi))
    taken_visits: set[int] = set()
    taken_plans: set[int] = set()
    for _, _, vi, pi in sorted(candidates):
        if vi in taken_visits or pi in taken_plans:
            continue
        visits[vi].planned = planned[pi]
        taken_visits.add(vi)
        taken_plans.add(pi)


@dataclass(frozen=True)
class StatusRules:
    late_after: timedelta
    short_fraction: float


def visit_status(visit: Visit, rules: StatusRules) -> VisitStatus:
    """Precedence: open, unplanned, short, late, on_time (a late and short visit is short,
    because shortness costs the service user care)."""
    if visit.is_open:
        return VisitStatus.OPEN
    plan = visit.planned
    if plan is None:
        return VisitStatus.UNPLANNED
    minutes = visit.minutes or 0
    if minutes < plan.planned_minutes * rules.short_fraction:
        return VisitStatus.SHORT
    check_in = visit.check_in
    if check_in is not None and check_in > plan.planned_start + rules.late_after:
        return VisitStatus.LATE
    return VisitStatus.ON_TIME


def missed_visit(plan: PlannedVisit) -> Visit:
    return Visit(
        id=uuid.uuid5(MISSED_NAMESPACE, plan.visit_ref),
        provider_id=plan.provider_id,
        service_user_id=plan.service_user_id,
        london_day=plan.planned_start.astimezone(LONDON).date(),
        stays=[],
        planned=plan,
        status=VisitStatus.MISSED,
    )
