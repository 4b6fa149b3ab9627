"""Registry rules: a seed document is applied whole, parents before children."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Connection

from gateway.registry import repository
from gateway.registry.schemas import RegistryDocument, SeedCounts


class RegistryError(ValueError):
    """A seed document that refers to records it does not define and the store lacks."""


def load_document(path: Path) -> RegistryDocument:
    return RegistryDocument.model_validate(json.loads(path.read_text()))


def seed(conn: Connection, document: RegistryDocument) -> SeedCounts:
    known = {p.id for p in repository.list_providers(conn)} | {p.id for p in document.providers}
    owners = [(c.id, c.provider_id) for c in document.carers]
    owners += [(d.id, d.provider_id) for d in document.devices]
    for record_id, provider_id in owners:
        if provider_id not in known:
            raise RegistryError(f"{record_id} names unknown provider {provider_id}")
    return SeedCounts(
        providers=repository.upsert_providers(conn, document.providers),
        carers=repository.upsert_carers(conn, document.carers),
        devices=repository.upsert_devices(conn, document.devices),
        service_users=repository.upsert_service_users(conn, document.service_users),
    )
