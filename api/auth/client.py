"""The client's address, for the sign-in throttle and the audit trail.

`X-Forwarded-For` is believed only from the reverse proxies named in `ECM_TRUSTED_PROXIES`
(addresses or networks, comma-separated; default none). From anyone else the header is ignored:
otherwise a stranger could send a new made-up address with every guess and never be slowed, or
send the address of the person they want throttled. Behind trusted proxies the client is the
right-most address in the header that is not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(spec: str) -> tuple[Network, ...]:
    """Parse `ECM_TRUSTED_PROXIES`; a bad entry is a configuration error, raised at once."""
    networks: list[Network] = []
    for part in spec.split(","):
        part = part.strip()
        if part:
            networks.append(ipaddress.ip_network(part, strict=False))
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: tuple[Network, ...]
) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(request: Request, trusted_proxies: str) -> str:
    peer = request.client.host if request.client else "unknown"
    networks = trusted_networks(trusted_proxies)
    if not networks or not _trusted(_address(peer), networks):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
        if hop.strip()
    ]
    client = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            # A trusted proxy passed on something that is not an address: believe no further.
            break
        client = str(address)
        if not _trusted(address, networks):
            break
    return client
