"""Sign-in rate limit, kept in login_attempt so it holds across API processes and restarts.

Within a sliding window (ECM_LOGIN_WINDOW_S, 15 min by default) an account accepts at most
ECM_LOGIN_MAX_FAILURES_PER_ACCOUNT failed sign-ins since its last success (5), and one client
address at most ECM_LOGIN_MAX_FAILURES_PER_CLIENT failures whatever the account (20). Past
either, sign-in answers 429 with Retry-After until the oldest counted failure leaves the window.
Concurrent attempts may overshoot a limit by the number in flight; the limit is for guessing,
which needs thousands of tries.
"""

from __future__ import annotations

import math

from sqlalchemy import Connection, text

from api.errors import TooManyRequests
from core.settings import Settings

_ACCOUNT_FAILURES = text(
    """
    select count(*), extract(epoch from min(at) + make_interval(secs => :window) - now())
    from login_attempt
    where lower(username) = lower(:username) and not succeeded
      and at > now() - make_interval(secs => :window)
      and at > coalesce(
          (select max(at) from login_attempt
           where lower(username) = lower(:username) and succeeded),
          '-infinity')
    """
)
_CLIENT_FAILURES = text(
    """
    select count(*), extract(epoch from min(at) + make_interval(secs => :window) - now())
    from login_attempt
    where client_addr = :client and not succeeded and at > now() - make_interval(secs => :window)
    """
)


def check(conn: Connection, settings: Settings, username: str, client_addr: str) -> None:
    window = settings.login_window_s
    for query, params, limit, whom in (
        (
            _ACCOUNT_FAILURES,
            {"username": username},
            settings.login_max_failures_per_account,
            "account",
        ),
        (
            _CLIENT_FAILURES,
            {"client": client_addr},
            settings.login_max_failures_per_client,
            "address",
        ),
    ):
        failures, retry_after = conn.execute(query, {**params, "window": window}).one()
        if failures >= limit:
            raise TooManyRequests(
                f"too many failed sign-ins for this {whom}; try again later",
                retry_after_s=max(1, math.ceil(float(retry_after or window))),
            )


def record(conn: Connection, username: str, client_addr: str, *, succeeded: bool) -> None:
    conn.execute(
        text(
            "insert into login_attempt (username, client_addr, succeeded) "
            "values (:username, :client, :succeeded)"
        ),
        {"username": username[:128], "client": client_addr, "succeeded": succeeded},
    )
