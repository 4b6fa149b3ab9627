"""What an invoice line's outcome and reason mean, in the words a finance officer reads
(docs/reconciliation.md "Rules for one invoice line" defines them)."""

from __future__ import annotations

from reconciliation.records import Outcome, Reason

OUTCOME_WORDS = {
    Outcome.APPROVED: "Approved",
    Outcome.ADJUSTED: "Adjusted",
    Outcome.HELD: "Held",
    Outcome.REJECTED: "Rejected",
}

REASON_WORDS = {
    Reason.NO_VISIT: "No visit recorded at that time",
    Reason.DUPLICATE_CLAIM: "The visit was already claimed",
    Reason.UNVERIFIED: "The visit was not verified at the home",
    Reason.UNPLANNED: "The visit was not in the schedule",
    Reason.CARERS_MISMATCH: "Fewer carers were there than claimed",
    Reason.OVER_CLAIM_MINUTES: "More minutes claimed than delivered",
    Reason.RATE_MISMATCH: "The amount does not match the contract rate",
}


def outcome_words(outcome: str) -> str:
    try:
        return OUTCOME_WORDS[Outcome(outcome)]
    except ValueError:
        return outcome


def reason_words(reason_code: str | None) -> str:
    """The reason in words; "" for none (an approved line)."""
    if not reason_code:
        return ""
    try:
        return REASON_WORDS[Reason(reason_code)]
    except ValueError:
        return reason_code
