"""The engine's inputs and outputs as plain typed records.

Named tuples: immutable, and cheap enough to build by the million (a frozen dataclass costs
about five times as much per record).

The CSV reader builds them from files; a database-backed caller (the API's stored runs) builds the
same records from the store, so both reach one engine and one set of rules.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

# The verification levels are the visits' own (actuals.csv carries visit_carer.verification).
from core.vocabulary import Verification as Verification

# Evidence from the home itself; manual entries and "none" prove nothing on their own.
VERIFIED_FROM_HOME = frozenset(
    {Verification.TAG, Verification.CODE, Verification.LANDLINE, Verification.LOCATION}
)


class Outcome(StrEnum):
    APPROVED = "approved"
    ADJUSTED = "adjusted"
    HELD = "held"
    REJECTED = "rejected"


class Reason(StrEnum):
    NO_VISIT = "NO_VISIT"
    DUPLICATE_CLAIM = "DUPLICATE_CLAIM"
    UNVERIFIED = "UNVERIFIED"
    UNPLANNED = "UNPLANNED"
    CARERS_MISMATCH = "CARERS_MISMATCH"
    OVER_CLAIM_MINUTES = "OVER_CLAIM_MINUTES"
    RATE_MISMATCH = "RATE_MISMATCH"


class PlannedVisit(NamedTuple):
    """One schedule.csv row: a commissioned slot."""

    visit_ref: str
    service_user_ref: str
    provider_ref: str
    planned_start: datetime  # timezone-aware
    planned_minutes: int
    carers_required: int
    service_type: str


class ActualKey(NamedTuple):
    """What identifies one carer's actual visit across runs (DUPLICATE_CLAIM against paid runs)."""

    provider_ref: str
    service_user_ref: str
    carer_ref: str
    check_in: datetime


class ActualVisit(NamedTuple):
    """One actuals.csv row: one carer's visit as the ECM evidence shows it."""

    service_user_ref: str
    provider_ref: str
    carer_ref: str
    check_in: datetime  # timezone-aware
    check_out: datetime  # timezone-aware, not before check_in
    verification: Verification
    # Opaque link to the evidence behind the row (e.g. a stored visit id); empty from CSV.
    evidence_ref: str = ""

    @property
    def key(self) -> ActualKey:
        return ActualKey(self.provider_ref, self.service_user_ref, self.carer_ref, self.check_in)


class InvoiceLine(NamedTuple):
    """One invoice.csv row: a provider's claim for one visit."""

    invoice_ref: str
    line_no: int
    provider_ref: str
    service_user_ref: str
    visit_date: date
    start: time  # local Europe/London on visit_date
    end: time
    minutes_claimed: int
    carers: int
    amount_claimed: Decimal


class LineResult(NamedTuple):
    """The engine's answer for one invoice line (one report.csv row, plus what it rests on)."""

    line: InvoiceLine
    outcome: Outcome
    reason: Reason | None
    payable_minutes: int
    payable_amount: Decimal
    matched_visit: str  # planned visit_ref, "" when none or rejected
    carers_verified: int
    actual_minutes: int
    # Indices into the actual visits given to the engine that this line used (its evidence).
    used_actuals: tuple[int, ...]
    uncommissioned: bool  # the schedule has no visit of this provider for this service user
