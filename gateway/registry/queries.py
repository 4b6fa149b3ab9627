"""The registry as the API, the portal and the domains ask for it: who may see which provider,
carer, device and service user (core.access.Scope), lookups whose failure is a domain error, and
seeding with its failures as domain errors.

Kept apart from gateway.registry.service, which the package exports: the simulator reads the
registry's document format (gateway.registry.schemas) and must not load the server's rules."""

from __future__ import annotations

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
from gateway.registry.service import RegistryError, seed


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
