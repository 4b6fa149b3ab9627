"""PUT /carers/{carer_id}/telephone-pin: an administrator, or the carer's own provider, sets
the PIN the carer keys when checking in by telephone (docs/telephony.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from api.deps import ConnDep, PrincipalDep, SettingsDep
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES
from api.telephony.schemas import TelephonePin, TelephonePinSet
from gateway.telephony.pins import PinHasher
from gateway.telephony.service import set_pin_as

router = APIRouter(tags=["telephony"], responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSES})


@router.put("/carers/{carer_id}/telephone-pin", response_model=TelephonePinSet)
def set_pin(
    carer_id: str,
    conn: ConnDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    body: Annotated[TelephonePin, Body()] = TelephonePin(),
) -> TelephonePinSet:
    """Set the carer's telephone PIN: the one given, or six digits generated and shown in this
    answer only. The PIN is stored only as a keyed hash. Administrators, and the manager of the
    carer's provider; anyone else gets 404."""
    result = set_pin_as(conn, principal, PinHasher(settings.master_key), carer_id, body.pin)
    return TelephonePinSet(carer_id=result.carer_id, set_at=result.set_at, pin=result.pin)
