"""PUT /carers/{carer_id}/telephone-pin: an administrator, or the carer's own provider, sets
the PIN the carer keys when checking in by telephone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from api.deps import ConnDep, PrincipalDep, SettingsDep
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES, NotFound, Unprocessable
from api.telephony.schemas import TelephonePin, TelephonePinSet
from gateway.telephony import repository
from gateway.telephony.pins import PinHasher
from gateway.telephony.service import TelephonyError, set_carer_pin

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
    provider_id = repository.carer_provider(conn, carer_id)
    allowed = principal.is_admin or (
        provider_id is not None and principal.provider_id == provider_id
    )
    if provider_id is None or not allowed:
        raise NotFound(f"carer {carer_id} not found")
    try:
        result = set_carer_pin(
            conn, PinHasher(settings.master_key), carer_id, body.pin, principal.subject
        )
    except TelephonyError as exc:
        raise Unprocessable(str(exc), code="pin_invalid") from exc
    return TelephonePinSet(carer_id=result.carer_id, set_at=result.set_at, pin=result.pin)
