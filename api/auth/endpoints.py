from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from api.auth.service import AccessToken, sign_in
from api.deps import PrincipalDep, SettingsDep, client_address, get_engine
from api.errors import ERROR_RESPONSES, error_response

router = APIRouter(tags=["auth"], responses=ERROR_RESPONSES)


class Me(BaseModel):
    username: str = Field(examples=["ann.officer"])
    role: str = Field(examples=["council_officer"])
    council_id: str | None = Field(default=None, examples=["C-NORFOLK"])
    provider_id: str | None = Field(default=None, examples=[None])
    provider_ids: list[str] = Field(
        default_factory=list, description="Providers the caller's council commissions."
    )


@router.post(
    "/auth/token",
    response_model=AccessToken,
    summary="Sign in (OAuth2 password flow)",
    responses={
        401: error_response("Wrong user name or password, or the account is disabled."),
        429: error_response("Too many failed sign-ins; see Retry-After."),
    },
)
def issue_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    settings: SettingsDep,
    engine: Annotated[Engine, Depends(get_engine)],
) -> AccessToken:
    """Exchange a user name and password for a short-lived bearer access token (JWT).

    Send it as `Authorization: Bearer <token>` on every other request."""
    return sign_in(engine, settings, form.username, form.password, client_address(request))


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
