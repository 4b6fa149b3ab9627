"""A simulated NTAG 424 DNA in a home: each tap mirrors a fresh SUN message, bit-exact.

The read counter rises with every tap, whoever taps, as on the real chip; the 5 padding bytes
of PICCData are random on the chip and drawn from the simulation's generator here.
"""

from __future__ import annotations

import random

from gateway.evidence import sun
from gateway.protocol import TagReading


class SimTag:
    def __init__(
        self,
        uid: str,
        meta_read_key: bytes,
        file_read_key: bytes,
        *,
        counter: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        self.uid = uid
        self._uid = bytes.fromhex(uid)
        self._meta_read_key = meta_read_key
        self._file_read_key = file_read_key
        self.counter = counter
        self._rng = rng or random.Random()

    def tap(self) -> TagReading:
        """The chip counts the read first, then mirrors it (the first tap reads counter 1)."""
        self.counter += 1
        message = sun.emulate(
            self._meta_read_key,
            self._file_read_key,
            self._uid,
            self.counter,
            padding=self._rng.randbytes(5),
        )
        return TagReading(picc=message.picc_hex, mac=message.mac_hex)
