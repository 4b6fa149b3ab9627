"""Provisioning of home evidence devices: generate or import their secrets, store them sealed."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from sqlalchemy import Connection

from gateway.evidence.keys import KeyRing
from gateway.homes import repository
from gateway.homes.schemas import HomeDevicesDocument, ProgrammedFob, ProgrammedTag


class HomeDeviceError(ValueError):
    pass


@dataclass(frozen=True)
class ImportCounts:
    tags: int
    fobs: int


def tag_record(uid: str) -> str:
    """The associated data a tag's sealed keys are bound to."""
    return f"home_tag:{uid}"


def fob_record(service_user_id: str) -> str:
    return f"home_code_device:{service_user_id}"


def new_tag(service_user_id: str, uid: str | None = None) -> ProgrammedTag:
    """Fresh random keys; a UID is read off the tag (a 7-byte NXP UID starts 04) or made up."""
    return ProgrammedTag(
        service_user_id=service_user_id,
        uid=uid.upper() if uid else "04" + os.urandom(6).hex().upper(),
        meta_read_key=os.urandom(16).hex().upper(),
        file_read_key=os.urandom(16).hex().upper(),
    )


def new_fob(service_user_id: str, digits: int = 8, step_s: int = 30) -> ProgrammedFob:
    return ProgrammedFob(
        service_user_id=service_user_id,
        secret=os.urandom(20).hex().upper(),
        digits=digits,
        step_s=step_s,
    )


def otpauth_uri(fob: ProgrammedFob) -> str:
    """The fob's secret as an authenticator app or fob programmer reads it (Key Uri Format)."""
    secret_b32 = base64.b32encode(bytes.fromhex(fob.secret)).decode().rstrip("=")
    return (
        f"otpauth://totp/ECM:{fob.service_user_id}?secret={secret_b32}&issuer=ECM"
        f"&algorithm=SHA1&digits={fob.digits}&period={fob.step_s}"
    )


def store_tag(conn: Connection, ring: KeyRing, tag: ProgrammedTag) -> None:
    _require_service_user(conn, tag.service_user_id)
    keys = bytes.fromhex(tag.meta_read_key) + bytes.fromhex(tag.file_read_key)
    repository.replace_tag(conn, tag.service_user_id, tag.uid, ring.seal(keys, tag_record(tag.uid)))


def store_fob(conn: Connection, ring: KeyRing, fob: ProgrammedFob) -> None:
    _require_service_user(conn, fob.service_user_id)
    sealed = ring.seal(bytes.fromhex(fob.secret), fob_record(fob.service_user_id))
    repository.replace_fob(
        conn, fob.service_user_id, sealed, fob.digits, fob.step_s, fob.window_steps
    )


def import_devices(conn: Connection, ring: KeyRing, document: HomeDevicesDocument) -> ImportCounts:
    for tag in document.tags:
        store_tag(conn, ring, tag)
    for fob in document.fobs:
        store_fob(conn, ring, fob)
    return ImportCounts(len(document.tags), len(document.fobs))


def rotate_master_key(conn: Connection, old: KeyRing, new: KeyRing) -> ImportCounts:
    """Re-wrap every data key under the new master key; sealed secrets stay as they are.

    Rows already under the new key are left alone, so an interrupted rotation can be rerun.
    """
    tags = fobs = 0
    for tag in repository.all_tags(conn):
        if tag.sealed.kek_id != new.kek_id:
            repository.rewrap_tag(conn, tag.uid, old.rewrap(tag.sealed, tag_record(tag.uid), new))
            tags += 1
    for fob in repository.all_fobs(conn):
        if fob.sealed.kek_id != new.kek_id:
            record = fob_record(fob.service_user_id)
            repository.rewrap_fob(conn, fob.id, old.rewrap(fob.sealed, record, new))
            fobs += 1
    return ImportCounts(tags, fobs)


def _require_service_user(conn: Connection, service_user_id: str) -> None:
    if not repository.service_user_exists(conn, service_user_id):
        raise HomeDeviceError(f"service user {service_user_id!r} is not registered")
