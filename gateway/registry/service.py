"""Registry rules: a seed document is applied whole, parents before children; who may see which
provider, carer, device and service user (core.access.Scope)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from core.access import Scope
from core.errors import Conflict, Forbidden, NotFound, Unprocessable
from gateway.registry import repository
from gateway.registry.schemas import (
    Carer,
    Device,
    Provider,
    RegistryDocument,
    SeedCounts,
    ServiceUser,
)


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
    councils = {c.id for c in repository.list_councils(conn)} | {c.id for c in document.councils}
    council_refs = [(m.provider_id, m.council_id) for m in document.commissions]
    council_refs += [(s.id, s.council_id) for s in document.service_users if s.council_id]
    for record_id, council_id in council_refs:
        if council_id not in councils:
            raise RegistryError(f"{record_id} names unknown council {council_id}")
    for commission in document.commissions:
        if commission.provider_id not in known:
            raise RegistryError(
                f"commission of {commission.council_id} names unknown provider "
                f"{commission.provider_id}"
            )
    return SeedCounts(
        councils=repository.upsert_councils(conn, document.councils),
        providers=repository.upsert_providers(conn, document.providers),
        commissions=repository.upsert_commissions(conn, document.commissions),
        carers=repository.upsert_carers(conn, document.carers),
        devices=repository.upsert_devices(conn, document.devices),
        service_users=repository.upsert_service_users(conn, document.service_users),
    )


def seed_checked(conn: Connection, document: RegistryDocument) -> SeedCounts:
    """`seed`, its failures as domain errors (for callers answering a person, the API)."""
    try:
        return seed(conn, document)
    except RegistryError as exc:
        raise Unprocessable(str(exc), code="registry_invalid") from exc
    except IntegrityError as exc:
        # e.g. a home tag already assigned to another service user.
        raise Conflict(_constraint_message(exc), code="registry_conflict") from exc


def _constraint_message(exc: IntegrityError) -> str:
    if isinstance(exc.orig, psycopg.Error) and exc.orig.diag.message_detail:
        return exc.orig.diag.message_detail
    return "the document conflicts with records already in the registry"


def require_provider(conn: Connection, provider_id: str) -> Provider:
    provider = repository.get_provider(conn, provider_id)
    if provider is None:
        raise NotFound(f"provider {provider_id} not found")
    return provider


def require_council(conn: Connection, council_id: str) -> None:
    if not repository.council_exists(conn, council_id):
        raise NotFound(f"council {council_id} not found")


def list_providers(conn: Connection, scope: Scope) -> list[Provider]:
    return [p for p in repository.list_providers(conn) if scope.can_read_provider(p.id)]


def list_carers(conn: Connection, provider_id: str) -> list[Carer]:
    require_provider(conn, provider_id)
    return repository.list_carers(conn, provider_id)


def list_devices(conn: Connection, provider_id: str) -> list[Device]:
    require_provider(conn, provider_id)
    return repository.list_devices(conn, provider_id)


def list_service_users(conn: Connection, scope: Scope) -> list[ServiceUser]:
    if scope.is_admin and scope.tenant is None:
        return repository.list_service_users(conn)
    if scope.council_id is not None:
        return [
            user
            for user in repository.list_service_users(conn)
            if user.council_id == scope.council_id
        ]
    raise Forbidden("administrators and council officers only")
