"""The one test world factory: councils, providers (commissioned in a lot), carers with their
handsets, and service users' homes, built as a registry document and seeded through the real
registry.

Every test world (a single handset, a tenant for access control, a visit test's care world, the
visit build benchmark's county) is made with it, so a change to the registry's shape is made
here once. Ids default to fresh unique ones, so tests never collide in the shared database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine

from gateway.protocol import public_key_to_b64
from gateway.registry import (
    Carer,
    Commission,
    Council,
    Device,
    Lot,
    Provider,
    RegistryDocument,
    ServiceUser,
    TelephonyNumber,
    seed,
)
from tests.support.ids import unique


def tag_uid() -> str:
    """A made-up 7-byte NFC tag UID, as hex."""
    return uuid.uuid4().hex[:14].upper()


@dataclass(frozen=True)
class Handset:
    carer_id: str
    device_id: str
    key: Ed25519PrivateKey


@dataclass
class World:
    """A registry document being built; `seed` stores it (and may be called again after more
    records are added: seeding is an upsert)."""

    councils: list[Council] = field(default_factory=list)
    providers: list[Provider] = field(default_factory=list)
    commissions: list[Commission] = field(default_factory=list)
    carers: list[Carer] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    service_users: list[ServiceUser] = field(default_factory=list)
    telephony_numbers: list[TelephonyNumber] = field(default_factory=list)
    lots: list[Lot] = field(default_factory=list)

    def council(self, council_id: str | None = None, name: str = "Test Council") -> str:
        council_id = council_id or unique("CO")
        self.councils.append(Council(id=council_id, name=name))
        return council_id

    def provider(
        self,
        provider_id: str | None = None,
        *,
        name: str = "Test Care Ltd",
        council_id: str | None = None,
        lot: str | None = None,
    ) -> str:
        """A provider; with `council_id`, commissioned by that council (in `lot`)."""
        provider_id = provider_id or unique("P")
        self.providers.append(Provider(id=provider_id, name=name))
        if council_id is not None:
            self.commission(council_id, provider_id, lot=lot)
        return provider_id

    def commission(self, council_id: str, provider_id: str, *, lot: str | None = None) -> None:
        self.commissions.append(Commission(council_id=council_id, provider_id=provider_id, lot=lot))

    def handset(
        self,
        provider_id: str,
        *,
        carer_id: str | None = None,
        device_id: str | None = None,
        key: Ed25519PrivateKey | None = None,
        carer_name: str = "Ann Carer",
        carer_number: str | None = None,
    ) -> Handset:
        """A carer of the provider and the handset the carer signs events with."""
        handset = Handset(
            carer_id or unique("C"), device_id or unique("D"), key or Ed25519PrivateKey.generate()
        )
        self.carer(provider_id, carer_id=handset.carer_id, name=carer_name, number=carer_number)
        self.devices.append(
            Device(
                id=handset.device_id,
                provider_id=provider_id,
                public_key=public_key_to_b64(handset.key.public_key()),
            )
        )
        return handset

    def carer(
        self,
        provider_id: str,
        *,
        carer_id: str | None = None,
        name: str = "Ann Carer",
        number: str | None = None,
    ) -> str:
        """A carer of the provider (with the carer number keyed on the telephone, if given)."""
        carer_id = carer_id or unique("C")
        self.carers.append(
            Carer(id=carer_id, provider_id=provider_id, name=name, carer_number=number)
        )
        return carer_id

    def telephony_number(self, number: str, provider_id: str) -> None:
        """A number the provider's carers call to check in by telephone."""
        self.telephony_numbers.append(TelephonyNumber(number=number, provider_id=provider_id))

    def home(
        self,
        service_user_id: str | None = None,
        *,
        council_id: str | None = None,
        name: str = "Bea User",
        lat: float | None = 52.63,
        lon: float | None = 1.29,
        geofence_m: float = 150,
        home_tag_uid: str | None = None,
        landline: str | None = None,
    ) -> str:
        """A service user's home (with a tag UID, and a landline, when given)."""
        service_user_id = service_user_id or unique("SU")
        self.service_users.append(
            ServiceUser(
                id=service_user_id,
                name=name,
                home_lat=lat,
                home_lon=lon,
                geofence_m=geofence_m,
                home_tag_uid=home_tag_uid,
                council_id=council_id,
                landline=landline,
            )
        )
        return service_user_id

    def lot(
        self,
        council_id: str,
        lot_id: str | None = None,
        *,
        name: str = "North",
        lead: str | None = None,
        additional: list[str] | None = None,
        dps: list[str] | None = None,
        effective_from: date = date(2026, 1, 5),
    ) -> str:
        """A lot of the council and its lineup from `effective_from` (by default a Monday long
        before any test runs, so the lineup is in force)."""
        lot_id = lot_id or unique("lot-")
        self.lots.append(
            Lot(
                council_id=council_id,
                id=lot_id,
                name=name,
                effective_from=effective_from,
                lead=lead,
                additional=additional or [],
                dps=dps or [],
            )
        )
        return lot_id

    def document(self) -> RegistryDocument:
        return RegistryDocument(
            councils=self.councils,
            providers=self.providers,
            commissions=self.commissions,
            carers=self.carers,
            devices=self.devices,
            service_users=self.service_users,
            telephony_numbers=self.telephony_numbers,
            lots=self.lots,
        )

    def seed(self, engine: Engine | Connection) -> None:
        if isinstance(engine, Connection):
            seed(engine, self.document())
            return
        with engine.begin() as conn:
            seed(conn, self.document())
