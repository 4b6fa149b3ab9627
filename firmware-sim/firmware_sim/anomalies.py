"""Anomalies and faults the simulator plays on purpose, so detection can be shown working.

Each kind touches a few carer visits of a worked morning (single-handed visits only, each
carer visit at most one anomaly) and is recorded as a `PlayedAnomaly`: which visit, which carer,
which handset, so a test can assert the system found exactly those. What the server does with
each is in docs/simulator.md.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from firmware_sim.world import PlannedVisit, World


class AnomalyKind(StrEnum):
    GHOST_VISIT = "ghost_visit"
    BUDDY_PUNCHING = "buddy_punching"
    CLOCK_SET_BACK = "clock_set_back"
    CLONED_TAG = "cloned_tag"
    DEAD_PHONE = "dead_phone"
    NO_SIGNAL = "no_signal"
    TWO_HOMES = "two_homes"


# How far behind a handset whose clock was set back is, and how long a handset without signal
# keeps its events before they go out.
CLOCK_BEHIND = timedelta(hours=3)
NO_SIGNAL_FOR = timedelta(hours=1)
# A buddy punch is only worth playing where the handset is shared within the window the visits
# rules look at (ECM_VISITS_SHARED_HANDSET_MINUTES, 30).
BUDDY_WITHIN = timedelta(minutes=20)
# One carer in two homes: the check-out comes this long after the check-in at the next home.
OVERSTAY = timedelta(minutes=5)
LONGEST_OVERSTAY = timedelta(minutes=30)
PER_KIND = 2


@dataclass(frozen=True)
class PlayedAnomaly:
    kind: AnomalyKind
    visit_ref: str
    service_user_id: str
    carer_id: str
    # The handset that signed (for a buddy punch, the colleague's); None when nothing was sent.
    device_id: str | None
    detail: str
    event_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Fault:
    """How one carer visit deviates from an honest one when its events are signed."""

    kind: AnomalyKind
    # Buddy punching: the carer whose handset signs, and that carer's own visit it signs beside.
    handset_carer: str | None = None
    # Cloned tag: the check-in carries the tap of this earlier check-in (carer, visit_ref).
    tap_copied_from: tuple[str, str] | None = None
    # One carer in two homes: the check-out is sent at this time, after the next check-in.
    checks_out_at: datetime | None = None


def parse_kinds(names: Sequence[str]) -> list[AnomalyKind]:
    kinds = []
    for name in names:
        try:
            kinds.append(AnomalyKind(name))
        except ValueError:
            known = ", ".join(k.value for k in AnomalyKind)
            raise ValueError(f"unknown anomaly {name!r} (known: {known})") from None
    return list(dict.fromkeys(kinds))


class HasVisit(Protocol):
    """What choose_faults reads of a carer visit (morning.CarerVisit)."""

    @property
    def visit(self) -> PlannedVisit: ...

    @property
    def carer_id(self) -> str: ...

    @property
    def arrived(self) -> datetime: ...

    @property
    def left(self) -> datetime: ...


@dataclass(frozen=True)
class _Candidate:
    index: int
    carer_id: str
    visit_ref: str
    service_user_id: str
    provider_id: str
    arrived: datetime


def choose_faults(
    world: World,
    carer_visits: Sequence[HasVisit],
    kinds: Sequence[AnomalyKind],
    rng: random.Random,
    per_kind: int = PER_KIND,
) -> dict[int, Fault]:
    """Pick the carer visits (by index) that play each kind; kinds that cannot be placed in this
    world (no tag home visited twice, no two carers of a provider working close in time) get
    fewer or none."""
    tagged = {su.id for su in world.service_users if su.home_device == "tag"}
    single = [
        _Candidate(
            i,
            cv.carer_id,
            cv.visit.visit_ref,
            cv.visit.service_user_id,
            cv.visit.provider_id,
            cv.arrived,
        )
        for i, cv in enumerate(carer_visits)
        if cv.visit.carers_required == 1
    ]
    rng.shuffle(single)
    # Each carer's next visit, whatever its kind: a carer in two homes overlaps into it.
    following: dict[int, int] = {}
    rounds: dict[str, list[int]] = {}
    for i, cv in enumerate(carer_visits):
        rounds.setdefault(cv.carer_id, []).append(i)
    for indices in rounds.values():
        ordered = sorted(indices, key=lambda i: carer_visits[i].arrived)
        following.update(itertools.pairwise(ordered))
    faults: dict[int, Fault] = {}
    # Visits that must stay honest because another anomaly leans on them.
    reserved: set[int] = set()

    def free(c: _Candidate) -> bool:
        return c.index not in faults and c.index not in reserved

    for kind in kinds:
        placed = 0
        for c in single:
            if placed >= per_kind:
                break
            if not free(c):
                continue
            if kind is AnomalyKind.BUDDY_PUNCHING:
                # A colleague of the same provider, checking in nearby at about the same time,
                # checks this carer in from their own phone.
                buddy = next(
                    (
                        o
                        for o in single
                        if free(o)
                        and o.index != c.index
                        and o.carer_id != c.carer_id
                        and o.provider_id == c.provider_id
                        and abs(o.arrived - c.arrived) <= BUDDY_WITHIN
                    ),
                    None,
                )
                if buddy is None:
                    continue
                reserved.add(buddy.index)
                faults[c.index] = Fault(kind, handset_carer=buddy.carer_id)
            elif kind is AnomalyKind.CLONED_TAG:
                if c.service_user_id not in tagged:
                    continue
                earlier = next(
                    (
                        o
                        for o in single
                        if o.index not in faults
                        and o.service_user_id == c.service_user_id
                        and o.arrived < c.arrived
                    ),
                    None,
                )
                if earlier is None:
                    continue
                reserved.add(earlier.index)
                faults[c.index] = Fault(kind, tap_copied_from=(earlier.carer_id, earlier.visit_ref))
            elif kind is AnomalyKind.TWO_HOMES:
                after = following.get(c.index)
                if after is None or after in faults or after in reserved:
                    continue
                this, nxt = carer_visits[c.index], carer_visits[after]
                leaves = nxt.arrived + OVERSTAY
                # A short overstay at another home, into no other carer's visit at this one
                # (that would make it one double-handed visit instead).
                if (
                    nxt.visit.service_user_id == this.visit.service_user_id
                    or leaves - this.left > LONGEST_OVERSTAY
                    or any(
                        o.visit.service_user_id == this.visit.service_user_id
                        and o.visit.visit_ref != this.visit.visit_ref
                        and o.arrived <= leaves + OVERSTAY
                        and o.left >= this.arrived
                        for o in carer_visits
                    )
                ):
                    continue
                reserved.add(after)
                faults[c.index] = Fault(kind, checks_out_at=leaves)
            else:
                faults[c.index] = Fault(kind)
            placed += 1
    return faults


def with_events(played: PlayedAnomaly, event_ids: Sequence[str]) -> PlayedAnomaly:
    return replace(played, event_ids=[*played.event_ids, *event_ids])
