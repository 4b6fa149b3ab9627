"""Council reconciliation: provider invoice lines checked against verified visits and contract
rules (docs/reconciliation.md). The engine is pure; formats and the command sit around it."""

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
from reconciliation.engine import Reconciliation, reconcile
from reconciliation.records import (
    ActualKey,
    ActualVisit,
    InvoiceLine,
    LineResult,
    Outcome,
    PlannedVisit,
    Reason,
    Verification,
)

__all__ = [
    "ActualKey",
    "ActualVisit",
    "Contract",
    "ContractError",
    "ContractKind",
    "InvoiceLine",
    "LineResult",
    "Outcome",
    "Period",
    "PlannedVisit",
    "ProviderTerms",
    "Reason",
    "Reconciliation",
    "Rounding",
    "Rules",
    "UnverifiedPolicy",
    "Verification",
    "reconcile",
]
