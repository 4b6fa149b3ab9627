"""All SQL of alert webhooks: endpoints, the delivery queue and the attempt log. Callers own the
transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text


def insert_endpoint(conn: Connection, provider_id: str, url: str) -> int:
    endpoint_id: int = conn.execute(
        text("insert into webhook_endpoint (provider_id, url) values (:p, :u) returning id"),
        {"p": provider_id, "u": url},
    ).scalar_one()
    return endpoint_id


def claim_due(
    conn: Connection, now: datetime, limit: int, leased_until: datetime
) -> list[dict[str, Any]]:
    """Claim up to `limit` due deliveries: their next attempt moves to `leased_until`, and
    SKIP LOCKED lets several workers share the queue. Each comes with its endpoint and
    notification."""
    rows = conn.execute(
        text(
            "with claimed as (select d.id from webhook_delivery d "
            "where d.status = 'pending' and d.next_attempt_at <= :now "
            "order by d.next_attempt_at, d.id limit :limit for update skip locked) "
            "update webhook_delivery d set next_attempt_at = :leased "
            "from claimed, webhook_endpoint e, alert_notification n "
            "where d.id = claimed.id and e.id = d.endpoint_id "
            "and n.id = d.notification_id returning d.id, d.attempts, "
            "e.id as endpoint_id, e.url, n.action, n.payload, n.id as notification_id"
        ),
        {"now": now, "limit": limit, "leased": leased_until},
    ).mappings()
    return [dict(row) for row in rows]


def record_attempt(
    conn: Connection,
    delivery_id: int,
    now: datetime,
    status_code: int | None,
    error: str | None,
    attempts: int,
    status: str,
    next_at: datetime,
) -> None:
    """Log one attempt and move the delivery on: delivered, pending (retry at next_at) or
    failed."""
    conn.execute(
        text(
            "insert into webhook_attempt (delivery_id, attempted_at, status_code, error) "
            "values (:d, :at, :code, :error)"
        ),
        {"d": delivery_id, "at": now, "code": status_code, "error": error},
    )
    conn.execute(
        text(
            "update webhook_delivery set attempts = :attempts, status = :status, "
            "next_attempt_at = :next, delivered_at = case when :status = 'delivered' "
            "then cast(:now as timestamptz) end where id = :id"
        ),
        {"attempts": attempts, "status": status, "next": next_at, "now": now, "id": delivery_id},
    )
