from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from api.auth import accounts
from api.auth.service import AccessToken, complete_password_reset, sign_in
from api.deps import (
    ClockDep,
    ConnDep,
    PrincipalDep,
    SettingsDep,
    client_address,
    ensure_admin,
    get_engine,
)
from api.errors import ERROR_RESPONSES, Conflict, NotFound, error_response

router = APIRouter(tags=["auth"], responses=ERROR_RESPONSES)


class Me(BaseModel):
    username: str = Field(examples=["ann.officer"])
    role: str = Field(examples=["council_officer"])
    council_id: str | None = Field(default=None, examples=["C-NORFOLK"])
    provider_id: str | None = Field(default=None, examples=[None])
    provider_ids: list[str] = Field(
        default_factory=list, description="Providers the caller's council commissions."
    )


class PasswordReset(BaseModel):
    username: str = Field(examples=["ann.officer"])
    reset_code: str = Field(
        description="Give this to the account's owner (once; it is not stored). With it they "
        "set a new password at POST /auth/password-reset.",
        examples=["K7QM-3XTR-9PWD-HN4C-ZE6B"],
    )
    expires_at: datetime = Field(examples=["2026-11-24T09:00:00Z"])


class PasswordSet(BaseModel):
    username: str = Field(examples=["ann.officer"])
    password_set: bool = Field(
        default=True, description="The new password is in force; sign in with it."
    )


THROTTLED = error_response(
    "Too many failed attempts from this address (for this account); see Retry-After."
)
BUSY = error_response("Too many sign-ins waiting for a password check; see Retry-After.")


@router.post(
    "/auth/token",
    response_model=AccessToken,
    summary="Sign in (OAuth2 password flow)",
    responses={
        401: error_response("Wrong user name or password, or the account is disabled."),
        429: THROTTLED,
        503: BUSY,
    },
)
def issue_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    settings: SettingsDep,
    clock: ClockDep,
    engine: Annotated[Engine, Depends(get_engine)],
) -> AccessToken:
    """Exchange a user name and password for a short-lived bearer access token (JWT).

    Send it as `Authorization: Bearer <token>` on every other request. Failed attempts slow
    down further attempts from the same address (429 with Retry-After), never the account's
    owner signing in from elsewhere."""
    return sign_in(
        engine, settings, form.username, form.password, client_address(request), now=clock()
    )


@router.post(
    "/auth/password-reset",
    response_model=PasswordSet,
    summary="Set a new password with a reset code",
    responses={
        401: error_response("Wrong user name or reset code, or the code has expired."),
        429: THROTTLED,
        503: BUSY,
    },
)
def reset_password(
    request: Request,
    username: Annotated[str, Form(max_length=128)],
    reset_code: Annotated[str, Form(max_length=128)],
    new_password: Annotated[str, Form(max_length=1024)],
    settings: SettingsDep,
    clock: ClockDep,
    engine: Annotated[Engine, Depends(get_engine)],
) -> PasswordSet:
    """Complete a reset an administrator forced (`POST /users/{username}/password-reset` or
    `ecm users reset-password`): the one-time code and a new password of at least 12
    characters. Then sign in with the new password. Throttled like sign-in."""
    complete_password_reset(
        engine,
        settings,
        username,
        reset_code,
        new_password,
        client_address(request),
        now=clock(),
    )
    return PasswordSet(username=username)


@router.post(
    "/users/{username}/password-reset",
    response_model=PasswordReset,
    summary="Force a password reset (administrators)",
    responses={
        404: error_response("No such user."),
        403: error_response("Administrators only."),
        409: error_response("The account is disabled: no reset code is given for it."),
    },
)
def force_password_reset(
    username: str, conn: ConnDep, principal: PrincipalDep, settings: SettingsDep, clock: ClockDep
) -> PasswordReset:
    """End the account's password and every token it holds now, and return a one-time code
    (valid `ECM_PASSWORD_RESET_TTL_S`, a day) for its owner to set a new one. The code is 20
    capitals and digits in groups of four, without 0, O, 1, I or L; hyphens, spaces and case
    are ignored when it is typed back. A disabled account is refused (409)."""
    ensure_admin(principal)
    try:
        reset = accounts.force_password_reset(
            conn, username, clock(), settings.password_reset_ttl_s
        )
    except accounts.AccountDisabled as exc:
        raise Conflict(
            f"user {username} is disabled: a disabled account cannot be given a reset code",
            code="account_disabled",
        ) from exc
    except accounts.AccountError as exc:
        raise NotFound(f"user {username} not found") from exc
    return PasswordReset(
        username=reset.username, reset_code=reset.reset_code, expires_at=reset.expires_at
    )


@router.get("/auth/me", response_model=Me, summary="Who the token belongs to")
def who_am_i(principal: PrincipalDep) -> Me:
    """The signed-in account's role and tenant, as the server sees them now."""
    return Me(
        username=principal.subject,
        role=principal.role,
        council_id=principal.council_id,
        provider_id=principal.provider_id,
        provider_ids=sorted(principal.provider_ids),
    )
