"""Council thresholds for lateness, missed visits and correction approval.

A council_policy row overrides the settings' defaults for that council's service users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import Connection

from core.settings import Settings
from visits import policy_store
from visits.days import LONDON


@dataclass(frozen=True)
class Policy:
    late_after: timedelta
    missed_cutoff: time
    correction_approval_minutes: int

    def missed_deadline(self, planned_start: datetime, next_start: datetime | None) -> datetime:
        """Not started before the next planned visit of the home, nor by the daily cut-off
        (local time on the planned day; the next day's when the visit is planned after it)."""
        local = planned_start.astimezone(LONDON)
        cutoff = datetime.combine(local.date(), self.missed_cutoff, LONDON)
        if cutoff <= planned_start:
            cutoff = datetime.combine(local.date() + timedelta(days=1), self.missed_cutoff, LONDON)
        if next_start is not None and next_start < cutoff:
            return next_start
        return cutoff


@dataclass(frozen=True)
class PolicyBook:
    default: Policy
    by_council: dict[str, Policy]

    def for_council(self, council_id: str | None) -> Policy:
        if council_id is None:
            return self.default
        return self.by_council.get(council_id, self.default)


def default_policy(settings: Settings) -> Policy:
    return Policy(
        late_after=timedelta(minutes=settings.visits_late_after_minutes),
        missed_cutoff=time.fromisoformat(settings.visits_missed_cutoff),
        correction_approval_minutes=settings.visits_correction_approval_minutes,
    )


def load_policies(conn: Connection, settings: Settings) -> PolicyBook:
    rows = policy_store.council_policies(conn)
    return PolicyBook(
        default=default_policy(settings),
        by_council={
            council_id: Policy(timedelta(minutes=late), cutoff, approval)
            for council_id, late, cutoff, approval in rows
        },
    )


def set_policy(
    conn: Connection,
    council_id: str,
    *,
    late_after_minutes: int,
    missed_cutoff: time,
    correction_approval_minutes: int,
) -> None:
    policy_store.upsert_policy(
        conn, council_id, late_after_minutes, missed_cutoff, correction_approval_minutes
    )
