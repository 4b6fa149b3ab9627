"""The reconciliation API's shapes: the domain's results (reconciliation.views), as they go on
the wire."""

from __future__ import annotations

from reconciliation.records import Outcome
from reconciliation.views import (
    ContractVersion,
    InputProblem,
    Invoice,
    LineChange,
    LineEvidence,
    LineState,
    Run,
    RunComparison,
    RunInvoice,
    RunLine,
    RunLineDetail,
    RunLinePage,
    RunList,
    RunListItem,
    RunRequest,
    RunSummary,
    Totals,
    UnbilledVisit,
)

__all__ = [
    "ContractVersion",
    "InputProblem",
    "Invoice",
    "LineChange",
    "LineEvidence",
    "LineState",
    "Outcome",
    "Run",
    "RunComparison",
    "RunInvoice",
    "RunLine",
    "RunLineDetail",
    "RunLinePage",
    "RunList",
    "RunListItem",
    "RunRequest",
    "RunSummary",
    "Totals",
    "UnbilledVisit",
]
