"""NTAG 424 DNA SUN against NXP AN12196's published examples, and emulate/verify round trips.

Vectors from NXP application note AN12196 "NTAG 424 DNA and NTAG 424 DNA TagTamper features and
hints" (AES mode): section 3.3 Table 1 (SDM session key generation) and the SUN example of
section 3.4 (Table 2, PICCData decryption; Table 4, SDMMAC with all-zero keys).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.evidence import sun

ZERO_KEY = bytes(16)
# AN12196 section 3.4: what the tag mirrors into the URL, and what it decrypts to.
AN12196_PICC = bytes.fromhex("EF963FF7828658A599F3041510671E88")
AN12196_MAC = bytes.fromhex("94EED9EE65337086")
AN12196_PLAIN = bytes.fromhex("C704DE5F1EACC0403D0000DA5CF60941")
AN12196_UID = bytes.fromhex("04DE5F1EACC040")
AN12196_COUNTER = 0x3D  # 3D0000 LSB first: 61
AN12196_SESSION_MAC_KEY = bytes.fromhex("3FB5F6E3A807A03D5E3570ACE393776F")


def test_an12196_picc_data_decrypts_to_uid_and_counter() -> None:
    tap = sun.decrypt_picc_data(ZERO_KEY, AN12196_PICC)
    assert tap == sun.SunTap(AN12196_UID, 61)
    assert tap.uid_hex == "04DE5F1EACC040"


def test_an12196_session_mac_key() -> None:
    key = sun.session_mac_key(ZERO_KEY, AN12196_UID, AN12196_COUNTER)
    assert key == AN12196_SESSION_MAC_KEY


def test_an12196_table1_session_key_generation() -> None:
    # Table 1: K_SDMFileRead 5ACE..205B, UID 04C767F2066180, SDMReadCtr 000001 (LSB first).
    key = bytes.fromhex("5ACE7E50AB65D5D51FD5BF5A16B8205B")
    mac_key = sun.session_mac_key(key, bytes.fromhex("04C767F2066180"), 1)
    assert mac_key == bytes.fromhex("3A3E8110E05311F7A3FCF0D969BF2B48")


def test_an12196_sdmmac() -> None:
    assert sun.sdm_mac(ZERO_KEY, AN12196_UID, AN12196_COUNTER) == AN12196_MAC


def test_an12196_tap_verifies() -> None:
    tap = sun.verify(ZERO_KEY, ZERO_KEY, sun.SunMessage(AN12196_PICC, AN12196_MAC))
    assert (tap.uid_hex, tap.counter) == ("04DE5F1EACC040", 61)


def test_emulation_reproduces_the_an12196_tap_bit_for_bit() -> None:
    padding = AN12196_PLAIN[11:]
    message = sun.emulate(ZERO_KEY, ZERO_KEY, AN12196_UID, 61, padding=padding)
    assert message == sun.SunMessage(AN12196_PICC, AN12196_MAC)
    assert (message.picc_hex, message.mac_hex) == (
        "EF963FF7828658A599F3041510671E88",
        "94EED9EE65337086",
    )


@pytest.mark.parametrize("bit", [0, 7, 33, 63])
def test_a_flipped_mac_bit_fails(bit: int) -> None:
    mac = bytearray(AN12196_MAC)
    mac[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(sun.SunError) as failed:
        sun.verify(ZERO_KEY, ZERO_KEY, sun.SunMessage(AN12196_PICC, bytes(mac)))
    assert failed.value.reason == "bad_mac"


def test_a_wrong_file_read_key_fails_like_a_flipped_bit() -> None:
    with pytest.raises(sun.SunError) as failed:
        sun.verify(ZERO_KEY, bytes(15) + b"\x01", sun.SunMessage(AN12196_PICC, AN12196_MAC))
    assert failed.value.reason == "bad_mac"


def test_a_wrong_meta_read_key_does_not_decrypt() -> None:
    with pytest.raises(sun.SunError) as failed:
        sun.verify(b"\x01" * 16, ZERO_KEY, sun.SunMessage(AN12196_PICC, AN12196_MAC))
    assert failed.value.reason in {"bad_picc", "bad_mac"}


@pytest.mark.parametrize("picc, mac", [(bytes(15), AN12196_MAC), (AN12196_PICC, bytes(7))])
def test_wrong_lengths_are_refused(picc: bytes, mac: bytes) -> None:
    with pytest.raises(sun.SunError) as failed:
        sun.verify(ZERO_KEY, ZERO_KEY, sun.SunMessage(picc, mac))
    assert failed.value.reason == "bad_length"


def test_a_counter_beyond_three_bytes_is_refused() -> None:
    with pytest.raises(ValueError):
        sun.emulate(ZERO_KEY, ZERO_KEY, AN12196_UID, sun.COUNTER_MAX + 1)


keys = st.binary(min_size=16, max_size=16)


@given(
    meta=keys,
    file=keys,
    uid=st.binary(min_size=7, max_size=7),
    counter=st.integers(0, sun.COUNTER_MAX),
    padding=st.binary(min_size=5, max_size=5),
)
def test_emulate_then_verify_round_trips(
    meta: bytes, file: bytes, uid: bytes, counter: int, padding: bytes
) -> None:
    message = sun.emulate(meta, file, uid, counter, padding=padding)
    assert sun.verify(meta, file, message) == sun.SunTap(uid, counter)


@given(
    meta=keys,
    file=keys,
    counter=st.integers(0, sun.COUNTER_MAX - 1),
    bit=st.integers(0, 63),
)
def test_any_flipped_mac_bit_or_other_counter_fails(
    meta: bytes, file: bytes, counter: int, bit: int
) -> None:
    uid = AN12196_UID
    message = sun.emulate(meta, file, uid, counter)
    mac = bytearray(message.mac)
    mac[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(sun.SunError):
        sun.verify(meta, file, sun.SunMessage(message.picc, bytes(mac)))
    # The MAC is bound to the counter: another read's MAC does not verify this PICCData.
    other = sun.emulate(meta, file, uid, counter + 1)
    with pytest.raises(sun.SunError):
        sun.verify(meta, file, sun.SunMessage(message.picc, other.mac))
