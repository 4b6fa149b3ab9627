"""The `ecm requests run` loop: offers expire and cascade on time, packages' planned visits
roll forward, and request webhooks are delivered, each step in its own transaction so one
failing step does not hold back the others."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from sqlalchemy.exc import OperationalError

from commissioning import service, webhooks
from core.db import make_engine, wait_for_database
from core.settings import Settings

log = logging.getLogger("ecm.requests")


class RequestsWorker:
    def __init__(
        self, settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.engine = make_engine(settings, "requests", pool_size=2)
        self.http = httpx.Client()

    def tick(self) -> None:
        now = self.clock()
        with self.engine.begin() as conn:
            advanced = service.advance(conn, now=now)
        if advanced.expired:
            log.info("offers: %d expired on %d requests", advanced.expired, advanced.requests)
        with self.engine.begin() as conn:
            written = service.extend_plans(
                conn, horizon_days=self.settings.requests_plan_horizon_days, now=now
            )
        if written:
            log.info("packages: %d planned visits rolled forward", written)
        sent = webhooks.deliver_due(self.engine, self.settings, self.http, now=now)
        if sent.delivered or sent.retrying or sent.failed:
            log.info(
                "request webhooks: %d delivered, %d retrying, %d failed",
                sent.delivered,
                sent.retrying,
                sent.failed,
            )

    def run(self, stop: threading.Event) -> None:
        wait_for_database(self.settings)
        while not stop.is_set():
            try:
                self.tick()
            except OperationalError as exc:
                # The database may restart; the next pass picks up where this one stopped.
                log.warning("requests pass failed, retrying: %s", exc)
            stop.wait(self.settings.requests_interval_s)

    def close(self) -> None:
        self.http.close()
        self.engine.dispose()
