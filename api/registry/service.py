"""Registry rules for the API: visibility per principal, and seed failures as domain errors."""

from __future__ import annotations

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from api.deps import Principal, can_read_provider
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from gateway.registry import (
    Carer,
    Device,
    Provider,
    RegistryDocument,
    RegistryError,
    SeedCounts,
    ServiceUser,
    repository,
    seed,
)


def seed_registry(conn: Connection, document: RegistryDocument) -> SeedCounts:
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


def list_providers(conn: Connection, principal: Principal) -> list[Provider]:
    return [p for p in repository.list_providers(conn) if can_read_provider(principal, p.id)]


def list_carers(conn: Connection, provider_id: str) -> list[Carer]:
    require_provider(conn, provider_id)
    return repository.list_carers(conn, provider_id)


def list_devices(conn: Connection, provider_id: str) -> list[Device]:
    require_provider(conn, provider_id)
    return repository.list_devices(conn, provider_id)


def list_service_users(conn: Connection, principal: Principal) -> list[ServiceUser]:
    if principal.is_admin and principal.tenant is None:
        return repository.list_service_users(conn)
    if principal.council_id is not None:
        return [
            user
            for user in repository.list_service_users(conn)
            if user.council_id == principal.council_id
        ]
    raise Forbidden("administrators and council officers only")
