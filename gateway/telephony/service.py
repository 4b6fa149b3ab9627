"""Registering what the telephone check-in needs: carers' PINs, homes' landlines, the numbers
carers call. Used by `ecm telephony ...` and the API; callers own the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from core.access import Scope
from core.errors import NotFound, Unprocessable
from gateway.registry import repository as registry
from gateway.telephony import repository
from gateway.telephony.numbers import NumberError, to_e164
from gateway.telephony.pins import PinError, PinHasher, check_pin, generate_pin


class TelephonyError(ValueError):
    """A registration the registry cannot take (an unknown carer, a malformed number)."""


class UnknownRecord(TelephonyError):
    pass


@dataclass(frozen=True)
class PinSet:
    carer_id: str
    set_at: datetime
    # Only when the PIN was generated here: shown this once, stored only hashed.
    pin: str | None


def set_carer_pin(
    conn: Connection, pins: PinHasher, carer_id: str, pin: str | None, set_by: str
) -> PinSet:
    if repository.carer_provider(conn, carer_id) is None:
        raise UnknownRecord(f"carer {carer_id!r} is not registered")
    chosen = pin is not None
    pin = pin if pin is not None else generate_pin()
    try:
        check_pin(pin)
    except PinError as exc:
        raise TelephonyError(str(exc)) from None
    set_at = repository.set_pin(conn, carer_id, pins.hash(carer_id, pin), set_by)
    return PinSet(carer_id, set_at, None if chosen else pin)


def set_pin_as(
    conn: Connection, scope: Scope, pins: PinHasher, carer_id: str, pin: str | None
) -> PinSet:
    """Set a PIN over the API: administrators, and the manager of the carer's own provider;
    anyone else is told the carer does not exist (404), as for any record of another tenant."""
    provider_id = repository.carer_provider(conn, carer_id)
    allowed = scope.is_admin or (provider_id is not None and scope.provider_id == provider_id)
    if provider_id is None or not allowed:
        raise NotFound(f"carer {carer_id} not found")
    try:
        return set_carer_pin(conn, pins, carer_id, pin, scope.subject)
    except TelephonyError as exc:
        raise Unprocessable(str(exc), code="pin_invalid") from exc


def set_landline(conn: Connection, service_user_id: str, number: str | None) -> str | None:
    landline = _e164(number) if number else None
    if not repository.set_landline(conn, service_user_id, landline):
        raise UnknownRecord(f"service user {service_user_id!r} is not registered")
    return landline


def add_number(conn: Connection, number: str, provider_id: str) -> str:
    if registry.get_provider(conn, provider_id) is None:
        raise UnknownRecord(f"provider {provider_id!r} is not registered")
    e164 = _e164(number)
    repository.add_number(conn, e164, provider_id)
    return e164


def _e164(number: str) -> str:
    try:
        return to_e164(number)
    except NumberError as exc:
        raise TelephonyError(str(exc)) from None
