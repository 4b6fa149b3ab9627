"""The retention run: what each council's policy says is due, as a plan (the dry run) and then
done, one action per transaction, each recorded in retention_purge and in the audit trail.

What is due, at the run's `now` (an injectable clock):

1. **Event store slices** (monthly partitions, or TimescaleDB chunks): dropped whole when every
   event in them is past its care-record period: its service user's care ended more than their
   council's `care_records_years` ago (events naming no known service user: their device time is
   more than the longest such period ago). Their device_sequence and tag_tap rows go with them.
   A slice that also holds a record still kept stays whole; the events of people already past
   their period stay in it, pseudonymous (point 3), until the whole slice is due.
2. **Care records** of each service user past `care_records_years` after care ended: visits
   (with carers and anomalies), corrections, planned visits, alerts with their notifications and
   webhook deliveries.
3. **Registry personal data** of each service user past `registry_personal_data_years` after care
   ended: name, home location and home tag are pseudonymised, tag and fob keys wiped; the id
   stays so kept records still join up. Carers likewise, by their last visit.
4. **Quarantine raw bytes** older than `quarantine_raw_days`: the bytes go, their SHA-256 stays.
5. **Sign-in attempts** older than `login_attempt_days`: deleted.
6. **Audit entries** older than `audit_years`: removed oldest first, after a signed `purge`
   checkpoint of the last one removed (the chain then verifies from the next one).

Items 4-6 belong to no council: they use the longest period any council's policy gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection

from retention import repository
from retention.policy import DEFAULT_POLICY, DeploymentPeriods, RetentionPolicy

ACTOR = "system:retention"


class AuditTrail(Protocol):
    """The audit trail as retention uses it (api.audit provides it; retention stays below the
    API in the layering)."""

    def record(
        self, conn: Connection, *, method: str, path: str, query: str, tenant: str | None
    ) -> None: ...

    def remove_oldest(self, conn: Connection, through_id: int, now: datetime) -> int:
        """Sign a purge checkpoint of entry `through_id`, then remove entries up to it."""
        ...


@dataclass(frozen=True)
class Action:
    kind: str
    target: str
    rows: int
    detail: dict[str, Any] = field(default_factory=dict)
    council_id: str | None = None


@dataclass(frozen=True)
class Plan:
    now: datetime
    actions: list[Action]

    def total(self, kind: str) -> int:
        return sum(action.rows for action in self.actions if action.kind == kind)


def years_before(moment: datetime, years: int) -> datetime:
    """The same calendar day `years` earlier (29 February becomes 28 February)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


def years_after(moment: datetime, years: int) -> datetime:
    return years_before(moment, -years)


def plan(conn: Connection, now: datetime, defaults: RetentionPolicy = DEFAULT_POLICY) -> Plan:
    """What the policies say is due at `now`. Changes nothing (the dry run)."""
    policies = repository.policies(conn)
    # Councils without a policy of their own are in `policies` with the defaults.
    deployment = DeploymentPeriods.of(list(policies.values()) or [defaults])
    repository.load_people(conn, defaults)
    actions: list[Action] = []
    actions += _event_slices(conn, now, policies, defaults, deployment)
    for person in repository.people_records_due(conn, now):
        counts = repository.count_care_records(conn, person.service_user_id)
        actions.append(
            Action(
                "care_records",
                person.service_user_id,
                sum(counts.values()),
                {"care_ended": person.care_ended, "kept_until": person.until, **counts},
                person.council_id,
            )
        )
    for person in repository.people_registry_due(conn, now):
        actions.append(
            Action(
                "registry",
                person.service_user_id,
                1,
                {"care_ended": person.care_ended, "kept_until": person.until},
                person.council_id,
            )
        )
    carers_before = years_before(now, deployment.registry_personal_data_years)
    for carer_id in repository.carers_due(conn, carers_before):
        actions.append(Action("carer", carer_id, 1, {"last_visit_before": carers_before}))
    quarantine_before = now - timedelta(days=deployment.quarantine_raw_days)
    payloads = repository.count_quarantine_payloads(conn, quarantine_before)
    if payloads:
        actions.append(
            Action("quarantine_payloads", "quarantined_message", payloads,
                   {"received_before": quarantine_before})
        )  # fmt: skip
    login_before = now - timedelta(days=deployment.login_attempt_days)
    attempts = repository.count_login_attempts(conn, login_before)
    if attempts:
        actions.append(
            Action("login_attempts", "login_attempt", attempts, {"before": login_before})
        )
    audit_before = years_before(now, deployment.audit_years)
    oldest = repository.audit_entries_before(conn, audit_before)
    if oldest is not None:
        first_id, last_id = oldest
        actions.append(
            Action(
                "audit_entries",
                "audit_log",
                last_id - first_id + 1,
                {"first_id": first_id, "through_id": last_id, "before": audit_before},
            )
        )
    return Plan(now, actions)


