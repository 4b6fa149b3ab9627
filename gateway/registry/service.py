"""Registry rules: a seed document is applied whole, parents before children."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection

from gateway.registry import repository
from gateway.registry.lots import LotError, set_lineup
from gateway.registry.schemas import RegistryDocument, SeedCounts


class RegistryError(ValueError):
    """A seed document that refers to records it does not define and the store lacks."""


def load_document(path: Path) -> RegistryDocument:
    return RegistryDocument.model_validate(json.loads(path.read_text()))


def seed(
    conn: Connection, document: RegistryDocument, *, now: datetime | None = None
) -> SeedCounts:
    known = {p.id for p in repository.list_providers(conn)} | {p.id for p in document.providers}
    owners = [(c.id, c.provider_id) for c in document.carers]
    owners += [(d.id, d.provider_id) for d in document.devices]
    owners += [(n.number, n.provider_id) for n in document.telephony_numbers]
    for record_id, provider_id in owners:
        if provider_id not in known:
            raise RegistryError(f"{record_id} names unknown provider {provider_id}")
    councils = {c.id for c in repository.list_councils(conn)} | {c.id for c in document.councils}
    council_refs = [(m.provider_id, m.council_id) for m in document.commissions]
    council_refs += [(s.id, s.council_id) for s in document.service_users if s.council_id]
    council_refs += [(f"lot {lot.id}", lot.council_id) for lot in document.lots]
    for record_id, council_id in council_refs:
        if council_id not in councils:
            raise RegistryError(f"{record_id} names unknown council {council_id}")
    for commission in document.commissions:
        if commission.provider_id not in known:
            raise RegistryError(
                f"commission of {commission.council_id} names unknown provider "
                f"{commission.provider_id}"
            )
    for lot in document.lots:
        for provider_id in lot.providers:
            if provider_id not in known:
                raise RegistryError(f"lot {lot.id} names unknown provider {provider_id}")
    counts = SeedCounts(
        councils=repository.upsert_councils(conn, document.councils),
        providers=repository.upsert_providers(conn, document.providers),
        commissions=repository.upsert_commissions(conn, document.commissions),
        carers=repository.upsert_carers(conn, document.carers),
        devices=repository.upsert_devices(conn, document.devices),
        service_users=repository.upsert_service_users(conn, document.service_users),
        telephony_numbers=repository.upsert_telephony_numbers(conn, document.telephony_numbers),
    )
    for lot in document.lots:
        try:
            set_lineup(conn, lot, set_by="registry seed", now=now or datetime.now(UTC))
        except LotError as exc:
            raise RegistryError(str(exc)) from exc
    counts.lots = len(document.lots)
    return counts
