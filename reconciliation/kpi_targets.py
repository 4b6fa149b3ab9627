"""KPI targets of a council's contract and the red, amber or green a figure earns against them.

contract.toml may carry a `[kpi_targets]` table (docs/reconciliation.md): for each measure a
green and an amber threshold, as shares from 0 to 1. For the shares where more is better
(on_time_15, delivered_minutes, verified) a figure at or above green is green, at or above
amber is amber, else red; for `missed` (the share of planned visits missed) less is better: at
or below green is green, at or below amber is amber, else red. A measure the contract does not
set uses the default below, and the page says so."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from reconciliation.contract import ContractError


@dataclass(frozen=True)
class Target:
    measure: str
    label: str
    green: float
    amber: float
    higher_is_better: bool
    from_contract: bool = False

    def rag(self, value: float | None) -> str | None:
        """ "green", "amber" or "red"; None when there is no figure (no visits)."""
        if value is None:
            return None
        if self.higher_is_better:
            return "green" if value >= self.green else "amber" if value >= self.amber else "red"
        return "green" if value <= self.green else "amber" if value <= self.amber else "red"


DEFAULT_TARGETS = {
    "on_time_15": Target("on_time_15", "Visits started within 15 minutes", 0.90, 0.80, True),
    "delivered_minutes": Target("delivered_minutes", "Planned minutes delivered", 0.95, 0.90, True),
    "verified": Target("verified", "Visits verified by the home's tag or code", 0.90, 0.75, True),
    "missed": Target("missed", "Planned visits missed", 0.01, 0.03, False),
}
RAG_WORDS = {"green": "On target", "amber": "Near target", "red": "Below target"}


def _share(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ContractError(f"{where} must be a number from 0 to 1")
    number = float(value)
    if not 0 <= number <= 1:
        raise ContractError(f"{where} must be a number from 0 to 1")
    return number


def parse_targets(raw: Any) -> dict[str, Target]:
    """The `[kpi_targets]` table over the defaults; ContractError when it is wrong."""
    targets = dict(DEFAULT_TARGETS)
    if raw is None:
        return targets
    if not isinstance(raw, dict):
        raise ContractError("kpi_targets must be a table ([kpi_targets])")
    for measure, value in raw.items():
        where = f"[kpi_targets] {measure}"
        default = DEFAULT_TARGETS.get(measure)
        if default is None:
            raise ContractError(f"{where}: unknown measure ({', '.join(DEFAULT_TARGETS)})")
        if not isinstance(value, dict) or set(value) != {"green", "amber"}:
            raise ContractError(f"{where} must be {{ green = ..., amber = ... }}")
        green, amber = (
            _share(value["green"], f"{where}.green"),
            _share(value["amber"], f"{where}.amber"),
        )
        if (green < amber) if default.higher_is_better else (green > amber):
            better = "above" if default.higher_is_better else "below"
            raise ContractError(f"{where}: green must be at or {better} amber")
        targets[measure] = replace(default, green=green, amber=amber, from_contract=True)
    return targets


def targets_of(contract_text: str | None) -> dict[str, Target]:
    """The targets of a stored contract.toml (already validated when it was uploaded); the
    defaults when there is no contract."""
    if contract_text is None:
        return dict(DEFAULT_TARGETS)
    try:
        data = tomllib.loads(contract_text)
        return parse_targets(data.get("kpi_targets"))
    except (tomllib.TOMLDecodeError, ContractError):
        return dict(DEFAULT_TARGETS)
