"""Password hashing with argon2id (memory-hard), via argon2-cffi's RFC 9106 low-memory profile."""

from __future__ import annotations

import threading
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12

_hasher = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4
# One verification at a time per process: each takes 64 MiB and all cores for ~0.1 s, so a
# burst of sign-ins queues behind this instead of starving every other request of CPU.
_verifying = threading.BoundedSemaphore(1)


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        with _verifying:
            return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return _hasher.hash("decoy password never issued")


def burn_time_like_a_verify(password: str) -> None:
    """Unknown user names cost what a wrong password costs, so timing does not reveal accounts."""
    verify_password(_decoy_hash(), password)
