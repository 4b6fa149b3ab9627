"""A council's payment rules (contract.toml) as typed records, with the documented defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum


class Rounding(StrEnum):
    NEAREST = "nearest"
    UP = "up"
    DOWN = "down"
    SEVEN_EIGHT = "seven_eight"


class UnverifiedPolicy(StrEnum):
    HOLD = "hold"
    REJECT = "reject"
    PAY = "pay"


class ContractKind(StrEnum):
    FRAMEWORK = "framework"
    SPOT = "spot"
    BLOCK = "block"


BILLING_UNITS = (1, 5, 15)


class ContractError(ValueError):
    """The rules cannot be used as given (a run with them would be meaningless)."""


@dataclass(frozen=True, slots=True)
class Rules:
    billing_unit_minutes: int = 15
    rounding: Rounding = Rounding.NEAREST
    tolerance_minutes: int = 5
    cap_at_planned: bool = True
    minimum_minutes: int = 0
    match_window_minutes: int = 60
    unverified: UnverifiedPolicy = UnverifiedPolicy.HOLD
    weekend_uplift: Decimal = Decimal("1.0")
    # Extras beyond the published defaults; each default leaves the published semantics unchanged.
    bank_holiday_uplift: Decimal = Decimal("1.0")
    rollover: bool = False  # complete units only, the remainder carries within the invoice

    def __post_init__(self) -> None:
        # Callers may pass plain values ("hold", 1.5): hold them as the enum and Decimal.
        try:
            object.__setattr__(self, "rounding", Rounding(self.rounding))
            object.__setattr__(self, "unverified", UnverifiedPolicy(self.unverified))
        except ValueError as error:
            raise ContractError(str(error)) from None
        for name in ("weekend_uplift", "bank_holiday_uplift"):
            object.__setattr__(self, name, Decimal(str(getattr(self, name))))
        if self.billing_unit_minutes not in BILLING_UNITS:
            raise ContractError(f"billing_unit_minutes must be one of {BILLING_UNITS}")
        if self.rounding is Rounding.SEVEN_EIGHT and self.billing_unit_minutes != 15:
            raise ContractError("rounding seven_eight needs billing_unit_minutes = 15")
        for name in ("tolerance_minutes", "minimum_minutes", "match_window_minutes"):
            if getattr(self, name) < 0:
                raise ContractError(f"{name} must not be negative")
        for name in ("weekend_uplift", "bank_holiday_uplift"):
            if getattr(self, name) <= 0:
                raise ContractError(f"{name} must be positive")


@dataclass(frozen=True, slots=True)
class ProviderTerms:
    ref: str
    contract: ContractKind
    rate_per_hour: Decimal  # block contracts: the rate the block is priced at
    lot: str = ""
    block_hours_per_week: Decimal = Decimal(0)
    spot_rate_per_hour: Decimal | None = None  # block contracts: hours beyond the block

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "contract", ContractKind(self.contract))
        except ValueError as error:
            raise ContractError(f"provider {self.ref}: {error}") from None
        if self.rate_per_hour < 0:
            raise ContractError(f"provider {self.ref}: rate_per_hour must not be negative")
        if self.contract is ContractKind.BLOCK:
            if self.block_hours_per_week <= 0:
                raise ContractError(f"provider {self.ref}: a block needs block_hours_per_week > 0")
        elif self.block_hours_per_week or self.spot_rate_per_hour is not None:
            raise ContractError(
                f"provider {self.ref}: block_hours_per_week and spot_rate_per_hour "
                "belong to block contracts"
            )

    @property
    def extra_rate_per_hour(self) -> Decimal:
        return self.rate_per_hour if self.spot_rate_per_hour is None else self.spot_rate_per_hour


@dataclass(frozen=True, slots=True)
class Period:
    """The invoice period: unbilled visits and block weeks are counted within it (inclusive)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ContractError("period end is before its start")

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class Contract:
    rules: Rules = field(default_factory=Rules)
    providers: dict[str, ProviderTerms] = field(default_factory=dict)
    period: Period | None = None  # None: from the earliest to the latest invoiced visit_date