def _event_slices(
    conn: Connection,
    now: datetime,
    policies: dict[str, RetentionPolicy],
    defaults: RetentionPolicy,
    deployment: DeploymentPeriods,
) -> list[Action]:
    shortest = min(p.care_records_years for p in [*policies.values(), defaults])
    # No event younger than this can be due under any policy: newer slices are not looked at.
    horizon = years_before(now, shortest)
    hypertable = repository.is_hypertable(conn)
    actions = []
    for piece in repository.event_slices(conn):
        if piece.ends > horizon:
            break
        count, _ = repository.slice_events(conn, piece)
        if count == 0:
            continue
        if repository.slice_keeps_records(conn, piece, now, deployment.care_records_years):
            if hypertable:
                break  # chunks are dropped oldest first, up to a time: stop at the first kept
            continue
        actions.append(
            Action(
                "event_slice",
                piece.table,
                count,
                {"starts": piece.starts, "ends": piece.ends, "horizon": horizon},
            )
        )
    return actions


def do(conn: Connection, action: Action, now: datetime, audit: AuditTrail, run_id: str) -> int:
    """One planned action, recorded in retention_purge and the audit trail. The caller owns the
    transaction (one per action: dropping a slice locks the event store only briefly)."""
    repository.act_as_retention_role(conn)
    rows, detail = _do(conn, action, now, audit)
    repository.record_purge(conn, run_id, now, action.kind, action.target, rows, detail)
    audit.record(
        conn,
        method="PSEUDONYMISE" if action.kind in ("registry", "carer") else "PURGE",
        path=f"/retention/{action.kind}/{action.target}",
        query=f"run={run_id}&rows={rows}",
        tenant=action.council_id,
    )
    return rows


def _do(
    conn: Connection, action: Action, now: datetime, audit: AuditTrail
) -> tuple[int, dict[str, Any]]:
    detail = dict(action.detail)
    if action.kind == "event_slice":
        piece = repository.EventSlice(action.target, detail["starts"], detail["ends"])
        detail.update(repository.delete_slice_side_tables(conn, piece))
        if repository.is_hypertable(conn):
            return repository.drop_chunks_before(conn, piece.ends), detail
        return repository.drop_partition(conn, piece.table, detail["horizon"]), detail
    if action.kind == "care_records":
        removed = repository.delete_care_records(conn, action.target, now)
        return sum(removed.values()), {**detail, **removed}
    if action.kind == "registry":
        changed = repository.pseudonymise_service_user(conn, action.target, now)
        return changed["service_user"], {**detail, **changed}
    if action.kind == "carer":
        return repository.pseudonymise_carer(conn, action.target, now), detail
    if action.kind == "quarantine_payloads":
        before = detail["received_before"]
        return repository.purge_quarantine_payloads(conn, before, now), detail
    if action.kind == "login_attempts":
        return repository.delete_login_attempts(conn, detail["before"]), detail
    if action.kind == "audit_entries":
        return audit.remove_oldest(conn, detail["through_id"], now), detail
    raise ValueError(f"unknown retention action {action.kind}")


def policy_of(conn: Connection, council_id: str) -> RetentionPolicy:
    return repository.policies(conn).get(council_id, DEFAULT_POLICY)


def set_policy(
    conn: Connection, council_id: str, policy: RetentionPolicy, by: str, now: datetime
) -> RetentionPolicy:
    repository.save_policy(conn, council_id, policy, by, now)
    return policy
