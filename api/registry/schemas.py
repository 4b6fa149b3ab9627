from __future__ import annotations

from pydantic import BaseModel

from gateway.registry import Carer, Device, Provider, ServiceUser


class ProviderList(BaseModel):
    items: list[Provider]


class CarerList(BaseModel):
    items: list[Carer]


class DeviceList(BaseModel):
    items: list[Device]


class ServiceUserList(BaseModel):
    items: list[ServiceUser]
