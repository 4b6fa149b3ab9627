"""Request dependencies: settings, the request's transaction, and the authentication seam."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine

from api.errors import Forbidden, NotFound
from ecm.settings import Settings

ADMIN = "admin"


def get_app_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def get_engine(request: Request) -> Engine:
    return cast(Engine, request.app.state.engine)


def get_connection(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    """The request's one transaction: committed when the endpoint returns, rolled back when it
    raises. Services below never commit."""
    with engine.begin() as conn:
        yield conn


@dataclass(frozen=True)
class Principal:
    """Who is calling. `provider_id` set means the caller sees that provider only."""

    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)
    provider_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles


ANONYMOUS_ADMIN = Principal(subject="anonymous", roles=frozenset({ADMIN}))


async def current_principal() -> Principal:
    # Authentication seam: sign-in arrives in a later issue and replaces only this function;
    # every endpoint already asks for a principal and checks it.
    return ANONYMOUS_ADMIN


def can_read_provider(principal: Principal, provider_id: str) -> bool:
    if principal.provider_id is not None:
        return principal.provider_id == provider_id
    return principal.is_admin


def ensure_can_read_provider(principal: Principal, provider_id: str) -> None:
    # Not 403: a provider the caller may not see is indistinguishable from one that is absent.
    if not can_read_provider(principal, provider_id):
        raise NotFound(f"provider {provider_id} not found")


def ensure_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("administrators only")


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
# scope="function": commit before the response is sent, so a failed commit is never a 200.
ConnDep = Annotated[Connection, Depends(get_connection, scope="function")]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
