"""contract.toml: a council's rules and its providers' terms, every key defaulting as documented.

Unknown keys and wrong types are refused (a typo must not silently pay at the default), all
problems at once, as UnusableInput.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from reconciliation.contract import (
    Contract,
    ContractError,
    ContractKind,
    Period,
    ProviderTerms,
    Rounding,
    Rules,
    UnverifiedPolicy,
)
from reconciliation.formats import UnusableInput, read_text
from reconciliation.kpi_targets import parse_targets

T = TypeVar("T")

_RULE_TYPES: dict[str, type] = {
    "billing_unit_minutes": int,
    "rounding": Rounding,
    "tolerance_minutes": int,
    "cap_at_planned": bool,
    "minimum_minutes": int,
    "match_window_minutes": int,
    "unverified": UnverifiedPolicy,
    "weekend_uplift": Decimal,
    "bank_holiday_uplift": Decimal,
    "rollover": bool,
}
_PROVIDER_KEYS = {"ref", "contract", "rate_per_hour", "lot", "block_hours_per_week"}
_PROVIDER_KEYS |= {"spot_rate_per_hour"}


def _typed(value: Any, kind: type, where: str) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise ContractError(f"{where}: expected true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ContractError(f"{where}: expected a whole number")
        return value
    if kind is Decimal:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise ContractError(f"{where}: expected a number")
        return Decimal(value)
    if kind in (Rounding, UnverifiedPolicy, ContractKind):
        choices: list[str] = [member.value for member in kind]
        if value not in choices:
            raise ContractError(f"{where}: expected one of {', '.join(choices)}")
        return kind(value)
    raise AssertionError(kind)


def parse_contract(text: str, name: str = "contract.toml") -> Contract:
    """contract.toml to a Contract; every key defaults as documented. Raises UnusableInput."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as error:
        raise UnusableInput([f"{name}: {error}"]) from error
    problems: list[str] = []

    def attempt(build: Callable[[], T]) -> T | None:
        try:
            return build()
        except ContractError as error:
            problems.append(f"{name}: {error}")
            return None

    for key in sorted(set(data) - {"rules", "provider", "period", "kpi_targets"}):
        problems.append(f"{name}: unknown table or key {key!r}")
    # KPI targets are the monitoring side of the contract (reconciliation.kpi_targets): the
    # engine does not read them, but a contract with wrong ones is refused like any other.
    attempt(lambda: parse_targets(data.get("kpi_targets")))
    raw_rules = data.get("rules", {})
    if not isinstance(raw_rules, dict):
        raise UnusableInput([f"{name}: rules must be a table ([rules])"])
    rule_values: dict[str, Any] = {}
    for key, value in raw_rules.items():
        if key not in _RULE_TYPES:
            problems.append(f"{name}: [rules] unknown key {key!r}")
            continue
        try:
            rule_values[key] = _typed(value, _RULE_TYPES[key], f"[rules] {key}")
        except ContractError as error:
            problems.append(f"{name}: {error}")
    rules = None if problems else attempt(lambda: Rules(**rule_values))

    raw_providers = data.get("provider", [])
    if not isinstance(raw_providers, list) or not all(isinstance(p, dict) for p in raw_providers):
        raise UnusableInput([f"{name}: providers must be [[provider]] tables"])

    providers: dict[str, ProviderTerms] = {}
    for number, raw in enumerate(raw_providers, start=1):
        where = f"[[provider]] #{number}"
        unknown = sorted(set(raw) - _PROVIDER_KEYS)
        if unknown:
            problems.append(f"{name}: {where} unknown key(s) {', '.join(unknown)}")
            continue
        if not isinstance(raw.get("ref"), str) or not raw["ref"].strip():
            problems.append(f"{name}: {where} needs a ref")
            continue
        ref = raw["ref"].strip()
        if ref in providers:
            problems.append(f"{name}: {where} repeats provider {ref}")
            continue
        if "rate_per_hour" not in raw:
            problems.append(f"{name}: {where} ({ref}) needs rate_per_hour")
            continue

        def terms(raw: dict[str, Any] = raw, ref: str = ref, where: str = where) -> ProviderTerms:
            spot = raw.get("spot_rate_per_hour")
            return ProviderTerms(
                ref=ref,
                contract=_typed(
                    raw.get("contract", "framework"), ContractKind, f"{where} contract"
                ),
                rate_per_hour=_typed(raw["rate_per_hour"], Decimal, f"{where} rate_per_hour"),
                lot=str(raw.get("lot", "")),
                block_hours_per_week=_typed(
                    raw.get("block_hours_per_week", 0), Decimal, f"{where} block_hours_per_week"
                ),
                spot_rate_per_hour=None
                if spot is None
                else _typed(spot, Decimal, f"{where} spot_rate_per_hour"),
            )

        built = attempt(terms)
        if built is not None:
            providers[ref] = built

    period: Period | None = None
    if "period" in data:
        raw_period = data["period"] if isinstance(data["period"], dict) else {}
        start, end = raw_period.get("start"), raw_period.get("end")
        if (
            set(raw_period) != {"start", "end"}
            or not isinstance(start, date)
            or not isinstance(end, date)
            or isinstance(start, datetime)
            or isinstance(end, datetime)
        ):
            problems.append(f"{name}: [period] needs exactly start and end as dates (2026-03-01)")
        else:
            period = attempt(lambda: Period(start, end))
    if problems or rules is None:
        raise UnusableInput(problems)
    return Contract(rules, providers, period)


def read_contract(path: Path) -> Contract:
    return parse_contract(read_text(path), str(path))
