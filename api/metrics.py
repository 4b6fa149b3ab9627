"""Prometheus metrics of the API role: requests by route and status, and device certificate
expiry.

Routes are labelled by their template (`/providers/{provider_id}/visits`), never the raw path,
so ids neither leak into the metrics nor multiply its series.

Who may read them: `/metrics` on the API's own port answers only `Authorization: Bearer
<ECM_METRICS_TOKEN>` (401 otherwise), and is absent (404) when no token is set. The same
metrics are served on a separate port, `ECM_API_METRICS_PORT` (9300), listening on loopback
(`ECM_API_METRICS_HOST`) for a Prometheus on the same host; `ecm api` starts it
(core.metrics_http).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from threading import Lock

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from core.metrics_http import token_matches
from core.settings import Settings
from gateway.pki import rotation

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
REQUESTS = Counter(
    "ecm_api_requests", "HTTP requests answered.", ["method", "route", "status"], registry=REGISTRY
)
LATENCY = Histogram(
    "ecm_api_request_seconds", "Time to answer a request.", ["method", "route"], registry=REGISTRY
)


class CertificateExpiry(Collector):
    """Device certificate expiry, read from the database at most every `max_age_s`: how many
    are live, how many expire within the warning window, the earliest expiry, and the expiry
    of each certificate inside the window (a handful, so ids are bounded)."""

    def __init__(self, engine: Engine, warning_days: int, max_age_s: float = 30.0) -> None:
        self._engine, self._days, self._max_age = engine, warning_days, max_age_s
        self._lock = Lock()
        self._cached: tuple[float, list[GaugeMetricFamily]] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self._max_age:
                self._cached = (time.monotonic(), self._read())
            yield from self._cached[1]

    def _read(self) -> list[GaugeMetricFamily]:
        now = datetime.now(UTC)
        with self._engine.connect() as conn:
            summary = rotation.expiry_summary(conn, now, self._days)
            soon = rotation.expiring(conn, now, self._days)
        live = GaugeMetricFamily(
            "ecm_device_certificates_live", "Current (not revoked, not expired) certificates."
        )
        live.add_metric([], summary.live)
        expiring = GaugeMetricFamily(
            "ecm_device_certificates_expiring",
            "Current certificates expiring within the warning window (rotate them).",
            labels=["within_days"],
        )
        expiring.add_metric([str(self._days)], summary.expiring)
        earliest = GaugeMetricFamily(
            "ecm_device_certificate_earliest_expiry_timestamp_seconds",
            "When the first current certificate expires (Unix time; 0 when there is none).",
        )
        earliest.add_metric([], summary.earliest.timestamp() if summary.earliest else 0)
        each = GaugeMetricFamily(
            "ecm_device_certificate_expiry_timestamp_seconds",
            "Expiry of each current certificate inside the warning window (Unix time).",
            labels=["device_id"],
        )
        for item in soon:
            each.add_metric([item.device_id], item.not_after.timestamp())
        return [live, expiring, earliest, each]


def exposition(app_registry: CollectorRegistry) -> bytes:
    return generate_latest(REGISTRY) + generate_latest(app_registry)


def install(app: FastAPI, settings: Settings) -> None:
    app_registry = CollectorRegistry(auto_describe=False)
    app_registry.register(CertificateExpiry(app.state.engine, settings.certificate_warning_days))
    app.state.metrics_registry = app_registry

    @app.middleware("http")
    async def _measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        LATENCY.labels(request.method, template).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, template, str(response.status_code)).inc()
        return response

    async def metrics(scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        token = settings.metrics_token
        if token is None:
            response = Response(status_code=404)
        elif not token_matches(headers.get("authorization"), token):
            response = Response(
                "metrics need Authorization: Bearer <ECM_METRICS_TOKEN>\n",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        else:
            # Collecting reads the database (CertificateExpiry): in the thread pool, never on
            # the event loop, where it would hold up every request in flight.
            body = await run_in_threadpool(exposition, app_registry)
            response = Response(body, media_type=CONTENT_TYPE_LATEST)
        await response(scope, receive, send)

    app.mount("/metrics", metrics)


def serve_port(app: FastAPI, settings: Settings) -> bool:
    """The API's metrics on their own loopback port (or token-guarded anywhere)."""
    from core.metrics_http import serve

    combined = CollectorRegistry(auto_describe=False)
    combined.register(_Both(app.state.metrics_registry))
    return serve(
        combined, settings.api_metrics_host, settings.api_metrics_port, settings.metrics_token
    )


class _Both(Collector):
    def __init__(self, app_registry: CollectorRegistry) -> None:
        self._app_registry = app_registry

    def collect(self) -> Iterator[object]:  # type: ignore[override]
        yield from REGISTRY.collect()
        yield from self._app_registry.collect()
