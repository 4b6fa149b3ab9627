"""Handset certificates over HTTP: provision or re-issue, revoke, list. Administrators only.

A certificate's private key and PKCS#12 password appear in one response and are never stored:
whoever provisions passes them to the phone (docs/identity.md).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.deps import ConnDep, PrincipalDep, SettingsDep, ensure_admin
from api.errors import (
    ERROR_RESPONSES,
    Conflict,
    DomainError,
    NotFound,
    Unavailable,
    error_response,
)
from gateway.pki.authority import (
    CertificateAuthority,
    IssuedCertificate,
    PkiError,
    generate_password,
)
from gateway.pki.broker import BrokerAccessError
from gateway.pki.devices import (
    CertificateRecord,
    DeviceCertificateError,
    DeviceCertificates,
    DeviceNotFound,
    list_certificates,
)
from gateway.registry.repository import device_exists

router = APIRouter(
    tags=["devices"],
    responses={
        **ERROR_RESPONSES,
        403: error_response("Administrators only."),
        404: error_response("No such device in the registry."),
        409: error_response("The device's certificates do not allow this change."),
    },
)

# A malformed id is a malformed request (422), never a registry lookup.
DeviceId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$", examples=["D0001"])]


class IssuedCertificateOut(BaseModel):
    device_id: str
    serial: str = Field(description="Decimal serial number (X.509 serials exceed 64 bits).")
    not_after: datetime
    certificate_pem: str
    private_key_pem: str
    ca_pem: str
    pkcs12_base64: str = Field(description="Key, certificate and CA, encrypted with the password.")
    pkcs12_password: str
    revoked_serials: list[str] = Field(default_factory=list)


class CertificateOut(BaseModel):
    serial: str
    fingerprint_sha256: str
    issued_at: datetime
    not_after: datetime
    revoked_at: datetime | None
    reason: str | None
    live: bool


class CertificateList(BaseModel):
    device_id: str
    items: list[CertificateOut]


class IssueIn(BaseModel):
    pkcs12_password: str | None = Field(
        default=None, min_length=8, description="Default: generated and returned once."
    )


class RevokeIn(BaseModel):
    reason: str = Field(default="revoked", pattern=r"^[a-z_]{1,32}$")


class Revoked(BaseModel):
    device_id: str
    revoked: int


def _certificates(settings: SettingsDep) -> DeviceCertificates:
    return DeviceCertificates(settings, role="api")


def _translate(exc: Exception) -> DomainError:
    if isinstance(exc, DeviceNotFound):
        return NotFound(str(exc))
    if isinstance(exc, BrokerAccessError):
        return Unavailable(f"the broker did not take the change: {exc}")
    return Conflict(str(exc))


def _issued_out(
    device_id: str,
    issued: IssuedCertificate,
    ca: CertificateAuthority,
    revoked: list[str],
    password: str,
) -> IssuedCertificateOut:
    return IssuedCertificateOut(
        device_id=device_id,
        serial=str(issued.serial),
        not_after=issued.not_after,
        certificate_pem=issued.cert_pem,
        private_key_pem=issued.key_pem,
        ca_pem=ca.cert_pem,
        pkcs12_base64=base64.b64encode(issued.pkcs12(password, ca.certificate)).decode(),
        pkcs12_password=password,
        revoked_serials=revoked,
    )


@router.post(
    "/devices/{device_id}/certificate",
    response_model=IssuedCertificateOut,
    responses={503: error_response("The broker did not take the change.")},
)
def issue_certificate(
    device_id: DeviceId,
    conn: ConnDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    body: IssueIn | None = None,
) -> IssuedCertificateOut:
    """Provision the device, or re-issue: a live certificate is revoked and its session dropped."""
    ensure_admin(principal)
    certificates = _certificates(settings)
    try:
        before = [r for r in list_certificates(conn, device_id) if r.live]
        if before:
            issued = certificates.reissue(conn, device_id)
        else:
            issued = certificates.provision(conn, device_id)
        ca = certificates.authority()
    except (DeviceCertificateError, PkiError, BrokerAccessError) as exc:
        raise _translate(exc) from None
    password = (body.pkcs12_password if body else None) or generate_password()
    return _issued_out(device_id, issued, ca, [str(r.serial) for r in before], password)


@router.post(
    "/devices/{device_id}/revoke",
    response_model=Revoked,
    responses={503: error_response("The broker did not take the change.")},
)
def revoke_device(
    device_id: DeviceId,
    conn: ConnDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    body: RevokeIn | None = None,
) -> Revoked:
    """Revoke every live certificate, mark the device revoked, and drop its broker session."""
    ensure_admin(principal)
    reason = body.reason if body else "revoked"
    try:
        count = _certificates(settings).revoke(conn, device_id, reason)
    except (DeviceCertificateError, PkiError, BrokerAccessError) as exc:
        raise _translate(exc) from None
    return Revoked(device_id=device_id, revoked=count)


def _out(record: CertificateRecord) -> CertificateOut:
    return CertificateOut(
        serial=str(record.serial),
        fingerprint_sha256=record.fingerprint_sha256,
        issued_at=record.issued_at,
        not_after=record.not_after,
        revoked_at=record.revoked_at,
        reason=record.reason,
        live=record.live,
    )


@router.get("/devices/{device_id}/certificates", response_model=CertificateList)
def get_certificates(
    device_id: DeviceId, conn: ConnDep, principal: PrincipalDep
) -> CertificateList:
    """Every certificate the device was issued, live or revoked, newest last."""
    ensure_admin(principal)
    records = list_certificates(conn, device_id)
    if not records and not device_exists(conn, device_id):
        raise NotFound(f"device {device_id} is not in the registry")
    return CertificateList(device_id=device_id, items=[_out(r) for r in records])
