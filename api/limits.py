"""Request bodies are limited while they arrive, not after: memory grows by at most the limit.

`BodyLimitMiddleware` sits in front of every route (ASGI):

- a `Content-Length` above the route's limit is answered 413 at once, before a byte of the body
  is read (and before sign-in is checked: the answer says nothing about the caller);
- a body without `Content-Length` (chunked) is counted as its chunks arrive; the chunk that
  passes the limit makes the read fail, so the endpoint never holds more than the limit, and
  the answer is 413;
- multipart uploads (the portal's forms) are streamed by Starlette's parser, files spooled to
  disk past 1 MiB, under the same count.

Each upload route has its own limit (UPLOAD_LIMITS, listed in docs/auth.md "Request limits");
every other request may carry at most DEFAULT_MAX_BYTES. The import services also limit rows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 1 * MIB
# A multipart form wraps the file in boundaries and part headers.
FORM_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class UploadLimit:
    method: str
    path: str  # the route's template, e.g. /councils/{council_id}/invoices
    max_bytes: int
    what: str

    def pattern(self) -> re.Pattern[str]:
        parts = re.split(r"(\{[^}]+\})", self.path)
        regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        return re.compile(f"^{regex}$")


INVOICE_MAX_BYTES = 50 * MIB
SCHEDULE_MAX_BYTES = 20 * MIB
REGISTRY_MAX_BYTES = 20 * MIB
CONTRACT_MAX_BYTES = 1 * MIB
REQUESTS_MAX_BYTES = 20 * MIB

UPLOAD_LIMITS: tuple[UploadLimit, ...] = (
    UploadLimit("POST", "/councils/{council_id}/invoices", INVOICE_MAX_BYTES, "invoice"),
    UploadLimit("PUT", "/councils/{council_id}/contract", CONTRACT_MAX_BYTES, "contract"),
    UploadLimit("POST", "/schedules", SCHEDULE_MAX_BYTES, "schedule"),
    UploadLimit("POST", "/registry/seed", REGISTRY_MAX_BYTES, "registry document"),
    UploadLimit("POST", "/service-requests/import", REQUESTS_MAX_BYTES, "requests file"),
    UploadLimit(
        "POST",
        "/portal/councils/{council_id}/reconciliation/invoices",
        INVOICE_MAX_BYTES + FORM_OVERHEAD,
        "invoice",
    ),
    UploadLimit(
        "POST",
        "/portal/councils/{council_id}/reconciliation/contract",
        CONTRACT_MAX_BYTES + FORM_OVERHEAD,
        "contract",
    ),
)


class _TooLarge(Exception):
    pass


def _too_large_body(limit: int, what: str) -> bytes:
    message = f"the {what} is larger than the {limit} bytes this request may carry"
    return json.dumps({"error": {"code": "request_too_large", "message": message}}).encode()


class BodyLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        limits: tuple[UploadLimit, ...] = UPLOAD_LIMITS,
        default_max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.app = app
        self._limits = [(limit.method, limit.pattern(), limit) for limit in limits]
        self._default = default_max_bytes

    def limit_for(self, method: str, path: str) -> tuple[int, str]:
        for wanted, pattern, limit in self._limits:
            if wanted == method and pattern.match(path):
                return limit.max_bytes, limit.what
        return self._default, "request body"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, what = self.limit_for(scope["method"], scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0 or length > limit:
                await _refuse(send, limit, what, 413 if length > limit else 400)
                return
        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    # Stops whoever is reading (request.body(), the form parser) right here.
                    raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                if exceeded:
                    # Whatever the app made of the failed read, the answer is 413.
                    raise _TooLarge()
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _TooLarge:
            if started:
                raise
            await _refuse(send, limit, what, 413)
        except Exception:
            if exceeded and not started:
                await _refuse(send, limit, what, 413)
                return
            raise


async def _refuse(send: Send, limit: int, what: str, status: int) -> None:
    if status == 413:
        body = _too_large_body(limit, what)
    else:
        body = json.dumps(
            {"error": {"code": "bad_request", "message": "Content-Length is not a number"}}
        ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is not read: the connection cannot carry another request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
