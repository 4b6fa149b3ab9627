"""Signed webhook deliveries of alert notifications, with retries and a delivery log.

Each request carries `X-ECM-Timestamp` (Unix seconds) and `X-ECM-Signature: v1=<hex>`, the
HMAC-SHA256 of `<timestamp>.<body>` under the endpoint's secret. A receiver recomputes it and
refuses stale timestamps, so a captured request cannot be replayed later. The secret is derived
from the master key and the endpoint id, so no webhook secret is stored at rest; it is shown once,
when the endpoint is registered.

A delivery is retried on any non-2xx answer or network error after `webhook_backoff_s * 2 **
(attempt - 1)` seconds, up to `webhook_max_attempts` attempts, then marked failed. Every attempt
is logged in webhook_attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, Engine

from core.settings import Settings
from visits import webhook_store

SIGNATURE_HEADER = "X-ECM-Signature"
TIMESTAMP_HEADER = "X-ECM-Timestamp"


def endpoint_secret(settings: Settings, endpoint_id: int) -> str:
    return hmac.new(
        settings.master_key.encode(), f"ecm-webhook:{endpoint_id}".encode(), hashlib.sha256
    ).hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_signature(
    secret: str, timestamp: str, body: bytes, header: str, *, now: datetime, tolerance_s: int = 300
) -> bool:
    """What a receiver does: constant-time compare, and refuse old or future timestamps."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - sent) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, sent, body), header)


def check_url(url: str, *, allow_http: bool) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or not parts.hostname:
        raise ValueError("webhook url must be an absolute http(s) URL")
    if parts.scheme == "http" and not allow_http:
        raise ValueError("webhook url must use https")
    return url


def check_destination(url: str) -> None:
    """Refuse a URL whose host is or resolves to a loopback, private, link-local, multicast or
    reserved address: the service's own network (its database, a cloud metadata endpoint) is
    not a place a provider's webhook may make it post to."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        resolved = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise ValueError(f"webhook host {host!r} does not resolve: {exc}") from None
    for *_, sockaddr in resolved:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            raise ValueError(f"webhook host {host!r} is a non-public address ({address})")


def _may_use_private_addresses(settings: Settings) -> bool:
    return settings.env != "prod" or settings.webhook_allow_private_addresses


def register_endpoint(
    conn: Connection, settings: Settings, provider_id: str, url: str
) -> tuple[int, str]:
    # Plain http only outside production: alerts name service users.
    check_url(url, allow_http=settings.env != "prod")
    if not _may_use_private_addresses(settings):
        check_destination(url)
    endpoint_id = webhook_store.insert_endpoint(conn, provider_id, url)
    return endpoint_id, endpoint_secret(settings, endpoint_id)


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def deliver_due(
    engine: Engine,
    settings: Settings,
    client: httpx.Client,
    *,
    now: datetime | None = None,
    limit: int = 100,
) -> DeliveryReport:
    """Attempt every delivery that is due. No transaction stays open across HTTP: due rows are
    claimed (leased for twice the timeout, SKIP LOCKED, so several workers share the queue) in
    one short transaction, and each outcome is recorded in its own."""
    now = now or datetime.now(UTC)
    lease = timedelta(seconds=2 * settings.webhook_timeout_s)
    with engine.begin() as conn:
        due = webhook_store.claim_due(conn, now, limit, now + lease)
    report = DeliveryReport()
    for row in sorted(due, key=lambda r: r["id"]):
        status_code, error = _post(client, settings, row, now)
        attempts = row["attempts"] + 1
        if error is None:
            status, next_at = "delivered", now
            report.delivered += 1
        elif attempts >= settings.webhook_max_attempts:
            status, next_at = "failed", now
            report.failed += 1
        else:
            status = "pending"
            next_at = now + retry_after(settings, attempts)
            report.retrying += 1
        with engine.begin() as conn:
            webhook_store.record_attempt(
                conn, row["id"], now, status_code, error, attempts, status, next_at
            )
    return report


def _post(
    client: httpx.Client, settings: Settings, row: dict[str, Any], now: datetime
) -> tuple[int | None, str | None]:
    return post_signed(
        client,
        settings,
        url=row["url"],
        endpoint_id=row["endpoint_id"],
        event=f"alert.{row['action']}",
        delivery=str(row["notification_id"]),
        payload=row["payload"],
        now=now,
    )


def post_signed(
    client: httpx.Client,
    settings: Settings,
    *,
    url: str,
    endpoint_id: int,
    event: str,
    delivery: str,
    payload: Any,
    now: datetime,
) -> tuple[int | None, str | None]:
    """One signed POST to a provider's endpoint: (status code, error or None when 2xx). Other
    notifications than alerts (commissioning's offers) are delivered through it too."""
    if not _may_use_private_addresses(settings):
        # Again at each delivery: a name that resolved to a public address when the endpoint
        # was registered may resolve to a private one now.
        try:
            check_destination(url)
        except ValueError as exc:
            return None, f"refused: {exc}"
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = int(now.timestamp())
    secret = endpoint_secret(settings, endpoint_id)
    try:
        response = client.post(
            url,
            content=body,
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: signature(secret, timestamp, body),
                "X-ECM-Event": event,
                "X-ECM-Delivery": delivery,
            },
            timeout=settings.webhook_timeout_s,
        )
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"


def retry_after(settings: Settings, attempts: int) -> timedelta:
    """The wait before the next attempt, after `attempts` failed ones: 2, 4, 8 ... seconds."""
    return timedelta(seconds=settings.webhook_backoff_s * 2 ** (attempts - 1))
