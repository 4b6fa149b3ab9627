"""People and passwords: the administrators' list of accounts with "Force a password reset", and
the signed-out page where a person sets a new password with the one-time code.

The same services as the API's POST /users/{username}/password-reset and POST
/auth/password-reset (api.auth): the forced reset is audited by the request's principal like
every portal change, and setting a password is throttled exactly like signing in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection, Engine

from api.auth import accounts
from api.auth.passwords import MIN_LENGTH
from api.auth.service import complete_password_reset
from api.deps import (
    ClockDep,
    ConnDep,
    PrincipalDep,
    SettingsDep,
    client_address,
    ensure_admin,
    get_engine,
)
from api.errors import Conflict, NotFound, TooManyRequests, Unauthorized, Unavailable, Unprocessable
from api.portal.pages import ROLE_NAMES, london_time, page

router = APIRouter()

SET_PASSWORD_PATH = "/portal/set-password"
EXPIRY_FORM = "%-d %B %Y at %H:%M"


@dataclass(frozen=True)
class Person:
    username: str
    role: str
    tenant: str
    active: bool
    reset_until: str  # London time the outstanding reset code expires; "" when none

    @property
    def status(self) -> str:
        if not self.active:
            return "Disabled"
        if self.reset_until:
            return "Waiting for a new password"
        return "Active"


def people(conn: Connection, now: datetime) -> list[Person]:
    pending = accounts.pending_resets(conn)
    found = []
    for account in accounts.list_accounts(conn):
        until = pending.get(account.id)
        tenant = (
            f"Provider {account.provider_id}"
            if account.provider_id
            else f"Council {account.council_id}"
            if account.council_id
            else "All councils and providers"
        )
        found.append(
            Person(
                username=account.username,
                role=ROLE_NAMES.get(account.role.value, account.role.value),
                tenant=tenant,
                active=account.active,
                reset_until=london_time(until, EXPIRY_FORM) if until and until > now else "",
            )
        )
    return found


def _account(conn: Connection, username: str) -> accounts.Account:
    account = accounts.find_account(conn, username)
    if account is None:
        raise NotFound(f"there is no account named {username}")
    return account


DISABLED = (
    "{username}'s account is disabled, so it cannot be given a reset code: nobody can sign in "
    "to a disabled account."
)


def _refuse_disabled(account: accounts.Account) -> None:
    if not account.active:
        raise Conflict(DISABLED.format(username=account.username))


@router.get("/people", response_class=HTMLResponse)
def people_page(
    request: Request, conn: ConnDep, principal: PrincipalDep, clock: ClockDep
) -> HTMLResponse:
    ensure_admin(principal)
    return page(request, "people.html", principal, people=people(conn, clock()))


@router.get("/people/{username}/password-reset", response_class=HTMLResponse)
def confirm_reset_page(
    request: Request, username: str, conn: ConnDep, principal: PrincipalDep
) -> HTMLResponse:
    """The confirm step: what a forced reset does, before it is done."""
    ensure_admin(principal)
    account = _account(conn, username)
    _refuse_disabled(account)
    return page(request, "password_reset_confirm.html", principal, username=account.username)


@router.post("/people/{username}/password-reset", response_class=HTMLResponse)
def force_reset(
    request: Request,
    username: str,
    conn: ConnDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> HTMLResponse:
    """Force the reset and show the code, once: it is not stored and cannot be shown again."""
    ensure_admin(principal)
    account = _account(conn, username)
    _refuse_disabled(account)
    try:
        reset = accounts.force_password_reset(
            conn, username, clock(), settings.password_reset_ttl_s
        )
    except accounts.AccountDisabled as exc:  # disabled since the check above
        raise Conflict(DISABLED.format(username=account.username)) from exc
    except accounts.AccountError as exc:
        raise NotFound(f"there is no account named {username}") from exc
    return page(
        request,
        "password_reset_code.html",
        principal,
        username=reset.username,
        code=reset.reset_code,
        expires=london_time(reset.expires_at, EXPIRY_FORM),
    )


# --- signed out: setting a new password with the code ----------------------------------------


def _set_password_form(
    request: Request,
    *,
    status_code: int = 200,
    error: str | None = None,
    username: str = "",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return page(
        request,
        "set_password.html",
        status_code=status_code,
        headers=headers,
        error=error,
        username=username,
        min_length=MIN_LENGTH,
    )


@router.get("/set-password", response_class=HTMLResponse)
def set_password_page(request: Request) -> HTMLResponse:
    return _set_password_form(request)


@router.post("/set-password", response_class=HTMLResponse)
def set_password(
    request: Request,
    username: Annotated[str, Form(max_length=128)],
    reset_code: Annotated[str, Form(max_length=128)],
    new_password: Annotated[str, Form(max_length=1024)],
    confirm_password: Annotated[str, Form(max_length=1024)],
    settings: SettingsDep,
    engine: Annotated[Engine, Depends(get_engine)],
) -> HTMLResponse:
    from api.portal.endpoints import lock_out_message  # the sign-in page's own wording

    if new_password != confirm_password:
        return _set_password_form(
            request,
            status_code=422,
            username=username,
            error="The two passwords are not the same. Type the new password twice, exactly.",
        )
    if len(new_password) < MIN_LENGTH:
        return _set_password_form(
            request,
            status_code=422,
            username=username,
            error=f"The new password is too short: it needs at least {MIN_LENGTH} characters. "
            "A few ordinary words in a row make a good one.",
        )
    try:
        complete_password_reset(
            engine, settings, username, reset_code, new_password, client_address(request)
        )
    except Unauthorized as exc:
        return _set_password_form(
            request,
            status_code=exc.status_code,
            username=username,
            error="That user name and reset code do not match, or the code has expired or "
            "has been used. Check both, or ask an administrator for a new code.",
        )
    except TooManyRequests as exc:
        message = lock_out_message((exc.headers or {}).get("Retry-After"))
        return _set_password_form(
            request,
            status_code=exc.status_code,
            username=username,
            error=message.replace("failed sign-ins", "failed attempts"),
            headers=exc.headers,
        )
    except (Unprocessable, Unavailable) as exc:
        return _set_password_form(
            request,
            status_code=exc.status_code,
            username=username,
            error="Your password could not be set just now. Please try again in a minute."
            if isinstance(exc, Unavailable)
            else exc.message,
            headers=exc.headers,
        )
    return page(request, "password_set.html", username=username)
