"""Envelope encryption of home secrets: sealing, binding to the record, master key rotation."""

from __future__ import annotations

import pytest

from gateway.evidence.keys import KeyRing, Sealed, SealError

SECRET = bytes(range(32))


def test_seal_and_open() -> None:
    ring = KeyRing("master one")
    sealed = ring.seal(SECRET, "home_tag:04AABBCCDDEEFF")
    assert SECRET not in sealed.ciphertext and SECRET not in sealed.wrapped_key
    assert ring.open(sealed, "home_tag:04AABBCCDDEEFF") == SECRET


def test_each_record_gets_its_own_data_key() -> None:
    ring = KeyRing("master one")
    first, second = ring.seal(SECRET, "r"), ring.seal(SECRET, "r")
    assert first.wrapped_key != second.wrapped_key and first.ciphertext != second.ciphertext


def test_a_sealed_secret_is_bound_to_its_record() -> None:
    ring = KeyRing("master one")
    sealed = ring.seal(SECRET, "home_tag:04AABBCCDDEEFF")
    with pytest.raises(SealError):
        ring.open(sealed, "home_tag:04000000000000")


def test_another_master_key_does_not_open() -> None:
    sealed = KeyRing("master one").seal(SECRET, "r")
    with pytest.raises(SealError):
        KeyRing("master two").open(sealed, "r")
    forged = Sealed(sealed.wrapped_key, sealed.ciphertext, KeyRing("master two").kek_id)
    with pytest.raises(SealError):
        KeyRing("master two").open(forged, "r")


def test_an_altered_ciphertext_does_not_open() -> None:
    ring = KeyRing("master one")
    sealed = ring.seal(SECRET, "r")
    altered = bytearray(sealed.ciphertext)
    altered[-1] ^= 1
    with pytest.raises(SealError):
        ring.open(Sealed(sealed.wrapped_key, bytes(altered), sealed.kek_id), "r")


def test_rotation_rewraps_only_the_data_key() -> None:
    old, new = KeyRing("master one"), KeyRing("master two")
    sealed = old.seal(SECRET, "r")
    rotated = old.rewrap(sealed, "r", new)
    assert rotated.ciphertext == sealed.ciphertext
    assert rotated.wrapped_key != sealed.wrapped_key
    assert rotated.kek_id == new.kek_id != old.kek_id
    assert new.open(rotated, "r") == SECRET
    with pytest.raises(SealError):
        old.open(rotated, "r")


def test_the_key_ring_never_shows_its_key() -> None:
    ring = KeyRing("a very secret master key")
    assert "secret" not in repr(ring) and "secret" not in str(ring)
