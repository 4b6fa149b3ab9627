"""Totals of a reconciliation: overall, per provider and per lot (a provider's `lot`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from reconciliation.contract import Contract
from reconciliation.engine import Reconciliation
from reconciliation.records import ActualVisit, Outcome

NO_LOT = "(no lot)"


@dataclass(slots=True)
class Totals:
    lines: int = 0
    claimed: Decimal = Decimal("0.00")
    payable: Decimal = Decimal("0.00")  # what the lines pay
    block: Decimal = Decimal("0.00")  # block payments, due whatever was delivered
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    unbilled_visits: int = 0
    uncommissioned_lines: int = 0

    def add(self, other: Totals) -> None:
        self.lines += other.lines
        self.claimed += other.claimed
        self.payable += other.payable
        self.block += other.block
        self.outcomes.update(other.outcomes)
        self.unbilled_visits += other.unbilled_visits
        self.uncommissioned_lines += other.uncommissioned_lines

    @property
    def variance(self) -> Decimal:
        """Claimed minus payable on the lines (block payments are not claimed on lines)."""
        return self.claimed - self.payable

    @property
    def due(self) -> Decimal:
        return self.payable + self.block


@dataclass(frozen=True, slots=True)
class Summary:
    overall: Totals
    providers: dict[str, Totals]  # sorted by provider ref
    lots: dict[str, Totals]  # sorted by lot


def summarize(
    result: Reconciliation, contract: Contract, actuals: Sequence[ActualVisit]
) -> Summary:
    providers: dict[str, Totals] = {}

    def of(provider_ref: str) -> Totals:
        totals = providers.get(provider_ref)
        if totals is None:
            totals = providers[provider_ref] = Totals()
        return totals

    for line_result in result.lines:
        totals = of(line_result.line.provider_ref)
        totals.lines += 1
        totals.claimed += line_result.line.amount_claimed
        totals.payable += line_result.payable_amount
        totals.outcomes[line_result.outcome] += 1
        totals.uncommissioned_lines += line_result.uncommissioned
    for index in result.unbilled:
        of(actuals[index].provider_ref).unbilled_visits += 1
    for provider_ref, weeks in result.blocks.items():
        of(provider_ref).block += sum((week.payment for week in weeks), Decimal("0.00"))

    # Lots and the whole run add up their providers.
    overall = Totals()
    lots: dict[str, Totals] = {}
    for provider_ref, totals in providers.items():
        terms = contract.providers.get(provider_ref)
        lot = (terms.lot if terms else "") or NO_LOT
        for bucket in (overall, lots.setdefault(lot, Totals())):
            bucket.add(totals)
    return Summary(overall, dict(sorted(providers.items())), dict(sorted(lots.items())))
