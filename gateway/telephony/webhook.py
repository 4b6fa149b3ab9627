"""`ecm telephony`: the telephony provider's voice webhook, as a process role of its own.

Why its own role and not a router of `ecm api`: this process holds the bridge devices' signing
keys and their MQTT certificates, so it can put evidence in the store; the API, which every
signed-in person reaches, holds neither, and a fault in it cannot forge a visit. The webhook is
called by the telephony provider from the internet and can be exposed (and firewalled to the
provider's addresses) apart from the portal; it has no bearer tokens, no accounts and no reads
of personal data, only the provider's signature. And a morning's calls do not queue behind
portal pages, or the other way round.

Requests (form-encoded POSTs, Twilio's convention) and answers (TwiML):

| path | when | answer |
| --- | --- | --- |
| `POST /telephony/voice` | the provider's voice URL: a call arrives | ask for the carer number |
| `POST /telephony/voice/carer` | the digits of the carer number | ask for the PIN |
| `POST /telephony/voice/pin` | the digits of the PIN | "checked in at 07:31", or why not |
| `POST /telephony/voice/status` | the call is over (status callback) | 204; ends a waiting call |
| `GET /health` | load balancer probe | `{"status": "ok", "unpublished_events": n}` |

An unsigned or wrongly signed request is refused with 403 before anything is read or written.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import Engine

from core.db import make_engine
from core.settings import Settings
from gateway.evidence.keys import KeyRing
from gateway.pki.identity import device_identity
from gateway.telephony import repository, signature, twiml
from gateway.telephony.calls import (
    CallDesk,
    CallRules,
    RequestRefused,
    StatusRequest,
    Step,
    VoiceRequest,
)
from gateway.telephony.pins import PinHasher
from gateway.telephony.publisher import Publisher
from gateway.telephony.uplink import BridgeUplink

log = logging.getLogger("ecm.telephony")

PREFIX = "/telephony/voice"
PATHS = {Step.START: PREFIX, Step.CARER: f"{PREFIX}/carer", Step.PIN: f"{PREFIX}/pin"}
STATUS_PATH = f"{PREFIX}/status"
# A provider's request is a few hundred bytes; anything far larger is not one.
MAX_BODY_BYTES = 16 * 1024
MAX_FIELDS = 100


class TelephonyConfigError(ValueError):
    pass


def auth_tokens(settings: Settings) -> list[str]:
    tokens = [
        t for t in (settings.telephony_auth_token, settings.telephony_previous_auth_token) if t
    ]
    if not tokens:
        raise TelephonyConfigError(
            "ECM_TELEPHONY_AUTH_TOKEN is not set: the provider's auth token signs every request"
        )
    if settings.env == "prod" and not settings.telephony_public_url:
        raise TelephonyConfigError(
            "ECM_TELEPHONY_PUBLIC_URL must be set in production: the signature covers the URL "
            "the provider calls, which a proxy in front of this process does not pass on"
        )
    return tokens


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    uplink: BridgeUplink | None = None,
    engine: Engine | None = None,
) -> FastAPI:
    """The webhook app. `clock` is when a call happens (tests and the demo set one); the
    uplink's transmission time stays real."""
    tokens = auth_tokens(settings)
    public_url = (settings.telephony_public_url or "").rstrip("/")
    engine = engine or make_engine(settings, "telephony")
    uplink = uplink or BridgeUplink(
        settings.mqtt_host,
        settings.mqtt_port,
        lambda d: device_identity(settings.state_dir, d, settings.mqtt_ca_file),
    )
    publisher = Publisher(engine, uplink)

    def action_url(step: Step) -> str:
        # Absolute when the public URL is known, so the provider signs exactly that URL.
        return public_url + PATHS[step]

    desk = CallDesk(
        CallRules.from_settings(settings),
        PinHasher(settings.master_key),
        KeyRing(settings.master_key),
        action_url,
        clock or (lambda: datetime.now(UTC)),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        publisher.start()
        try:
            yield
        finally:
            publisher.stop()
            uplink.close()
            engine.dispose()

    app = FastAPI(
        title="ECM telephony webhook",
        version="1",
        description="The telephony provider's voice webhook (docs/telephony.md).",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.publisher = publisher
    app.state.desk = desk

    def signed_url(request: Request) -> str:
        if not public_url:
            return str(request.url)
        query = request.url.query
        return public_url + request.url.path + (f"?{query}" if query else "")

    async def signed_fields(request: Request) -> list[tuple[str, str]] | Response:
        """The request's form fields once its size, form and signature check out; else the
        refusal to send."""
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return PlainTextResponse("request too large", status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return PlainTextResponse("request too large", status_code=413)
        try:
            fields = parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS
            )
        except (UnicodeDecodeError, ValueError):
            return PlainTextResponse("not a form", status_code=400)
        given = request.headers.get(signature.SIGNATURE_HEADER)
        if not signature.is_valid(tokens, signed_url(request), fields, given):
            log.warning(
                "telephony request refused: %s signature",
                "no" if not given else "a wrong",
                extra={"path": request.url.path},
            )
            return PlainTextResponse("signature does not verify", status_code=403)
        return fields

    def refused_response(refused: RequestRefused, call_sid: str) -> Response:
        log.warning(
            "telephony request refused: %s",
            refused.reason,
            extra={"call_sid": call_sid, "detail": refused.detail},
        )
        status = 400 if refused.reason == "bad_request" else 403
        return PlainTextResponse(refused.reason, status_code=status)

    async def handle(request: Request, step: Step) -> Response:
        fields = await signed_fields(request)
        if isinstance(fields, Response):
            return fields
        voice = VoiceRequest(step, dict(fields))
        try:
            answer = await run_in_threadpool(_answer, engine, desk, voice)
        except RequestRefused as refused:
            return refused_response(refused, voice.call_sid)
        if answer.new_events:
            publisher.wake()
        return Response(answer.twiml, media_type=twiml.CONTENT_TYPE)

    @app.post(PATHS[Step.START])
    async def incoming_call(request: Request) -> Response:
        return await handle(request, Step.START)

    @app.post(PATHS[Step.CARER])
    async def carer_number(request: Request) -> Response:
        return await handle(request, Step.CARER)

    @app.post(PATHS[Step.PIN])
    async def pin(request: Request) -> Response:
        return await handle(request, Step.PIN)

    @app.post(STATUS_PATH)
    async def call_status(request: Request) -> Response:
        fields = await signed_fields(request)
        if isinstance(fields, Response):
            return fields
        status = StatusRequest(dict(fields))
        try:
            await run_in_threadpool(_ended, engine, desk, status)
        except RequestRefused as refused:
            return refused_response(refused, status.call_sid)
        return Response(status_code=204)

    @app.get("/health")
    def health() -> JSONResponse:
        with engine.connect() as conn:
            pending = repository.pending_count(conn)
        body: dict[str, Any] = {"status": "ok", "unpublished_events": pending}
        return JSONResponse(body)

    return app


def _answer(engine: Engine, desk: CallDesk, request: VoiceRequest) -> Any:
    # The outermost layer owns the transaction: committed before the answer is spoken, so a
    # carer never hears "checked in" for an event that is not in the outbox.
    with engine.begin() as conn:
        return desk.answer(conn, request)


def _ended(engine: Engine, desk: CallDesk, request: StatusRequest) -> None:
    with engine.begin() as conn:
        desk.ended(conn, request)
