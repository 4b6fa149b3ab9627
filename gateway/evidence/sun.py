"""NXP NTAG 424 DNA Secure Unique NFC (SUN) messages, AES mode, as in application note AN12196.

Each tap mirrors two values into the tag's URL: the encrypted PICCData (UID and read counter,
AES-128-CBC with a zero IV under the SDM meta-read key) and the SDMMAC (AES-CMAC under a session
key derived from the SDM file-read key, the UID and the counter, truncated to its odd bytes).
A tag's counter rises with every read, so a copied URL is only good once.

`emulate` is the tag's side, used by the simulator; it is the exact inverse of `verify`.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

# PICCDataTag 0xC7: bit 7 UID mirrored, bit 6 SDMReadCtr mirrored, bits 0-3 UID length (7).
PICC_DATA_TAG = 0xC7
UID_LENGTH = 7
KEY_LENGTH = 16
PICC_LENGTH = 16
MAC_LENGTH = 8
COUNTER_MAX = 0xFFFFFF  # SDMReadCtr is 3 bytes on the tag
_SV2_PREFIX = bytes.fromhex("3CC300010080")
_ZERO_IV = bytes(16)


class SunError(ValueError):
    """A tap that does not verify; `reason` says which check failed."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SunTap:
    """What a verified tap proves: this tag, at this read count."""

    uid: bytes
    counter: int

    @property
    def uid_hex(self) -> str:
        return self.uid.hex().upper()


@dataclass(frozen=True)
class SunMessage:
    """The two values a tap mirrors into the URL, as the handset reads them."""

    picc: bytes
    mac: bytes

    @property
    def picc_hex(self) -> str:
        return self.picc.hex().upper()

    @property
    def mac_hex(self) -> str:
        return self.mac.hex().upper()


def decrypt_picc_data(meta_read_key: bytes, picc: bytes) -> SunTap:
    """Decrypt PICCData; a wrong key shows up as a PICCDataTag other than 0xC7 (almost always)."""
    _check_length("meta-read key", meta_read_key, KEY_LENGTH)
    _check_length("PICCData", picc, PICC_LENGTH)
    decryptor = Cipher(algorithms.AES(meta_read_key), modes.CBC(_ZERO_IV)).decryptor()
    plain = decryptor.update(picc) + decryptor.finalize()
    if plain[0] != PICC_DATA_TAG:
        raise SunError(
            "bad_picc", f"PICCDataTag is {plain[0]:02X}, not C7: wrong meta-read key or altered"
        )
    uid = plain[1 : 1 + UID_LENGTH]
    counter = int.from_bytes(plain[1 + UID_LENGTH : 4 + UID_LENGTH], "little")
    return SunTap(uid, counter)


def session_mac_key(file_read_key: bytes, uid: bytes, counter: int) -> bytes:
    """KSesSDMFileReadMAC = CMAC(K_SDMFileRead, SV2), SV2 = 3CC3 0001 0080 || UID || ctr (LSB)."""
    _check_length("file-read key", file_read_key, KEY_LENGTH)
    _check_length("UID", uid, UID_LENGTH)
    sv2 = _SV2_PREFIX + uid + counter.to_bytes(3, "little")
    return _cmac(file_read_key, sv2)


def sdm_mac(file_read_key: bytes, uid: bytes, counter: int, mac_input: bytes = b"") -> bytes:
    """The truncated SDMMAC: the 8 bytes at odd indices of CMAC(session key, MAC input).

    The MAC input is empty when only PICCData and the MAC are mirrored (our tags' layout).
    """
    full = _cmac(session_mac_key(file_read_key, uid, counter), mac_input)
    return full[1::2]


def verify(
    meta_read_key: bytes, file_read_key: bytes, message: SunMessage, mac_input: bytes = b""
) -> SunTap:
    """Decrypt and authenticate one tap. An altered MAC and a wrong file-read key cannot be told
    apart: both are a MAC that does not match."""
    _check_length("SDMMAC", message.mac, MAC_LENGTH)
    tap = decrypt_picc_data(meta_read_key, message.picc)
    expected = sdm_mac(file_read_key, tap.uid, tap.counter, mac_input)
    if not hmac.compare_digest(expected, message.mac):
        raise SunError("bad_mac", "SDMMAC does not match: altered, or not this tag's key")
    return tap


def emulate(
    meta_read_key: bytes,
    file_read_key: bytes,
    uid: bytes,
    counter: int,
    *,
    padding: bytes | None = None,
    mac_input: bytes = b"",
) -> SunMessage:
    """What a tag mirrors for read `counter`. The 5 padding bytes are random on a real tag;
    pass them to reproduce a published example bit for bit."""
    _check_length("meta-read key", meta_read_key, KEY_LENGTH)
    _check_length("UID", uid, UID_LENGTH)
    if not 0 <= counter <= COUNTER_MAX:
        raise ValueError(f"counter {counter} does not fit the tag's 3 bytes")
    padding = os.urandom(5) if padding is None else padding
    _check_length("padding", padding, PICC_LENGTH - 4 - UID_LENGTH)
    plain = bytes([PICC_DATA_TAG]) + uid + counter.to_bytes(3, "little") + padding
    encryptor = Cipher(algorithms.AES(meta_read_key), modes.CBC(_ZERO_IV)).encryptor()
    picc = encryptor.update(plain) + encryptor.finalize()
    return SunMessage(picc, sdm_mac(file_read_key, uid, counter, mac_input))


def _cmac(key: bytes, data: bytes) -> bytes:
    mac = CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()


def _check_length(name: str, value: bytes, length: int) -> None:
    if len(value) != length:
        raise SunError("bad_length", f"{name} must be {length} bytes, got {len(value)}")
