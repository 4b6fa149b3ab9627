"""Carers' telephone PINs: kept only as argon2id hashes of a keyed HMAC of the PIN.

A PIN has few digits, so its hash alone could be searched in full by anyone holding the table.
The HMAC key is derived from the master key, which is not in the database: a stolen table
without the master key gives nothing to search. argon2id then makes each guess costly even for
someone with both. Its parameters are OWASP's minimum for argon2id (19 MiB, 2 passes), well
below the sign-in profile: a PIN is checked on every telephone check-in of the morning peak,
and the keyed HMAC, not the hash cost, is what protects it at rest.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PIN_PATTERN = r"^[0-9]{4,8}$"
_PIN = re.compile(PIN_PATTERN)
GENERATED_DIGITS = 6


class PinError(ValueError):
    """Not a PIN a carer can key: 4 to 8 digits."""


def check_pin(pin: str) -> str:
    if not _PIN.match(pin):
        raise PinError("a PIN is 4 to 8 digits")
    return pin


def generate_pin() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(GENERATED_DIGITS))


class PinHasher:
    def __init__(self, master_key: str) -> None:
        self._key = hashlib.sha256(b"ecm telephony pin\0" + master_key.encode()).digest()
        self._hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

    def __repr__(self) -> str:
        return "PinHasher()"

    def _keyed(self, carer_id: str, pin: str) -> str:
        # Bound to the carer: the same PIN of two carers hashes differently even before salt.
        return hmac.new(self._key, f"{carer_id}\0{pin}".encode(), hashlib.sha256).hexdigest()

    def hash(self, carer_id: str, pin: str) -> str:
        return self._hasher.hash(self._keyed(carer_id, check_pin(pin)))

    def verify(self, pin_hash: str, carer_id: str, pin: str) -> bool:
        try:
            return self._hasher.verify(pin_hash, self._keyed(carer_id, pin))
        except (VerificationError, InvalidHashError):
            return False

    @cached_property
    def _decoy(self) -> str:
        return self._hasher.hash("decoy: no carer has this")

    def burn_time(self, pin: str) -> None:
        """An unknown carer number costs what a wrong PIN costs: timing does not tell them apart."""
        self.verify(self._decoy, "", pin)
