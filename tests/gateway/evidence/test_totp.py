"""RFC 6238 TOTP against the RFC's appendix B test vectors (SHA-1, 8 digits, 30 s steps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.evidence import totp

RFC6238_SECRET = b"12345678901234567890"
# RFC 6238 appendix B, the SHA1 rows: (Unix time, TOTP).
RFC6238_SHA1 = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize("unix_time, code", RFC6238_SHA1)
def test_rfc6238_appendix_b_sha1(unix_time: int, code: str) -> None:
    assert totp.totp(RFC6238_SECRET, unix_time) == code
    at = datetime.fromtimestamp(unix_time, UTC)
    assert totp.totp(RFC6238_SECRET, at) == code
    assert totp.verify_code(RFC6238_SECRET, code, at)


def test_rfc4226_appendix_d_hotp() -> None:
    # RFC 4226 appendix D, counters 0 and 1, 6 digits.
    assert totp.hotp(RFC6238_SECRET, 0, digits=6) == "755224"
    assert totp.hotp(RFC6238_SECRET, 1, digits=6) == "287082"


def test_window_accepts_one_step_either_side_and_no_more() -> None:
    at = datetime.fromtimestamp(1234567890, UTC)
    code = totp.totp(RFC6238_SECRET, at)
    step = timedelta(seconds=30)
    assert totp.verify_code(RFC6238_SECRET, code, at + step)
    assert totp.verify_code(RFC6238_SECRET, code, at - step)
    assert not totp.verify_code(RFC6238_SECRET, code, at + 2 * step)
    assert not totp.verify_code(RFC6238_SECRET, code, at - 2 * step)
    assert totp.verify_code(RFC6238_SECRET, code, at + 3 * step, window=3)
    assert not totp.verify_code(RFC6238_SECRET, code, at + step, window=0)


@pytest.mark.parametrize("code", ["", "8900592", "890059245", "8900592a", "-9005924"])
def test_malformed_codes_never_verify(code: str) -> None:
    at = datetime.fromtimestamp(1234567890, UTC)
    assert not totp.verify_code(RFC6238_SECRET, code, at)


def test_another_secret_does_not_verify() -> None:
    at = datetime.fromtimestamp(1234567890, UTC)
    assert not totp.verify_code(b"another secret of twenty", "89005924", at)
