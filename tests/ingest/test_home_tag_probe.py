"""The cheap PICCData probe ingest uses to name the tag of a refused tap."""

from __future__ import annotations

import os

from gateway.evidence import sun
from ingest.homes import HomeTag


def test_the_probe_finds_the_tag_again_and_again() -> None:
    meta, file = os.urandom(16), os.urandom(16)
    tag = HomeTag("04112233445566", "SU1", meta, file, retired=False)
    other = HomeTag("04665544332211", "SU2", os.urandom(16), os.urandom(16), retired=False)
    for counter in range(1, 50):
        message = sun.emulate(meta, file, bytes.fromhex(tag.uid), counter)
        assert tag.picc_tag_byte(message.picc) == sun.PICC_DATA_TAG
        # Another tag's key gives 0xC7 only by chance (1 in 256); the MAC check follows anyway.
    misses = sum(
        other.picc_tag_byte(sun.emulate(meta, file, bytes.fromhex(tag.uid), c).picc)
        != sun.PICC_DATA_TAG
        for c in range(1, 50)
    )
    assert misses >= 45


def test_keys_do_not_show_in_repr() -> None:
    tag = HomeTag("04112233445566", "SU1", b"\x11" * 16, b"\x22" * 16, retired=False)
    assert "11111111" not in repr(tag) and "\\x11" not in repr(tag)
