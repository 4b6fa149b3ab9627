"""What a council's stored reconciliation answers with: contract versions, invoices, runs, their
lines and the evidence behind them. The API sends them as they are (api.reconciliation.schemas
re-exports them)."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, Field

from core.times import UtcDatetime
from core.vocabulary import Verification
from reconciliation.records import Outcome


class ContractVersion(BaseModel):
    council_id: str
    version: int
    sha256: str
    uploaded_by: str
    uploaded_at: UtcDatetime
    content: str = Field(description="The contract.toml text, as uploaded.")


class InputProblem(BaseModel):
    file: str
    line: int
    reason: str


class Invoice(BaseModel):
    id: int
    council_id: str
    name: str
    sha256: str
    lines: int = Field(description="Lines read; rows with problems are not counted.")
    problems: list[InputProblem]
    uploaded_by: str
    uploaded_at: UtcDatetime


class RunRequest(BaseModel):
    invoice_ids: list[int] = Field(
        min_length=1, max_length=100, description="Invoices, in the order their lines are taken."
    )
    period_start: date | None = Field(
        default=None, description="With period_end: overrides the contract's period."
    )
    period_end: date | None = None


class Totals(BaseModel):
    lines: int
    claimed: Decimal
    payable: Decimal
    variance: Decimal
    block: Decimal
    due: Decimal
    outcomes: dict[str, int]
    unbilled_visits: int
    uncommissioned_lines: int


class RunSummary(BaseModel):
    overall: Totals
    providers: dict[str, Totals]
    lots: dict[str, Totals]


class RunInvoice(BaseModel):
    id: int
    name: str
    sha256: str


class Run(BaseModel):
    id: int
    council_id: str
    contract_version: int
    contract_sha256: str
    engine_version: str
    rules_version: str = Field(description="contract sha256 and engine version together.")
    period_start: date | None
    period_end: date | None
    schedule_sha256: str = Field(description="SHA-256 of the planned visits as schedule.csv.")
    actuals_sha256: str = Field(description="SHA-256 of the verified visits as actuals.csv.")
    invoices: list[RunInvoice]
    problems: list[InputProblem]
    summary: RunSummary
    run_by: str
    run_at: UtcDatetime
    paid_by: str | None
    paid_at: UtcDatetime | None


class RunListItem(BaseModel):
    id: int
    contract_version: int
    period_start: date | None
    period_end: date | None
    lines: int
    claimed: Decimal
    payable: Decimal
    run_by: str
    run_at: UtcDatetime
    paid_at: UtcDatetime | None


class RunList(BaseModel):
    items: list[RunListItem]
    next_offset: int | None


class RunLine(BaseModel):
    position: int = Field(description="1-based row of the line in report.csv.")
    invoice_id: int
    invoice_ref: str
    line_no: int
    provider_ref: str
    service_user_ref: str
    visit_date: date
    start: time
    end: time
    minutes_claimed: int
    carers: int
    amount_claimed: Decimal
    outcome: Outcome
    reason_code: str | None
    payable_minutes: int
    payable_amount: Decimal
    matched_visit: str
    carers_verified: int
    actual_minutes: int
    uncommissioned: bool


class RunLinePage(BaseModel):
    items: list[RunLine]
    next_offset: int | None


class LineEvidence(BaseModel):
    visit_id: UUID
    segment_id: UUID
    carer_ref: str
    check_in: UtcDatetime
    check_out: UtcDatetime
    verification: Verification
    event_ids: list[UUID] = Field(description="The check-in and check-out events of the stay.")


class RunLineDetail(RunLine):
    evidence: list[LineEvidence]


class UnbilledVisit(BaseModel):
    visit_id: UUID
    provider_ref: str
    service_user_ref: str
    carer_ref: str
    check_in: UtcDatetime
    check_out: UtcDatetime
    verification: Verification


class LineState(BaseModel):
    outcome: Outcome
    reason_code: str | None
    payable_minutes: int
    payable_amount: Decimal


class LineChange(BaseModel):
    invoice_ref: str
    line_no: int
    before: LineState | None = Field(description="None: the line is only in the later run.")
    after: LineState | None = Field(description="None: the line is only in the earlier run.")


class RunComparison(BaseModel):
    run_id: int
    other_run_id: int
    changes: list[LineChange]
