"""Access tokens: JWTs signed with HS256 under a key derived from the service's master key.

Only HS256 is accepted when decoding, so `alg: none` and any other algorithm are refused, as are
tokens signed with another key, expired ones and ones missing a required claim.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from functools import lru_cache

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from api.auth.roles import SCOPES, Role
from core.settings import Settings

ALGORITHM = "HS256"
ISSUER = "ecm"
AUDIENCE = "ecm.api"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "uid", "role", "iss", "aud"]


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    username: str
    role: Role
    tenant: str | None
    scopes: tuple[str, ...]
    issued_at: int
    expires_at: int
    # The account's token generation when issued; absent in tokens from before it existed (0).
    generation: int = 0


def signing_key(settings: Settings) -> bytes:
    # Derived, not stored: one secret (ECM_MASTER_KEY, refused at its dev value in prod) keeps
    # every API process able to verify every other's tokens.
    return _derive(settings.master_key)


@lru_cache(maxsize=4)
def _derive(master_key: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"ecm api access token v1"
    ).derive(master_key.encode())


def issue(
    settings: Settings,
    *,
    user_id: int,
    username: str,
    role: Role,
    tenant: str | None,
    generation: int = 0,
    now: float | None = None,
) -> tuple[str, int]:
    """Returns the token and its lifetime in seconds."""
    issued_at = int(now if now is not None else time.time())
    ttl = settings.access_token_ttl_s
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": username,
        "uid": user_id,
        "role": role.value,
        "tenant": tenant,
        "scope": " ".join(SCOPES[role]),
        "iat": issued_at,
        "exp": issued_at + ttl,
        "jti": secrets.token_hex(8),
        "gen": generation,
    }
    return jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM), ttl


def decode(settings: Settings, token: str) -> TokenClaims:
    try:
        claims = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": REQUIRED_CLAIMS},
        )
        return TokenClaims(
            user_id=int(claims["uid"]),
            username=str(claims["sub"]),
            role=Role(claims["role"]),
            tenant=claims.get("tenant"),
            scopes=tuple(str(claims.get("scope", "")).split()),
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
            generation=int(claims.get("gen", 0)),
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the access token has expired") from exc
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken("the access token is not valid") from exc
