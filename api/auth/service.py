"""Sign-in and password resets: throttle, verify off the request path, record, issue a token.

Each step that touches the database is a short transaction of its own, not the request's: a
failed attempt must stay recorded although the request ends in an error, and no database
connection is held while a password is being verified."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from api.auth import repository, throttle, tokens
from api.auth.passwords import HashingBusy, PasswordWorkers, check_length, password_workers
from api.errors import Unauthorized, Unavailable, Unprocessable
from core.settings import Settings


class AccessToken(BaseModel):
    access_token: str = Field(examples=["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."])
    token_type: str = Field(default="bearer", examples=["bearer"])
    expires_in: int = Field(description="Seconds until the token expires.", examples=[900])


def printable(username: str) -> str:
    """A name as the attempt records it: PostgreSQL text cannot hold NUL, and no account name
    has one, so such a name simply matches no account."""
    return username.replace("\x00", "\ufffd")


def workers_for(settings: Settings) -> PasswordWorkers:
    return password_workers(
        settings.password_workers,
        settings.password_queue_max,
        settings.password_worker_nice,
        settings.password_worker_cpus,
    )


def _busy(exc: HashingBusy) -> Unavailable:
    return Unavailable(str(exc), code="sign_in_busy", headers={"Retry-After": "1"})


def sign_in(
    engine: Engine,
    settings: Settings,
    username: str,
    password: str,
    client_addr: str,
    *,
    now: datetime | None = None,
) -> AccessToken:
    now = now or datetime.now(UTC)
    username = printable(username)
    with engine.begin() as conn:
        attempt = throttle.admit(conn, settings, username, client_addr, now)
        account = repository.find_account(conn, username)
        stored_hash = repository.password_hash_of(conn, account.id) if account else None
    try:
        matches = workers_for(settings).verify(stored_hash, password)
    except HashingBusy as exc:
        raise _busy(exc) from exc
    if account is None or not matches or not account.active:
        # One message for unknown user, wrong password, disabled or reset account alike.
        raise Unauthorized("wrong user name or password", code="invalid_credentials")
    with engine.begin() as conn:
        throttle.succeeded(conn, attempt)
    token, ttl = tokens.issue(
        settings,
        user_id=account.id,
        username=account.username,
        role=account.role,
        tenant=account.tenant,
        generation=account.token_generation,
    )
    return AccessToken(access_token=token, expires_in=ttl)


def _same(stored: str | None, given: str) -> bool:
    return stored is not None and hmac.compare_digest(stored, given)


def complete_password_reset(
    engine: Engine,
    settings: Settings,
    username: str,
    reset_code: str,
    new_password: str,
    client_addr: str,
    *,
    now: datetime | None = None,
) -> None:
    """Set a new password with the one-time code an administrator's forced reset gave out.
    Throttled like a sign-in: a code is a password that works once."""
    now = now or datetime.now(UTC)
    try:
        check_length(new_password)
    except ValueError as exc:
        raise Unprocessable(str(exc), code="password_too_short") from exc
    username = printable(username)
    with engine.begin() as conn:
        attempt = throttle.admit(conn, settings, username, client_addr, now)
        account = repository.find_account(conn, username)
        digest, expires_at = repository.reset_code_of(conn, account.id) if account else (None, None)
    # Every candidate is compared (no early exit), so the time taken says nothing.
    matching = [g for g in repository.code_digests(reset_code) if _same(digest, g)]
    given = matching[0] if matching else ""
    valid = (
        account is not None
        and account.active
        and digest is not None
        and expires_at is not None
        and expires_at > now
        and bool(matching)
    )
    if account is None or not valid:
        raise Unauthorized("wrong user name or reset code", code="invalid_credentials")
    try:
        new_hash = workers_for(settings).hash(new_password)
    except HashingBusy as exc:
        raise _busy(exc) from exc
    with engine.begin() as conn:
        # Only while the code is still the one checked: two uses of one code set one password.
        if not repository.set_password(conn, account.id, new_hash, reset_digest=given):
            raise Unauthorized("wrong user name or reset code", code="invalid_credentials")
        throttle.succeeded(conn, attempt)
