"""Envelope encryption for home secrets at rest (tag keys, fob TOTP secrets).

Each record gets its own random 256-bit data key; the secret is sealed with AES-256-GCM under
that data key, and the data key is wrapped (AES-256-GCM again) under a key-encryption key
derived with HKDF from settings.master_key. Rotating the master key re-wraps the data keys only:
the sealed secrets are not touched. Both seals are bound to the record they belong to (the
associated data), so a ciphertext copied onto another row does not open.

Nothing here logs or prints a key; KeyRing's repr hides it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_HKDF_SALT = b"ecm.evidence.envelope.v1"
_HKDF_INFO = b"key-encryption key"
_NONCE = 12


class SealError(ValueError):
    """A sealed secret that does not open: another master key, another record, or altered."""


@dataclass(frozen=True)
class Sealed:
    """What is stored: the wrapped data key, the sealed secret, and which master key wrapped it."""

    wrapped_key: bytes
    ciphertext: bytes
    kek_id: str


class KeyRing:
    def __init__(self, master_key: str) -> None:
        if not master_key:
            raise ValueError("the master key is empty")
        self._kek = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO
        ).derive(master_key.encode())
        # A public fingerprint of the key-encryption key, so a row says which master key it needs.
        self.kek_id = hmac.new(self._kek, b"kek-id", hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"KeyRing(kek_id={self.kek_id!r})"

    def seal(self, secret: bytes, record: str) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        return Sealed(
            wrapped_key=_encrypt(self._kek, data_key, _aad("wrap", record)),
            ciphertext=_encrypt(data_key, secret, _aad("secret", record)),
            kek_id=self.kek_id,
        )

    def open(self, sealed: Sealed, record: str) -> bytes:
        if sealed.kek_id != self.kek_id:
            raise SealError(f"wrapped under master key {sealed.kek_id}, not {self.kek_id}")
        data_key = _decrypt(self._kek, sealed.wrapped_key, _aad("wrap", record))
        return _decrypt(data_key, sealed.ciphertext, _aad("secret", record))

    def rewrap(self, sealed: Sealed, record: str, new: KeyRing) -> Sealed:
        """The same sealed secret with its data key wrapped under `new` (master key rotation)."""
        if sealed.kek_id != self.kek_id:
            raise SealError(f"wrapped under master key {sealed.kek_id}, not {self.kek_id}")
        data_key = _decrypt(self._kek, sealed.wrapped_key, _aad("wrap", record))
        return Sealed(
            wrapped_key=_encrypt(new._kek, data_key, _aad("wrap", record)),
            ciphertext=sealed.ciphertext,
            kek_id=new.kek_id,
        )


def _aad(purpose: str, record: str) -> bytes:
    return f"ecm:{purpose}:{record}".encode()


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], aad)
    except InvalidTag:
        raise SealError("does not open: altered, or sealed for another record") from None
