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
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, text

from ecm.settings import Settings

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
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError("webhook url must be an absolute http(s) URL")
    if parts.scheme == "http" and not allow_http:
        raise ValueError("webhook url must use https")
    return url


def register_endpoint(
    conn: Connection, settings: Settings, provider_id: str, url: str
) -> tuple[int, str]:
    # Plain http only outside production: alerts name service users.
    check_url(url, allow_http=settings.env != "prod")
    endpoint_id = conn.execute(
        text("insert into webhook_endpoint (provider_id, url) values (:p, :u) returning id"),
        {"p": provider_id, "u": url},
    ).scalar_one()
    return endpoint_id, endpoint_secret(settings, endpoint_id)


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def deliver_due(
    conn: Connection,
    settings: Settings,
    client: httpx.Client,
    *,
    now: datetime | None = None,
    limit: int = 100,
) -> DeliveryReport:
    """Attempt every delivery that is due, in the caller's transaction. Rows are locked with
    SKIP LOCKED so several workers can share the queue."""
    now = now or datetime.now(UTC)
    due = conn.execute(
        text(
            "select d.id, d.attempts, e.id as endpoint_id, e.url, n.action, n.payload, "
            "n.id as notification_id from webhook_delivery d "
            "join webhook_endpoint e on e.id = d.endpoint_id "
            "join alert_notification n on n.id = d.notification_id "
            "where d.status = 'pending' and d.next_attempt_at <= :now "
            "order by d.next_attempt_at, d.id limit :limit for update of d skip locked"
        ),
        {"now": now, "limit": limit},
    ).mappings()
    report = DeliveryReport()
    for row in list(due):
        body = json.dumps(row["payload"], sort_keys=True, separators=(",", ":")).encode()
        timestamp = int(now.timestamp())
        secret = endpoint_secret(settings, row["endpoint_id"])
        status_code: int | None = None
        error: str | None = None
        try:
            response = client.post(
                row["url"],
                content=body,
                headers={
                    "Content-Type": "application/json",
                    TIMESTAMP_HEADER: str(timestamp),
                    SIGNATURE_HEADER: signature(secret, timestamp, body),
                    "X-ECM-Event": f"alert.{row['action']}",
                    "X-ECM-Delivery": str(row["notification_id"]),
                },
                timeout=settings.webhook_timeout_s,
            )
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = row["attempts"] + 1
        conn.execute(
            text(
                "insert into webhook_attempt (delivery_id, attempted_at, status_code, error) "
                "values (:d, :at, :code, :error)"
            ),
            {"d": row["id"], "at": now, "code": status_code, "error": error},
        )
        if error is None:
            status, next_at = "delivered", now
            report.delivered += 1
        elif attempts >= settings.webhook_max_attempts:
            status, next_at = "failed", now
            report.failed += 1
        else:
            status = "pending"
            next_at = now + timedelta(seconds=settings.webhook_backoff_s * 2 ** (attempts - 1))
            report.retrying += 1
        conn.execute(
            text(
                "update webhook_delivery set attempts = :attempts, status = :status, "
                "next_attempt_at = :next, delivered_at = case when :status = 'delivered' "
                "then cast(:now as timestamptz) end where id = :id"
            ),
            {"attempts": attempts, "status": status, "next": next_at, "now": now, "id": row["id"]},
        )
    return report
