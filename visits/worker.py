"""The `ecm visits run` loop: incremental builds, alert evaluation and webhook deliveries,
each in its own transaction so one failing step does not hold back the others."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from sqlalchemy.exc import OperationalError

from core.db import make_engine, wait_for_database
from core.settings import Settings
from visits import alerts, builder, webhooks

log = logging.getLogger("ecm.visits")


class VisitsWorker:
    def __init__(
        self, settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.engine = make_engine(settings, "visits", pool_size=2)
        self.http = httpx.Client()
        self._last_alerts = float("-inf")

    def tick(self, *, force: bool = False) -> None:
        now = self.clock()
        with self.engine.begin() as conn:
            built = builder.refresh(conn, self.settings, now)
        if built.keys:
            log.info(
                "built %d home-days: %d visits, %d missed, %d anomalies",
                built.keys,
                built.visits,
                built.missed,
                built.anomalies,
            )
        if force or time.monotonic() - self._last_alerts >= self.settings.alerts_interval_s:
            self._last_alerts = time.monotonic()
            with self.engine.begin() as conn:
                raised = alerts.evaluate(conn, self.settings, now)
            if raised.raised or raised.cleared or raised.escalated:
                log.info(
                    "alerts: %d raised, %d cleared, %d escalated",
                    raised.raised,
                    raised.cleared,
                    raised.escalated,
                )
        sent = webhooks.deliver_due(self.engine, self.settings, self.http, now=now)
        if sent.delivered or sent.retrying or sent.failed:
            log.info(
                "webhooks: %d delivered, %d retrying, %d failed",
                sent.delivered,
                sent.retrying,
                sent.failed,
            )

    def run(self, stop: threading.Event) -> None:
        wait_for_database(self.settings)
        interval = min(self.settings.visits_build_interval_s, self.settings.alerts_interval_s)
        while not stop.is_set():
            try:
                self.tick()
            except OperationalError as exc:
                # The database may restart; the next pass picks up where this one stopped.
                log.warning("visits pass failed, retrying: %s", exc)
            stop.wait(interval)

    def close(self) -> None:
        self.http.close()
        self.engine.dispose()
