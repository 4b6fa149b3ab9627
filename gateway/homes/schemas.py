"""A home's evidence devices as programmed: what goes into the tag or fob, secrets included.

This is the programming sheet: it is printed once by `ecm homes provision-*` and imported by
`ecm homes import`; the database keeps the secrets only sealed (gateway/evidence/keys.py).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Key128 = Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{32}$")]
TagUid = Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{14}$")]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProgrammedTag(_Record):
    """An NTAG 424 DNA configured for SUN: PICCData and SDMMAC mirrored, AES keys below."""

    service_user_id: Ref
    uid: TagUid
    meta_read_key: Key128 = Field(description="SDM meta-read key (decrypts PICCData), hex.")
    file_read_key: Key128 = Field(description="SDM file-read key (SDMMAC session key), hex.")


class ProgrammedFob(_Record):
    """A TOTP fob (RFC 6238, HMAC-SHA1) left in the home."""

    service_user_id: Ref
    secret: Annotated[str, StringConstraints(pattern=r"^([0-9A-F]{2}){10,64}$")] = Field(
        description="The shared secret, hex (20 bytes or more)."
    )
    digits: int = Field(default=8, ge=6, le=10)
    step_s: int = Field(default=30, gt=0, le=300)
    window_steps: int = Field(
        default=1, ge=0, le=10, description="Steps either side of device time accepted."
    )


# Devices per list in one import file: larger imports are split.
MAX_DEVICES = 100_000


class HomeDevicesDocument(_Record):
    tags: list[ProgrammedTag] = Field(default=[], max_length=MAX_DEVICES)
    fobs: list[ProgrammedFob] = Field(default=[], max_length=MAX_DEVICES)
