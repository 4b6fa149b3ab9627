"""The telephony provider's request signature (Twilio's documented scheme).

Twilio signs every webhook request with the `X-Twilio-Signature` header: the Base64 of
HMAC-SHA1, keyed by the account's auth token, over the full URL it requested (scheme, host,
path and query string) followed by every POST parameter, sorted by name, each written as its
name then its value with nothing between. The body is form-encoded, so the parameters are the
decoded form fields. The signature carries no time: see `gateway.telephony.calls` for how stale
and replayed requests are refused.

A load balancer may add or drop a default port (":443") between Twilio and us, so a URL is
also checked with its default port added and removed, as Twilio's own helper libraries do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

SIGNATURE_HEADER = "X-Twilio-Signature"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def sign(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The signature the provider computes for a request to `url` with these form fields."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def is_valid(
    auth_tokens: Sequence[str], url: str, params: Sequence[tuple[str, str]], signature: str | None
) -> bool:
    """True when `signature` is the provider's for this URL and these fields under any of the
    tokens (the current one, and the previous one while a rotation is under way)."""
    if not signature:
        return False
    given = signature.encode("ascii", "replace")
    for token in auth_tokens:
        for candidate in url_variants(url):
            expected = sign(token, candidate, params).encode("ascii")
            # Constant time: a mismatch must not say how many characters were right.
            if hmac.compare_digest(expected, given):
                return True
    return False


def url_variants(url: str) -> list[str]:
    """The URL as given, and with its scheme's default port added or removed."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    variants = [url]
    if default is None or parts.hostname is None:
        return variants
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if parts.port is None:
        netloc = f"{prefix}{host}:{default}"
    elif parts.port == default:
        netloc = f"{prefix}{host}"
    else:
        return variants
    variants.append(urlunsplit(parts._replace(netloc=netloc)))
    return variants
