"""Registry: councils and their commissions, providers, carers, devices (with public keys) and
service users' homes."""

from gateway.registry.schemas import (
    Carer,
    Commission,
    Council,
    Device,
    Lot,
    Provider,
    RegistryDocument,
    SeedCounts,
    ServiceUser,
    TelephonyNumber,
)
from gateway.registry.service import RegistryError, load_document, seed

__all__ = [
    "Carer",
    "Commission",
    "Council",
    "Device",
    "Lot",
    "Provider",
    "RegistryDocument",
    "RegistryError",
    "SeedCounts",
    "ServiceUser",
    "TelephonyNumber",
    "load_document",
    "seed",
]
