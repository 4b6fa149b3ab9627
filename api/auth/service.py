"""Sign-in: check the rate limit, verify the password, record the attempt, issue a token."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from api.auth import accounts, rate_limit, tokens
from api.auth.passwords import burn_time_like_a_verify, verify_password
from api.errors import Unauthorized
from core.settings import Settings


class AccessToken(BaseModel):
    access_token: str = Field(examples=["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."])
    token_type: str = Field(default="bearer", examples=["bearer"])
    expires_in: int = Field(description="Seconds until the token expires.", examples=[900])


def sign_in(
    engine: Engine, settings: Settings, username: str, password: str, client_addr: str
) -> AccessToken:
    # Its own transaction, not the request's: a failed attempt must be recorded even though
    # the request ends in an error.
    with engine.begin() as conn:
        rate_limit.check(conn, settings, username, client_addr)
        account = accounts.find_account(conn, username)
        if account is None:
            burn_time_like_a_verify(password)
            succeeded = False
        else:
            succeeded = verify_password(accounts.password_hash_of(conn, account.id), password)
            succeeded = succeeded and account.active
        rate_limit.record(conn, username, client_addr, succeeded=succeeded)
    if account is None or not succeeded:
        # One message for unknown user, wrong password and disabled account alike.
        raise Unauthorized("wrong user name or password", code="invalid_credentials")
    token, ttl = tokens.issue(
        settings,
        user_id=account.id,
        username=account.username,
        role=account.role,
        tenant=account.tenant,
    )
    return AccessToken(access_token=token, expires_in=ttl)
