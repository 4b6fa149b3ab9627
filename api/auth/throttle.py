"""Sign-in throttling that strangers cannot turn against the account's owner.

Failures are counted per (account, client address) pair, not per account: someone guessing a
council officer's password from their own address slows down only themselves, and the officer,
signing in from an address without recent failures, signs in as usual. After
`ECM_LOGIN_FREE_FAILURES` (3) failures of a pair since its last success, each further attempt
must wait a delay that doubles with every failure: `ECM_LOGIN_FIRST_DELAY_S` (1 s), 2 s, 4 s, ...
up to `ECM_LOGIN_MAX_DELAY_S` (15 min). One address trying many accounts (password spraying) is
slowed the same way after `ECM_LOGIN_FREE_FAILURES_PER_CLIENT` (20) failures whatever the
account. Failures older than `ECM_LOGIN_WINDOW_S` (a day) no longer count.

A throttled attempt is answered 429 with Retry-After (seconds until the next attempt may be
made), is not verified and is not counted: waiting out the delay is all it takes. Every attempt
is recorded as a failure before the password is checked and turned into a success after, so
concurrent guesses from one pair (serialised by an advisory lock) see each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from api.auth import repository
from api.auth.repository import Failures
from api.errors import TooManyRequests
from core.settings import Settings


@dataclass(frozen=True)
class Delays:
    """Free failures, then a delay doubling from `first_s` up to `max_s`."""

    free_failures: int
    first_s: float
    max_s: float

    def after(self, failures: int) -> float:
        if failures < self.free_failures:
            return 0.0
        exponent = min(failures - self.free_failures, 62)
        return float(min(self.max_s, self.first_s * 2**exponent))

    def retry_after(self, failures: Failures, now: datetime) -> float:
        """Seconds until the next attempt is allowed (0: now)."""
        if failures.latest is None:
            return 0.0
        allowed_at = failures.latest + timedelta(seconds=self.after(failures.count))
        return max(0.0, (allowed_at - now).total_seconds())


def pair_delays(settings: Settings) -> Delays:
    return Delays(
        settings.login_free_failures, settings.login_first_delay_s, settings.login_max_delay_s
    )


def address_delays(settings: Settings) -> Delays:
    return Delays(
        settings.login_free_failures_per_client,
        settings.login_first_delay_s,
        settings.login_max_delay_s,
    )


def admit(
    conn: Connection, settings: Settings, username: str, client_addr: str, now: datetime
) -> int:
    """Refuse the attempt with 429 while its pair or its address must wait; otherwise record it
    (as a failure until proven otherwise) and return its id."""
    repository.lock_pair(conn, username, client_addr)
    since = now - timedelta(seconds=settings.login_window_s)
    for delays, failures, whom in (
        (
            pair_delays(settings),
            repository.pair_failures(conn, username, client_addr, since),
            "this account from this address",
        ),
        (
            address_delays(settings),
            repository.address_failures(conn, client_addr, since),
            "this address",
        ),
    ):
        wait_s = delays.retry_after(failures, now)
        if wait_s > 0:
            raise TooManyRequests(
                f"too many failed sign-ins for {whom}; try again in {math.ceil(wait_s)} s",
                retry_after_s=max(1, math.ceil(wait_s)),
            )
    return repository.record_attempt(conn, username, client_addr, now, succeeded=False)


def succeeded(conn: Connection, attempt_id: int) -> None:
    repository.mark_succeeded(conn, attempt_id)
