"""People and providers by name: what pages show beside a code (SU0007 is "Bea User").

Names are personal data. They are looked up only for the ids already in a record the caller
may read (a visit, an alert, an invoice line), in the caller's audited request."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection

from gateway.registry import repository


@dataclass(frozen=True)
class Names:
    providers: dict[str, str] = field(default_factory=dict)
    carers: dict[str, str] = field(default_factory=dict)
    service_users: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)

    def provider(self, provider_id: str | None) -> str | None:
        return self.providers.get(provider_id or "")

    def carer(self, carer_id: str | None) -> str | None:
        return self.carers.get(carer_id or "")

    def service_user(self, service_user_id: str | None) -> str | None:
        return self.service_users.get(service_user_id or "")

    def address(self, service_user_id: str | None) -> str | None:
        return self.addresses.get(service_user_id or "")


def _ids(values: Iterable[str | None]) -> list[str]:
    return sorted({value for value in values if value})


def lookup(
    conn: Connection,
    *,
    providers: Iterable[str | None] = (),
    carers: Iterable[str | None] = (),
    service_users: Iterable[str | None] = (),
    with_addresses: bool = False,
) -> Names:
    homes = _ids(service_users)
    return Names(
        providers=repository.names_of(conn, "provider", _ids(providers)),
        carers=repository.names_of(conn, "carer", _ids(carers)),
        service_users=repository.names_of(conn, "service_user", homes),
        addresses=repository.addresses_of(conn, homes) if with_addresses else {},
    )
