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
    overall = Totals()
    providers: dict[str, Totals] = {}
    lots: dict[str, Totals] = {}

    def buckets(provider_ref: str) -> tuple[Totals, Totals, Totals]:
        terms = contract.providers.get(provider_ref)
        lot = (terms.lot if terms else "") or NO_LOT
        by_provider = providers.get(provider_ref)
        if by_provider is None:
            by_provider = providers[provider_ref] = Totals()
        by_lot = lots.get(lot)
        if by_lot is None:
            by_lot = lots[lot] = Totals()
        return overall, by_provider, by_lot

    for line_result in result.lines:
        line = line_result.line
        for totals in buckets(line.provider_ref):
            totals.lines += 1
            totals.claimed += line.amount_claimed
            totals.payable += line_result.payable_amount
            totals.outcomes[line_result.outcome] += 1
            totals.uncommissioned_lines += line_result.uncommissioned
    for index in result.unbilled:
        for totals in buckets(actuals[index].provider_ref):
            totals.unbilled_visits += 1
    for provider_ref, weeks in result.blocks.items():
        payment = sum((week.payment for week in weeks), Decimal("0.00"))
        for totals in buckets(provider_ref):
            totals.block += payment
    return Summary(overall, dict(sorted(providers.items())), dict(sorted(lots.items())))
