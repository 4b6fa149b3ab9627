"""Signed webhook deliveries of request notifications to providers.

A provider's webhook endpoints (registered for alerts, POST /providers/{id}/webhooks) also
receive `request.offered` when a request is offered to it, `request.withdrawn` when the council
withdraws a request it was offered, and `request.placed_elsewhere` when another provider offered
at the same time accepted first. Signing, headers, destination checks, retries and backoff are
the alert webhooks' (visits.webhooks); `X-ECM-Delivery` is `request-<notification id>`, so it
never equals an alert's delivery id. The payload names the request and offer but carries no
personal data: the provider reads the details through the API, which audits the read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Engine

from commissioning import notification_repository
from core.settings import Settings
from visits.webhooks import post_signed, retry_after


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def deliver_due(
    engine: Engine, settings: Settings, client: httpx.Client, *, now: datetime, limit: int = 100
) -> DeliveryReport:
    """Attempt every due delivery; no transaction is held across HTTP (each claim and each
    outcome is a short transaction of its own), as for alert deliveries."""
    lease = timedelta(seconds=2 * settings.webhook_timeout_s)
    with engine.begin() as conn:
        due = notification_repository.claim_due(conn, now, now + lease, limit)
    report = DeliveryReport()
    for row in sorted(due, key=lambda r: r["id"]):
        status_code, error = post_signed(
            client,
            settings,
            url=row["url"],
            endpoint_id=row["endpoint_id"],
            event=row["event"],
            delivery=f"request-{row['notification_id']}",
            payload=row["payload"],
            now=now,
        )
        attempts = row["attempts"] + 1
        if error is None:
            status, next_at = "delivered", now
            report.delivered += 1
        elif attempts >= settings.webhook_max_attempts:
            status, next_at = "failed", now
            report.failed += 1
        else:
            status, next_at = "pending", now + retry_after(settings, attempts)
            report.retrying += 1
        with engine.begin() as conn:
            notification_repository.record_attempt(
                conn,
                row["id"],
                at=now,
                status_code=status_code,
                error=error,
                attempts=attempts,
                status=status,
                next_attempt_at=next_at,
            )
    return report
