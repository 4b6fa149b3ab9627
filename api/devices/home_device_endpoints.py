"""Home evidence devices over HTTP: program a home's SUN tag or one-time-code fob. Administrators
only.

The keys are generated here, stored sealed under the master key, and returned in this one
response for whoever programs the tag or fob; like `ecm homes provision-*` (docs/evidence.md).
A home has one active tag and one active fob: provisioning another retires the previous one, so
its taps and codes stop counting.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.deps import ConnDep, PrincipalDep, SettingsDep, ensure_admin
from api.errors import ERROR_RESPONSES, NotFound, error_response
from gateway.evidence.keys import KeyRing
from gateway.homes import (
    HomeDeviceError,
    ProgrammedFob,
    ProgrammedTag,
    new_fob,
    new_tag,
    otpauth_uri,
    store_fob,
    store_tag,
)

router = APIRouter(
    tags=["home devices"],
    responses={
        **ERROR_RESPONSES,
        403: error_response("Administrators only."),
        404: error_response("No such service user in the registry."),
    },
)

ServiceUserId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$", examples=["SU0042"])]


class TagRequest(BaseModel):
    uid: str | None = Field(
        default=None,
        pattern=r"^[0-9A-Fa-f]{14}$",
        description="The tag's 7-byte UID as hex, read off the tag. Default: one is made up "
        "(for a simulated tag).",
    )


class CodeDeviceRequest(BaseModel):
    digits: int = Field(default=8, ge=6, le=10)
    step_s: int = Field(default=30, ge=1, le=300, description="Seconds per code.")


class ProgrammedCodeDevice(ProgrammedFob):
    otpauth_uri: str = Field(description="The secret as a fob programmer or app reads it.")


@router.post("/service-users/{service_user_id}/tag", response_model=ProgrammedTag, status_code=201)
def provision_tag(
    service_user_id: ServiceUserId,
    conn: ConnDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    body: TagRequest | None = None,
) -> ProgrammedTag:
    """Generate the home's NTAG 424 DNA SUN keys and return them once, to program the tag."""
    ensure_admin(principal)
    tag = new_tag(service_user_id, body.uid if body else None)
    try:
        store_tag(conn, KeyRing(settings.master_key), tag)
    except HomeDeviceError as exc:
        raise NotFound(str(exc)) from None
    return tag


@router.post(
    "/service-users/{service_user_id}/code-device",
    response_model=ProgrammedCodeDevice,
    status_code=201,
)
def provision_code_device(
    service_user_id: ServiceUserId,
    conn: ConnDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    body: CodeDeviceRequest | None = None,
) -> ProgrammedCodeDevice:
    """Generate the home's one-time-code fob secret (TOTP) and return it once."""
    ensure_admin(principal)
    request = body or CodeDeviceRequest()
    fob = new_fob(service_user_id, request.digits, request.step_s)
    try:
        store_fob(conn, KeyRing(settings.master_key), fob)
    except HomeDeviceError as exc:
        raise NotFound(str(exc)) from None
    return ProgrammedCodeDevice(**fob.model_dump(), otpauth_uri=otpauth_uri(fob))
