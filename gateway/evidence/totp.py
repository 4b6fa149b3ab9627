"""One-time codes from a fob in the home (RFC 6238 TOTP, HMAC-SHA1), for homes without NFC.

A code proves someone read the fob at about the event's device time; checking it at device time
(not receive time) lets an event queued offline still verify. The window allows for the fob's
and phone's clocks disagreeing by a step or so.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from datetime import datetime

DEFAULT_DIGITS = 8
DEFAULT_STEP_S = 30
DEFAULT_WINDOW = 1


def hotp(secret: bytes, counter: int, digits: int = DEFAULT_DIGITS) -> str:
    """RFC 4226: HMAC-SHA1 over the 8-byte counter, dynamically truncated."""
    digest = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def time_step(at: datetime | float, step_s: int = DEFAULT_STEP_S) -> int:
    seconds = at.timestamp() if isinstance(at, datetime) else at
    return int(seconds // step_s)


def totp(
    secret: bytes, at: datetime | float, digits: int = DEFAULT_DIGITS, step_s: int = DEFAULT_STEP_S
) -> str:
    return hotp(secret, time_step(at, step_s), digits)


def verify_code(
    secret: bytes,
    code: str,
    at: datetime,
    *,
    digits: int = DEFAULT_DIGITS,
    step_s: int = DEFAULT_STEP_S,
    window: int = DEFAULT_WINDOW,
) -> bool:
    """True when `code` is the fob's code for a step within `window` steps of `at`."""
    if len(code) != digits or not code.isdigit():
        return False
    centre = time_step(at, step_s)
    # Compare every candidate, not stopping early, so timing says nothing about which matched.
    matched = False
    for step in range(centre - window, centre + window + 1):
        if step >= 0 and hmac.compare_digest(hotp(secret, step, digits), code):
            matched = True
    return matched
