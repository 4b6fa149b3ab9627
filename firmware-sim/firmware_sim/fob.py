"""A simulated one-time-code fob (RFC 6238 TOTP) left in a home without an NFC tag."""

from __future__ import annotations

from datetime import datetime

from gateway.evidence import totp


class SimFob:
    def __init__(self, secret: bytes, digits: int = 8, step_s: int = 30) -> None:
        self._secret = secret
        self.digits = digits
        self.step_s = step_s

    def code_at(self, at: datetime) -> str:
        """The code on the fob's display at `at` (the carer reads it and types it in)."""
        return totp.totp(self._secret, at, self.digits, self.step_s)
