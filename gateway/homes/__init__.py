"""Home evidence devices (SUN tags, TOTP fobs): provisioning and sealed storage of their keys."""

from gateway.homes.schemas import HomeDevicesDocument, ProgrammedFob, ProgrammedTag
from gateway.homes.service import (
    HomeDeviceError,
    fob_record,
    import_devices,
    new_fob,
    new_tag,
    otpauth_uri,
    rotate_master_key,
    store_fob,
    store_tag,
    tag_record,
)

__all__ = [
    "HomeDeviceError",
    "HomeDevicesDocument",
    "ProgrammedFob",
    "ProgrammedTag",
    "fob_record",
    "import_devices",
    "new_fob",
    "new_tag",
    "otpauth_uri",
    "rotate_master_key",
    "store_fob",
    "store_tag",
    "tag_record",
]
