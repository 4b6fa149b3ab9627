"""The filters every provider-scoped event or visit query takes, checked once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from api.deps import PrincipalDep, ensure_can_read_provider
from api.events.schemas import EventScope
from api.times import LondonDate, london_day


def event_scope(
    provider_id: str,
    principal: PrincipalDep,
    day: LondonDate = None,
    service_user_id: str | None = None,
    carer_id: str | None = None,
) -> EventScope:
    ensure_can_read_provider(principal, provider_id)
    return EventScope(
        provider_id,
        carer_id=carer_id,
        service_user_id=service_user_id,
        window=london_day(day) if day is not None else None,
    )


# Resolving it checks that the caller may read the provider: endpoints cannot forget to.
EventScopeDep = Annotated[EventScope, Depends(event_scope)]
