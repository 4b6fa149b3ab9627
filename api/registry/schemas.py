from __future__ import annotations

from pydantic import BaseModel, Field

from gateway.registry import Carer, Device, Provider, ServiceUser

NEXT_OFFSET = Field(default=None, description="Offset of the next page; null on the last page.")


class ProviderList(BaseModel):
    items: list[Provider]
    next_offset: int | None = NEXT_OFFSET


class CarerList(BaseModel):
    items: list[Carer]
    next_offset: int | None = NEXT_OFFSET


class DeviceList(BaseModel):
    items: list[Device]
    next_offset: int | None = NEXT_OFFSET


class ServiceUserList(BaseModel):
    items: list[ServiceUser]
    next_offset: int | None = NEXT_OFFSET
