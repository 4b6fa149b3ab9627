"""Contract monitoring per lot: how quickly and how often each lead provider picks up new
requests, and who ends up with the hours (docs/service-requests.md, "Monitoring").

Computed from the facts of the requests made in the period (their London day of creation), so a
period's figures do not change when later periods' requests arrive; they do change while the
period's own requests are still being offered.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from commissioning.model import DeclineReason, LotRole


@dataclass(frozen=True)
class RequestFacts:
    lot_id: str
    created_at: datetime
    lead_offered: bool  # the lot's lead provider was offered it (in any round)
    lead_accepted_in_time: bool  # ... and accepted it before that offer's deadline
    placed_at: datetime | None
    placed_role: LotRole | None
    withdrawn_at: datetime | None
    weekly_hours: float  # of the pattern requested (carers x minutes per week / 60)
    declines: tuple[str, ...] = ()  # decline reasons of its offers


@dataclass
class LotFigures:
    lot_id: str | None  # None: all lots together
    requests_made: int = 0
    offered_to_lead: int = 0
    lead_accepted_in_time: int = 0
    placed: int = 0
    unplaced_after_n_days: int = 0
    hours_to_accept: list[float] = field(default_factory=list)
    weekly_hours: dict[LotRole, float] = field(
        default_factory=lambda: {role: 0.0 for role in LotRole}
    )
    declines: dict[str, int] = field(default_factory=lambda: {r.value: 0 for r in DeclineReason})

    @property
    def lead_in_time_share(self) -> float | None:
        """Of the requests offered to the lead, the share it accepted within the deadline."""
        return self.lead_accepted_in_time / self.offered_to_lead if self.offered_to_lead else None

    @property
    def median_hours_to_accept(self) -> float | None:
        """From the request being made to its acceptance, over the placed requests."""
        return statistics.median(self.hours_to_accept) if self.hours_to_accept else None

    def add(self, facts: RequestFacts, unplaced_after: timedelta, now: datetime) -> None:
        self.requests_made += 1
        self.offered_to_lead += facts.lead_offered
        self.lead_accepted_in_time += facts.lead_accepted_in_time
        if facts.placed_at is not None and facts.placed_role is not None:
            self.placed += 1
            self.hours_to_accept.append((facts.placed_at - facts.created_at).total_seconds() / 3600)
            self.weekly_hours[facts.placed_role] += facts.weekly_hours
        if _unplaced_after(facts, unplaced_after, now):
            self.unplaced_after_n_days += 1
        for reason in facts.declines:
            self.declines[reason] = self.declines.get(reason, 0) + 1


def _unplaced_after(facts: RequestFacts, after: timedelta, now: datetime) -> bool:
    """Made at least `after` ago and neither placed nor withdrawn within `after` of being made:
    a request made yesterday cannot be unplaced after seven days yet."""
    mark = facts.created_at + after
    if mark > now:
        return False
    placed_in_time = facts.placed_at is not None and facts.placed_at <= mark
    withdrawn_in_time = facts.withdrawn_at is not None and facts.withdrawn_at <= mark
    return not (placed_in_time or withdrawn_in_time)


def lot_figures(
    facts: Iterable[RequestFacts],
    *,
    lots: Sequence[str],
    unplaced_after: timedelta,
    now: datetime,
) -> list[LotFigures]:
    """One entry per lot named (in that order, with zeros where nothing was requested), then
    the total over all lots."""
    by_lot = {lot: LotFigures(lot) for lot in lots}
    total = LotFigures(None)
    for item in facts:
        entry = by_lot.setdefault(item.lot_id, LotFigures(item.lot_id))
        entry.add(item, unplaced_after, now)
        total.add(item, unplaced_after, now)
    return [*by_lot.values(), total]
