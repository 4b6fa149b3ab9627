"""The registry's records, as seeded from a file or through the API."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from gateway.protocol.jws import public_key_from_b64
from gateway.telephony.numbers import NumberError, to_e164

Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
# The digits a carer keys on the telephone to say who they are (docs/telephony.md).
CarerNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{3,10}$")]


def _phone_number(value: str) -> str:
    try:
        return to_e164(value)
    except NumberError as exc:
        raise ValueError(str(exc)) from None


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Provider(_Record):
    id: Ref
    name: str = Field(min_length=1, max_length=200)


class Council(_Record):
    id: Ref
    name: str = Field(min_length=1, max_length=200)


class Commission(_Record):
    """A council commissions a provider, optionally for one lot (area)."""

    council_id: Ref
    provider_id: Ref
    lot: str | None = Field(default=None, min_length=1, max_length=64)


class Carer(_Record):
    id: Ref
    provider_id: Ref
    name: str = Field(min_length=1, max_length=200)
    carer_number: CarerNumber | None = Field(
        default=None,
        description="Digits the carer keys when checking in by telephone; unique.",
    )


class Device(_Record):
    id: Ref
    provider_id: Ref
    public_key: str = Field(description="Ed25519 public key: 32 bytes, base64url (JWK 'x').")
    status: Literal["active", "revoked"] = "active"
    kind: Literal["handset", "telephony"] = Field(
        default="handset",
        description="A carer's handset, or the gateway's telephony bridge for the provider.",
    )

    @field_validator("public_key")
    @classmethod
    def _is_ed25519(cls, value: str) -> str:
        public_key_from_b64(value)
        return value


class ServiceUser(_Record):
    id: Ref
    name: str = Field(min_length=1, max_length=200)
    address: str | None = Field(
        default=None, max_length=300, description="The home's postal address, as people say it."
    )
    home_lat: float | None = Field(default=None, ge=-90, le=90)
    home_lon: float | None = Field(default=None, ge=-180, le=180)
    geofence_m: float = Field(default=150, gt=0)
    home_tag_uid: Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{8,20}$")] | None = None
    council_id: Ref | None = None
    landline: str | None = Field(
        default=None,
        description="The home's landline, any usual form; stored in E.164. Unique.",
    )

    @field_validator("landline")
    @classmethod
    def _landline_is_e164(cls, value: str | None) -> str | None:
        return None if value is None else _phone_number(value)


class TelephonyNumber(_Record):
    """A number carers call to check in by telephone; it answers for one provider."""

    number: str
    provider_id: Ref

    @field_validator("number")
    @classmethod
    def _number_is_e164(cls, value: str) -> str:
        return _phone_number(value)


class Lot(_Record):
    """A council's lot (area) and, from `effective_from`, who is offered its service requests:
    the lead provider first, then the additional providers, then the DPS providers, each list
    in order (docs/service-requests.md)."""

    council_id: Ref
    id: Ref
    name: str = Field(min_length=1, max_length=200)
    effective_from: date
    lead: Ref | None = None
    additional: list[Ref] = Field(default_factory=list, max_length=100)
    dps: list[Ref] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _each_provider_once(self) -> Lot:
        named = [*([self.lead] if self.lead else []), *self.additional, *self.dps]
        twice = sorted({p for p in named if named.count(p) > 1})
        if twice:
            raise ValueError(f"a provider has one role in a lot: {', '.join(twice)} named twice")
        return self

    @property
    def providers(self) -> list[str]:
        return [*([self.lead] if self.lead else []), *self.additional, *self.dps]


# Records per list in one document: larger registries are seeded in several documents.
MAX_RECORDS = 100_000


class RegistryDocument(_Record):
    """A seed file (JSON): any of the lists; records are upserted by id."""

    councils: list[Council] = Field(default=[], max_length=MAX_RECORDS)
    providers: list[Provider] = Field(default=[], max_length=MAX_RECORDS)
    commissions: list[Commission] = Field(default=[], max_length=MAX_RECORDS)
    carers: list[Carer] = Field(default=[], max_length=MAX_RECORDS)
    devices: list[Device] = Field(default=[], max_length=MAX_RECORDS)
    service_users: list[ServiceUser] = Field(default=[], max_length=MAX_RECORDS)
    telephony_numbers: list[TelephonyNumber] = Field(default=[], max_length=MAX_RECORDS)
    lots: list[Lot] = Field(default=[], max_length=MAX_RECORDS)


class SeedCounts(BaseModel):
    councils: int = 0
    providers: int = 0
    commissions: int = 0
    carers: int = 0
    devices: int = 0
    service_users: int = 0
    telephony_numbers: int = 0
    lots: int = 0
