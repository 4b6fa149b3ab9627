"""The reconciliation engine: one outcome per invoice line, exactly as docs/reconciliation.md
defines it (steps 1-9), plus the contract extras (bank holidays, block contracts, roll-over).

Pure and deterministic: records in, records out, no I/O and no clock. Lines are taken in input
order; that order decides only which of two claims on the same visit is the duplicate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from reconciliation.block import BlockLedger, BlockWeek
from reconciliation.contract import (
    Contract,
    ContractError,
    ContractKind,
    Period,
    Rules,
    UnverifiedPolicy,
)
from reconciliation.matching import (
    MINUTE_US,
    ActualIndex,
    ScheduleIndex,
    local_instant_us,
)
from reconciliation.pricing import (
    amount_for,
    apply_minimum,
    billable_minutes,
    day_uplift,
    round_to_unit,
)
from reconciliation.records import (
    ActualKey,
    ActualVisit,
    InvoiceLine,
    LineResult,
    Outcome,
    PlannedVisit,
    Reason,
)

ZERO = Decimal("0.00")
PROGRESS_EVERY = 10_000

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Reconciliation:
    lines: list[LineResult]
    # Indices of verified actual visits in the period that no line (here or in a paid run) used.
    unbilled: list[int]
    period: Period | None
    blocks: dict[str, list[BlockWeek]] = field(default_factory=dict)


@dataclass(slots=True)
class _Assessed:
    """A line that reached step 6: what steps 1-5 found."""

    position: int
    commissioned: bool
    actual_minutes: int
    billable: int
    carers_verified: int
    matched_visit: str
    used: tuple[int, ...]
    rounded: int = 0


def default_period(lines: Sequence[InvoiceLine], index: ActualIndex) -> Period | None:
    days = [line.visit_date for line in lines] or index.day
    return Period(min(days), max(days)) if days else None


def reconcile(
    contract: Contract,
    planned: Sequence[PlannedVisit],
    actuals: Sequence[ActualVisit],
    lines: Sequence[InvoiceLine],
    already_claimed: Collection[ActualKey] = frozenset(),
    progress: Progress | None = None,
) -> Reconciliation:
    """Reconcile invoice lines (in input order) against actual and planned visits.

    already_claimed: actual visits used by lines of earlier paid runs (their claims make any
    line on them here a DUPLICATE_CLAIM). progress: called with counts of lines done.
    """
    missing = sorted({line.provider_ref for line in lines} - contract.providers.keys())
    if missing:
        raise ContractError(f"no contract terms for provider(s): {', '.join(missing)}")
    rules = contract.rules
    actual_index = ActualIndex(actuals)
    schedule = ScheduleIndex(planned)
    used: set[int] = set()
    if already_claimed:
        claimed = set(already_claimed)
        used = {i for i, actual in enumerate(actuals) if actual.key in claimed}
    paid_before = frozenset(used)

    results: list[LineResult | None] = [None] * len(lines)
    assessed = _assess(lines, actual_index, schedule, rules, used, results, progress)
    period = contract.period or default_period(lines, actual_index)
    blocks = _block_ledgers(contract, period)
    _settle(assessed, lines, contract, blocks, results)
    if progress is not None and lines:
        progress(len(lines) % PROGRESS_EVERY or PROGRESS_EVERY)

    unbilled = (
        [
            i
            for i, verified in enumerate(actual_index.verified)
            if verified and i not in used and i not in paid_before and actual_index.day[i] in period
        ]
        if period is not None
        else []
    )
    done = [result for result in results if result is not None]
    if len(done) != len(lines):
        raise RuntimeError("a line was left without an outcome")
    return Reconciliation(
        done, unbilled, period, {ref: ledger.weeks() for ref, ledger in sorted(blocks.items())}
    )


def _assess(
    lines: Sequence[InvoiceLine],
    actual_index: ActualIndex,
    schedule: ScheduleIndex,
    rules: Rules,
    used: set[int],
    results: list[LineResult | None],
    progress: Progress | None,
) -> list[_Assessed]:
    """Steps 1-5 for every line in input order. Held and rejected lines get their result here;
    the others come back for pricing. `used` collects the actual rows lines take."""
    assessed: list[_Assessed] = []
    # Locals: this loop runs once per line, up to a million times.
    buckets = actual_index.buckets
    check_in, check_out = actual_index.check_in, actual_index.check_out
    carer_of, verified = actual_index.carer, actual_index.verified
    planned_pairs = schedule.starts
    nearest = schedule.nearest
    window = rules.match_window_minutes
    for position, line in enumerate(lines):
        if progress is not None and position and position % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
        provider, service_user, day = line.provider_ref, line.service_user_ref, line.visit_date
        commissioned = (provider, service_user) in planned_pairs

        # Step 1: candidates on the London date that overlap the claimed interval.
        bucket = buckets.get((provider, service_user, day))
        found: list[int] = []
        if bucket:
            start_us = local_instant_us(day, line.start)
            end_us = local_instant_us(day, line.end)
            found = [i for i in bucket if check_in[i] < end_us and check_out[i] > start_us]
        if not found:
            results[position] = _closed(line, commissioned, Outcome.REJECTED, Reason.NO_VISIT)
            continue
        # Step 2: one visit, one claim (across this run and earlier paid runs).
        if not used.isdisjoint(found):
            results[position] = _closed(
                line, commissioned, Outcome.REJECTED, Reason.DUPLICATE_CLAIM
            )
            continue
        used.update(found)
        evidence = tuple(found)

        # Step 3: verification. Step 4: the minutes all carers were there together: each
        # carer's span (earliest check-in to latest check-out), intersected.
        if len(found) == 1:  # the common case, without the general bookkeeping
            only = found[0]
            carers_verified = 1
            earliest = check_in[only]
            any_verified = verified[only]
            actual_minutes = (check_out[only] - earliest) // MINUTE_US
        else:
            spans: dict[str, list[int]] = {}
            for i in found:
                span = spans.get(carer_of[i])
                if span is None:
                    spans[carer_of[i]] = [check_in[i], check_out[i]]
                else:
                    span[0] = min(span[0], check_in[i])
                    span[1] = max(span[1], check_out[i])
            carers_verified = len(spans)
            earliest = min(span[0] for span in spans.values())
            any_verified = any(verified[i] for i in found)
            together_from = max(span[0] for span in spans.values())
            together_to = min(span[1] for span in spans.values())
            actual_minutes = max(0, (together_to - together_from) // MINUTE_US)
        if not any_verified:
            if rules.unverified is UnverifiedPolicy.REJECT:
                results[position] = _closed(
                    line,
                    commissioned,
                    Outcome.REJECTED,
                    Reason.UNVERIFIED,
                    "",
                    carers_verified,
                    evidence,
                )
                continue
            if rules.unverified is UnverifiedPolicy.HOLD:
                visit = nearest(provider, service_user, earliest, window)
                results[position] = _closed(
                    line,
                    commissioned,
                    Outcome.HELD,
                    Reason.UNVERIFIED,
                    visit.visit_ref if visit else "",
                    carers_verified,
                    evidence,
                )
                continue

        # Step 5: the planned visit nearest the earliest check-in, then tolerance and cap.
        visit = nearest(provider, service_user, earliest, window)
        if visit is None:
            billable = billable_minutes(actual_minutes, None, rules)
            matched = ""
        else:
            billable = billable_minutes(actual_minutes, visit.planned_minutes, rules)
            matched = visit.visit_ref
        assessed.append(
            _Assessed(
                position,
                commissioned,
                actual_minutes,
                billable,
                carers_verified,
                matched,
                evidence,
            )
        )

    return assessed


def _settle(
    assessed: list[_Assessed],
    lines: Sequence[InvoiceLine],
    contract: Contract,
    blocks: dict[str, BlockLedger],
    results: list[LineResult | None],
) -> None:
    """Steps 6-9 for the lines that reached them."""
    rules = contract.rules
    # Step 6: units (with roll-over, complete units per invoice and service user, carrying the
    # remainder forward in visit order).
    if rules.rollover:
        _round_with_rollover(assessed, lines, rules.billing_unit_minutes)
    unit, rounding, rollover = rules.billing_unit_minutes, rules.rounding, rules.rollover
    # Block draw-down goes in chronological order; everything else is order-free.
    if blocks:
        assessed.sort(key=lambda item: _chronological(lines[item.position], item.position))
    uplifts: dict[date, Decimal] = {}
    amounts: dict[tuple[int, Decimal, Decimal], Decimal] = {}
    for item in assessed:
        line = lines[item.position]
        terms = contract.providers[line.provider_ref]
        rounded = item.rounded if rollover else round_to_unit(item.billable, unit, rounding)
        rounded = apply_minimum(rounded, item.actual_minutes, rules)
        # Step 7 and 8.
        payable_minutes = min(rounded, line.minutes_claimed)
        carers_paid = min(line.carers, item.carers_verified)
        uplift = uplifts.get(line.visit_date)
        if uplift is None:
            uplift = uplifts[line.visit_date] = day_uplift(line.visit_date, rules)
        carer_minutes = payable_minutes * carers_paid
        ledger = blocks.get(line.provider_ref)
        if ledger is not None:
            priced = (ledger.draw(line.visit_date, carer_minutes), terms.extra_rate_per_hour)
        else:
            priced = (carer_minutes, terms.rate_per_hour)
        # Few distinct (minutes, rate, uplift) exist in a month: price each once.
        amount = amounts.get((*priced, uplift))
        if amount is None:
            amount = amounts[(*priced, uplift)] = amount_for(*priced, uplift)
        # Step 9.
        reason: Reason | None
        if not item.matched_visit:
            outcome, reason = Outcome.ADJUSTED, Reason.UNPLANNED
        elif payable_minutes == line.minutes_claimed and amount == line.amount_claimed:
            outcome, reason = Outcome.APPROVED, None
        else:
            outcome = Outcome.ADJUSTED
            if line.carers != item.carers_verified:
                reason = Reason.CARERS_MISMATCH
            elif payable_minutes < line.minutes_claimed:
                reason = Reason.OVER_CLAIM_MINUTES
            else:
                reason = Reason.RATE_MISMATCH
        results[item.position] = LineResult(
            line,
            outcome,
            reason,
            payable_minutes,
            amount,
            item.matched_visit,
            item.carers_verified,
            item.actual_minutes,
            item.used,
            not item.commissioned,
        )


def _closed(
    line: InvoiceLine,
    commissioned: bool,
    outcome: Outcome,
    reason: Reason,
    matched: str = "",
    carers_verified: int = 0,
    evidence: tuple[int, ...] = (),
) -> LineResult:
    """A held or rejected line: it pays nothing; the evidence it used (if any) is kept."""
    return LineResult(
        line, outcome, reason, 0, ZERO, matched, carers_verified, 0, evidence, not commissioned
    )


def _chronological(line: InvoiceLine, position: int) -> tuple[date, object, int]:
    return (line.visit_date, line.start, position)


def _round_with_rollover(
    assessed: list[_Assessed], lines: Sequence[InvoiceLine], unit: int
) -> None:
    """Complete units only; the unpaid remainder carries to the same service user's next visit
    in the same invoice (143 minutes in total bill 9 units of 15 and carry 8). A remainder
    left at the end of the invoice is not paid."""
    periods: dict[tuple[str, str, str], list[_Assessed]] = defaultdict(list)
    for item in assessed:
        line = lines[item.position]
        periods[(line.provider_ref, line.invoice_ref, line.service_user_ref)].append(item)
    for items in periods.values():
        items.sort(key=lambda item: _chronological(lines[item.position], item.position))
        carried = 0
        for item in items:
            units, carried = divmod(item.billable + carried, unit)
            item.rounded = units * unit


def _block_ledgers(contract: Contract, period: Period | None) -> dict[str, BlockLedger]:
    if period is None:
        return {}
    return {
        ref: BlockLedger(terms, period)
        for ref, terms in contract.providers.items()
        if terms.contract is ContractKind.BLOCK
    }
