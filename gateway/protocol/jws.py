"""JWS compact serialization (RFC 7515) with EdDSA over Ed25519 (RFC 8037).

Only what the protocol needs: one algorithm, `kid` names the device. Anything else, `alg: none`
included, is refused before a key is even looked up.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.protocol.rejection import Rejected, Rejection

ALGORITHM = "EdDSA"
_B64URL = re.compile(rb"[A-Za-z0-9_-]*")
MAX_TOKEN_BYTES = 16 * 1024


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    """Strict base64url without padding (RFC 7515 section 2): any other character is an error."""
    raw = text.encode("ascii") if isinstance(text, str) else text
    if not _B64URL.fullmatch(raw) or len(raw) % 4 == 1:
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))


def public_key_to_b64(key: Ed25519PublicKey) -> str:
    """The key as the JWK `x` member: 32 raw bytes, base64url."""
    return b64url_encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    raw = b64url_decode(text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign_compact(payload: bytes, key: Ed25519PrivateKey, kid: str | None) -> str:
    header: dict[str, str] = {"alg": ALGORITHM}
    if kid is not None:
        header["kid"] = kid
    protected = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    signing_input = f"{protected}.{b64url_encode(payload)}".encode("ascii")
    return f"{signing_input.decode('ascii')}.{b64url_encode(key.sign(signing_input))}"


@dataclass(frozen=True)
class SignedEvent:
    """A parsed, not yet verified, compact JWS."""

    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes

    @property
    def kid(self) -> str:
        return str(self.header["kid"])

    def verify(self, key: Ed25519PublicKey) -> None:
        try:
            key.verify(self.signature, self.signing_input)
        except InvalidSignature:
            raise Rejected(Rejection.BAD_SIGNATURE, "signature does not verify") from None


def _brief(value: object) -> str:
    """A header value for a rejection's detail: a type and a bounded repr (it may be a nested
    structure thousands deep or 16 KiB long, which must not become the detail, or a crash)."""
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value)
        return text if len(text) <= 40 else f"{text[:37]}..."
    return f"of type {type(value).__name__}"


def parse_compact(token: bytes) -> SignedEvent:
    if len(token) > MAX_TOKEN_BYTES:
        raise Rejected(Rejection.NOT_JWS, f"payload of {len(token)} bytes is too large")
    try:
        text = token.decode("ascii").strip()
    except UnicodeDecodeError:
        raise Rejected(Rejection.NOT_JWS, "payload is not ASCII") from None
    parts = text.split(".")
    if len(parts) != 3:
        raise Rejected(Rejection.NOT_JWS, f"compact JWS has 3 parts, got {len(parts)}")
    protected, payload_b64, signature_b64 = parts
    try:
        header = json.loads(b64url_decode(protected))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Rejected(Rejection.BAD_HEADER, "protected header is not base64url JSON") from None
    except RecursionError:
        # JSON nested thousands deep exhausts the parser's stack: refused, not a crash.
        raise Rejected(Rejection.BAD_HEADER, "protected header JSON is nested too deep") from None
    if not isinstance(header, dict):
        raise Rejected(Rejection.BAD_HEADER, "protected header is not a JSON object")
    if header.get("alg") != ALGORITHM:
        raise Rejected(Rejection.UNSUPPORTED_ALG, f"alg {_brief(header.get('alg'))} is not EdDSA")
    if "crit" in header:
        raise Rejected(Rejection.BAD_HEADER, "crit header parameters are not supported")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise Rejected(Rejection.MISSING_KID, "header has no kid naming the device")
    try:
        payload = b64url_decode(payload_b64)
        signature = b64url_decode(signature_b64)
    except (ValueError, binascii.Error):
        raise Rejected(Rejection.NOT_JWS, "payload or signature is not base64url") from None
    return SignedEvent(
        header=header,
        payload=payload,
        signing_input=f"{protected}.{payload_b64}".encode("ascii"),
        signature=signature,
    )
