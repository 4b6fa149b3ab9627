from __future__ import annotations

from fastapi import APIRouter

from api.deps import ConnDep, PrincipalDep, ensure_admin, ensure_can_read_provider
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES, error_response
from api.pagination import Limit, Offset, page
from api.registry.schemas import CarerList, DeviceList, ProviderList, ServiceUserList
from gateway.registry import Provider, RegistryDocument, SeedCounts
from gateway.registry import queries as service

router = APIRouter(tags=["registry"], responses=ERROR_RESPONSES)


@router.post(
    "/registry/seed",
    response_model=SeedCounts,
    responses={
        403: error_response("Administrators only."),
        409: error_response("The document conflicts with stored records."),
    },
)
def seed_registry(document: RegistryDocument, conn: ConnDep, principal: PrincipalDep) -> SeedCounts:
    """Upsert a registry document by id; seeding the same document again changes nothing."""
    ensure_admin(principal)
    return service.seed_checked(conn, document)


@router.get("/providers", response_model=ProviderList)
def list_providers(
    conn: ConnDep, principal: PrincipalDep, limit: Limit = 500, offset: Offset = 0
) -> ProviderList:
    """Providers the caller may see: all for an administrator, those their council commissions
    for a council officer, their own for a provider manager."""
    items, next_offset = page(service.list_providers(conn, principal), limit, offset)
    return ProviderList(items=items, next_offset=next_offset)


@router.get("/providers/{provider_id}", response_model=Provider, responses=NOT_FOUND_RESPONSES)
def get_provider(provider_id: str, conn: ConnDep, principal: PrincipalDep) -> Provider:
    """One provider; 404 when it does not exist or the caller may not see it."""
    ensure_can_read_provider(principal, provider_id)
    return service.require_provider(conn, provider_id)


@router.get(
    "/providers/{provider_id}/carers", response_model=CarerList, responses=NOT_FOUND_RESPONSES
)
def list_carers(
    provider_id: str, conn: ConnDep, principal: PrincipalDep, limit: Limit = 500, offset: Offset = 0
) -> CarerList:
    """The provider's carers, by id."""
    ensure_can_read_provider(principal, provider_id)
    items, next_offset = page(service.list_carers(conn, provider_id), limit, offset)
    return CarerList(items=items, next_offset=next_offset)


@router.get(
    "/providers/{provider_id}/devices", response_model=DeviceList, responses=NOT_FOUND_RESPONSES
)
def list_devices(
    provider_id: str, conn: ConnDep, principal: PrincipalDep, limit: Limit = 500, offset: Offset = 0
) -> DeviceList:
    """The provider's handsets with their public keys and status, by id."""
    ensure_can_read_provider(principal, provider_id)
    items, next_offset = page(service.list_devices(conn, provider_id), limit, offset)
    return DeviceList(items=items, next_offset=next_offset)


@router.get(
    "/service-users",
    response_model=ServiceUserList,
    responses={403: error_response("Administrators and council officers only.")},
)
def list_service_users(
    conn: ConnDep, principal: PrincipalDep, limit: Limit = 500, offset: Offset = 0
) -> ServiceUserList:
    """Service users: all of them for an administrator, their council's for a council officer.

    Service users belong to no provider in the schema, so provider managers get 403."""
    items, next_offset = page(service.list_service_users(conn, principal), limit, offset)
    return ServiceUserList(items=items, next_offset=next_offset)
