"""The cascade: in what order a lot's providers are offered a request, and what happens when
an offer is answered or its deadline passes.

The lead provider first, alone. Then the additional providers, either one at a time in the
lineup's order or all at once (the council's setting); then the DPS providers the same way.
A stage ends when its offers are all answered or expired; if nobody accepted, the next stage
is offered, and after the last one the request is unplaced. The first acceptance places the
request and closes every other offer still open. Pure functions: the service applies them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from commissioning.model import CascadeMode, Lineup, LotRole, Offer, OfferStatus, Policy, Stage


def cascade_plan(lineup: Lineup, policy: Policy) -> tuple[Stage, ...]:
    stages: list[Stage] = []
    if lineup.lead is not None:
        stages.append(Stage(LotRole.LEAD, (lineup.lead,)))
    stages += _group(LotRole.ADDITIONAL, lineup.additional, policy.additional_mode)
    stages += _group(LotRole.DPS, lineup.dps, policy.dps_mode)
    return tuple(stages)


def _group(role: LotRole, providers: tuple[str, ...], mode: CascadeMode) -> list[Stage]:
    if not providers:
        return []
    if mode is CascadeMode.ALL_AT_ONCE:
        return [Stage(role, providers)]
    return [Stage(role, (provider,)) for provider in providers]


@dataclass(frozen=True)
class Wait:
    """Offers of the current stage are still open: nothing to do yet."""


@dataclass(frozen=True)
class OfferStage:
    """Offer the request to the providers of stage `index`."""

    index: int
    stage: Stage


@dataclass(frozen=True)
class Unplaced:
    """Every stage has said no: the request waits for the council."""


Next = Wait | OfferStage | Unplaced


def after_stage(plan: Sequence[Stage], index: int, stage_offers: Sequence[Offer]) -> Next:
    """What follows once an offer of stage `index` was declined or expired. An accepted offer
    is not this function's business: acceptance places the request at once."""
    if any(offer.status is OfferStatus.OPEN for offer in stage_offers):
        return Wait()
    following = index + 1
    if following < len(plan):
        return OfferStage(following, plan[following])
    return Unplaced()


def first_stage(plan: Sequence[Stage]) -> Next:
    return OfferStage(0, plan[0]) if plan else Unplaced()


def due(offers: Sequence[Offer], now: datetime) -> list[Offer]:
    """Open offers whose deadline has passed: they expire."""
    return [o for o in offers if o.status is OfferStatus.OPEN and o.deadline <= now]


def still_answerable(offer: Offer, now: datetime) -> bool:
    """An offer may be accepted or declined while it is open and before its deadline; at the
    deadline it has expired, whether or not a pass has marked it yet."""
    return offer.status is OfferStatus.OPEN and now < offer.deadline
