"""Request dependencies: settings, the request's transaction, and who is calling.

Every endpoint that reads or changes data asks for a `Principal`. Resolving it authenticates the
bearer token (or the portal's session cookie), loads the account's role and tenant from the
database, and, once the endpoint has succeeded, appends the request to the audit trail inside
the request's own transaction: a read or change and its audit entry commit together or not at
all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection, Engine

from api.audit import chain
from api.auth import accounts, tokens
from api.auth import client as auth_client
from api.errors import Forbidden, NotFound, Unauthorized
from api.portal.paths import SESSION_COOKIE
from core.access import Role, Scope
from core.settings import Settings
from visits.freshness import VisitFreshness

ADMIN = Role.ADMINISTRATOR.value
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_app_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def get_clock(request: Request) -> Callable[[], datetime]:
    return cast(Callable[[], datetime], request.app.state.clock)


def get_engine(request: Request) -> Engine:
    return cast(Engine, request.app.state.engine)


def get_freshness(request: Request) -> VisitFreshness:
    return cast(VisitFreshness, request.app.state.freshness)


def get_connection(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    """The request's one transaction: committed when the endpoint returns, rolled back when it
    raises. Services below never commit."""
    with engine.begin() as conn:
        yield conn


# Who is calling, as the domains take it (core.access.Scope), built from the token below.
Principal = Scope

# auto_error=False: a missing token is answered with the API's own 401 body.
bearer_token = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def request_id(request: Request) -> str:
    return cast(str, getattr(request.state, "request_id", None) or uuid.uuid4().hex)


def client_address(request: Request) -> str:
    # X-Forwarded-For only from the configured proxies (api.auth.client).
    return auth_client.client_address(request, get_app_settings(request).trusted_proxies)


def authenticate(conn: Connection, settings: Settings, token: str) -> Principal:
    try:
        claims = tokens.decode(settings, token)
    except tokens.InvalidToken as exc:
        raise Unauthorized(str(exc), code="invalid_token") from exc
    # Role and tenant come from the database, not the token: a disabled account or a changed
    # commission takes effect at once, not when the token expires.
    account = accounts.account_for_token(conn, claims)
    if account is None:
        raise Unauthorized(
            "the account is disabled, no longer exists, or its password was reset since",
            code="invalid_token",
        )
    provider_ids: frozenset[str] = frozenset()
    if account.council_id is not None:
        provider_ids = accounts.commissioned_providers(conn, account.council_id)
    return Principal(
        subject=account.username,
        roles=frozenset({account.role.value}),
        provider_id=account.provider_id,
        council_id=account.council_id,
        provider_ids=provider_ids,
    )


def current_principal(
    request: Request,
    conn: Annotated[Connection, Depends(get_connection, scope="function")],
    settings: Annotated[Settings, Depends(get_app_settings)],
    token: Annotated[str | None, Depends(bearer_token)],
) -> Iterator[Principal]:
    raw = token or request.cookies.get(SESSION_COOKIE)
    if not raw:
        raise Unauthorized("sign in first: POST /auth/token", code="not_authenticated")
    principal = authenticate(conn, settings, raw)
    yield principal
    # Reached only when the endpoint succeeded; same transaction as the endpoint's work.
    chain.append(
        conn,
        actor=principal.subject,
        role=principal.role,
        tenant=principal.tenant,
        action="read" if request.method in SAFE_METHODS else "change",
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        client_addr=client_address(request),
        request_id=request_id(request),
    )


def can_read_provider(principal: Principal, provider_id: str) -> bool:
    return principal.can_read_provider(provider_id)


def ensure_can_read_provider(principal: Principal, provider_id: str) -> None:
    # Not 403: a provider the caller may not see is indistinguishable from one that is absent.
    if not can_read_provider(principal, provider_id):
        raise NotFound(f"provider {provider_id} not found")


def ensure_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("administrators only")


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ClockDep = Annotated[Callable[[], datetime], Depends(get_clock)]
FreshnessDep = Annotated[VisitFreshness, Depends(get_freshness)]
# scope="function": commit before the response is sent, so a failed commit is never a 200.
ConnDep = Annotated[Connection, Depends(get_connection, scope="function")]
# scope="function" too: the audit entry is written after the endpoint, before that commit.
PrincipalDep = Annotated[Principal, Depends(current_principal, scope="function")]
