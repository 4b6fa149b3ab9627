"""The cascade's order and its steps, as pure rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from commissioning.cascade import (
    OfferStage,
    Unplaced,
    Wait,
    after_stage,
    cascade_plan,
    due,
    first_stage,
    still_answerable,
)
from commissioning.model import (
    CascadeMode,
    Lineup,
    LotRole,
    Offer,
    OfferStatus,
    Policy,
    Stage,
)

LINEUP = Lineup(lead="L", additional=("A1", "A2"), dps=("D1", "D2"))
NOW = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


def offer(provider: str, status: OfferStatus, stage: int = 0) -> Offer:
    return Offer(
        id=1,
        request_id=1,
        provider_id=provider,
        role=LotRole.LEAD,
        stage=stage,
        round=0,
        offered_at=NOW,
        deadline=NOW + timedelta(hours=24),
        status=status,
        decided_at=None,
        decided_by=None,
        decline_reason=None,
        decline_note=None,
        first_viewed_at=None,
        views=0,
    )


def test_lead_then_additional_one_at_a_time_then_dps_all_at_once() -> None:
    assert cascade_plan(LINEUP, Policy()) == (
        Stage(LotRole.LEAD, ("L",)),
        Stage(LotRole.ADDITIONAL, ("A1",)),
        Stage(LotRole.ADDITIONAL, ("A2",)),
        Stage(LotRole.DPS, ("D1", "D2")),
    )


def test_additional_all_at_once_and_dps_one_at_a_time() -> None:
    policy = Policy(additional_mode=CascadeMode.ALL_AT_ONCE, dps_mode=CascadeMode.ONE_AT_A_TIME)
    assert cascade_plan(LINEUP, policy) == (
        Stage(LotRole.LEAD, ("L",)),
        Stage(LotRole.ADDITIONAL, ("A1", "A2")),
        Stage(LotRole.DPS, ("D1",)),
        Stage(LotRole.DPS, ("D2",)),
    )


def test_a_lot_without_a_lead_starts_with_the_additional_providers() -> None:
    plan = cascade_plan(Lineup(lead=None, additional=("A1",)), Policy())
    assert plan == (Stage(LotRole.ADDITIONAL, ("A1",)),)
    assert first_stage(()) == Unplaced()


def test_a_stage_waits_for_every_offer_then_moves_on() -> None:
    plan = cascade_plan(LINEUP, Policy(dps_mode=CascadeMode.ALL_AT_ONCE))
    assert after_stage(plan, 0, [offer("L", OfferStatus.DECLINED)]) == OfferStage(1, plan[1])
    both = [offer("D1", OfferStatus.DECLINED, 3), offer("D2", OfferStatus.OPEN, 3)]
    assert after_stage(plan, 3, both) == Wait()
    both[1] = replace(both[1], status=OfferStatus.EXPIRED)
    assert after_stage(plan, 3, both) == Unplaced()


def test_an_offer_expires_at_its_deadline_not_before() -> None:
    open_offer = offer("L", OfferStatus.OPEN)
    deadline = open_offer.deadline
    assert due([open_offer], deadline - timedelta(seconds=1)) == []
    assert due([open_offer], deadline) == [open_offer]
    assert still_answerable(open_offer, deadline - timedelta(microseconds=1))
    assert not still_answerable(open_offer, deadline)
    assert not still_answerable(replace(open_offer, status=OfferStatus.DECLINED), NOW)
