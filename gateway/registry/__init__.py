"""Registry: providers, carers, devices (with public keys) and service users' homes."""

from gateway.registry.schemas import (
    Carer,
    Device,
    Provider,
    RegistryDocument,
    SeedCounts,
    ServiceUser,
)
from gateway.registry.service import RegistryError, load_document, seed

__all__ = [
    "Carer",
    "Device",
    "Provider",
    "RegistryDocument",
    "RegistryError",
    "SeedCounts",
    "ServiceUser",
    "load_document",
    "seed",
]
