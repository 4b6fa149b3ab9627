"""Live alerts over HTTP: the list, a server-sent events stream, and webhook registration
(raised by visits.alerts, delivered by visits.webhooks)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine

from api.deps import ConnDep, PrincipalDep, SettingsDep, ensure_can_read_provider, get_engine
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES, Unprocessable
from api.visits.schemas import AlertList, Webhook, WebhookDeliveryList, WebhookRequest
from gateway.registry.queries import require_provider
from visits import read_store, service

router = APIRouter(tags=["alerts"], responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSES})
POLL_S = 1.0
HEARTBEAT_S = 15.0


@router.get("/providers/{provider_id}/alerts", response_model=AlertList)
def list_alerts(
    provider_id: str, conn: ConnDep, principal: PrincipalDep, open_only: bool = True
) -> AlertList:
    """The provider's late and missed alerts; open ones only unless open_only=false."""
    ensure_can_read_provider(principal, provider_id)
    return AlertList(items=service.list_alerts(conn, provider_id, open_only=open_only))


@router.get(
    "/providers/{provider_id}/alerts/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: `event: raised|cleared`, `id:`, `data:` JSON.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def stream_alerts(
    provider_id: str,
    request: Request,
    principal: PrincipalDep,
    after: Annotated[int | None, Query(ge=0, description="Replay notifications after id.")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
    max_events: Annotated[int | None, Query(ge=1, description="Close after N events.")] = None,
) -> StreamingResponse:
    """Alert raises and clears as server-sent events (`event: raised|cleared`, `id:` the
    notification id, `data:` JSON). Reconnect with Last-Event-ID to resume; without it the
    stream starts with the next notification."""
    ensure_can_read_provider(principal, provider_id)
    engine: Engine = get_engine(request)
    start = after
    if last_event_id is not None:
        if not last_event_id.isdigit():
            raise Unprocessable("Last-Event-ID must be a notification id")
        start = int(last_event_id)

    def _open() -> int:
        with engine.begin() as conn:
            require_provider(conn, provider_id)
            return start if start is not None else read_store.latest_notification(conn, provider_id)

    cursor = await asyncio.to_thread(_open)

    def _poll(position: int) -> list[tuple[int, str, str]]:
        with engine.connect() as conn:
            return read_store.notifications_after(conn, provider_id, position)

    async def events() -> AsyncIterator[str]:
        position, sent, quiet = cursor, 0, 0.0
        yield ": alerts for provider " + json.dumps(provider_id) + "\n\n"
        while not await request.is_disconnected():
            batch = await asyncio.to_thread(_poll, position)
            for notification_id, action, payload in batch:
                yield f"id: {notification_id}\nevent: {action}\ndata: {payload}\n\n"
                position, sent, quiet = notification_id, sent + 1, 0.0
                if max_events is not None and sent >= max_events:
                    return
            if not batch:
                await asyncio.sleep(POLL_S)
                quiet += POLL_S
                if quiet >= HEARTBEAT_S:
                    yield ": keep-alive\n\n"
                    quiet = 0.0

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/providers/{provider_id}/webhooks", response_model=Webhook, status_code=201)
def register_webhook(
    provider_id: str,
    body: WebhookRequest,
    conn: ConnDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> Webhook:
    """Register an endpoint for alert notifications. The response carries the signing secret,
    shown only here."""
    ensure_can_read_provider(principal, provider_id)
    return service.register_webhook(conn, settings, provider_id, body.url)


@router.get("/providers/{provider_id}/webhooks/deliveries", response_model=WebhookDeliveryList)
def list_deliveries(
    provider_id: str, conn: ConnDep, principal: PrincipalDep
) -> WebhookDeliveryList:
    """The delivery log of the provider's alert webhooks: attempts, status codes, next retry."""
    ensure_can_read_provider(principal, provider_id)
    return WebhookDeliveryList(items=service.list_deliveries(conn, provider_id))
