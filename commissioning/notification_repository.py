"""All SQL of the notifications providers receive about requests, and of their webhook
deliveries (to the endpoints providers registered for alerts, webhook_endpoint). Callers own the
transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, text


def add_notification(
    conn: Connection,
    *,
    provider_id: str,
    request_id: int,
    offer_id: int | None,
    event: str,
    at: datetime,
    payload: dict[str, Any],
) -> int:
    """The notification, and one pending delivery to each of the provider's active endpoints."""
    notification_id: int = conn.execute(
        text(
            "insert into request_notification (provider_id, request_id, offer_id, event, at, "
            "payload) values (:p, :r, :o, :e, :at, cast(:payload as jsonb)) returning id"
        ),
        {
            "p": provider_id,
            "r": request_id,
            "o": offer_id,
            "e": event,
            "at": at,
            "payload": json.dumps(payload, sort_keys=True, default=str),
        },
    ).scalar_one()
    conn.execute(
        text(
            "insert into request_webhook_delivery (notification_id, endpoint_id, next_attempt_at) "
            "select :n, id, :at from webhook_endpoint where provider_id = :p and active"
        ),
        {"n": notification_id, "at": at, "p": provider_id},
    )
    return notification_id


def claim_due(
    conn: Connection, now: datetime, leased_until: datetime, limit: int
) -> list[dict[str, Any]]:
    """Due deliveries, leased so that no other worker takes them while this one posts."""
    return [
        dict(row)
        for row in conn.execute(
            text(
                "with claimed as (select d.id from request_webhook_delivery d "
                "where d.status = 'pending' and d.next_attempt_at <= :now "
                "order by d.next_attempt_at, d.id limit :limit for update skip locked) "
                "update request_webhook_delivery d set next_attempt_at = :leased "
                "from claimed, webhook_endpoint e, request_notification n "
                "where d.id = claimed.id and e.id = d.endpoint_id and n.id = d.notification_id "
                "returning d.id, d.attempts, e.id as endpoint_id, e.url, n.event, n.payload, "
                "n.id as notification_id"
            ),
            {"now": now, "limit": limit, "leased": leased_until},
        ).mappings()
    ]


def record_attempt(
    conn: Connection,
    delivery_id: int,
    *,
    at: datetime,
    status_code: int | None,
    error: str | None,
    attempts: int,
    status: str,
    next_attempt_at: datetime,
) -> None:
    conn.execute(
        text(
            "insert into request_webhook_attempt (delivery_id, attempted_at, status_code, error) "
            "values (:d, :at, :code, :error)"
        ),
        {"d": delivery_id, "at": at, "code": status_code, "error": error},
    )
    conn.execute(
        text(
            "update request_webhook_delivery set attempts = :attempts, status = :status, "
            "next_attempt_at = :next, delivered_at = case when :status = 'delivered' "
            "then cast(:at as timestamptz) end where id = :id"
        ),
        {
            "attempts": attempts,
            "status": status,
            "next": next_attempt_at,
            "at": at,
            "id": delivery_id,
        },
    )


def deliveries(conn: Connection, provider_id: str, limit: int = 1000) -> list[RowMapping]:
    return list(
        conn.execute(
            text(
                "select d.id, d.notification_id, n.event, n.request_id, n.offer_id, "
                "d.endpoint_id, d.status, d.attempts, d.next_attempt_at, d.delivered_at "
                "from request_webhook_delivery d join request_notification n "
                "on n.id = d.notification_id where n.provider_id = :p "
                "order by d.id desc limit :limit"
            ),
            {"p": provider_id, "limit": limit},
        ).mappings()
    )
