"""Visits kept as fresh as the evidence before every read.

Visits are derived data (visits/builder.py). The `ecm visits` role folds new evidence in, in the
background; a read must not wait for it, so every visit read (the API's, the portal's, a
reconciliation run's) first folds in what was stored since the last pass. `VisitFreshness` does
that with an engine of its own; the application owns one (api.app puts it in app.state) and
disposes of it at shutdown."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from time import monotonic

from sqlalchemy import Connection, Engine

from core.db import make_engine
from core.settings import Settings
from visits import builder


class SharedPasses:
    """Run a pass for callers who need one that started after they arrived, one at a time.

    A caller returns as soon as any pass that began after its arrival has completed, whoever
    ran it; otherwise it runs the next pass itself, or waits for the one running and looks
    again. A pass that fails raises in the caller that ran it; the others look again."""

    def __init__(self, clock: Callable[[], float] = monotonic) -> None:
        self._clock = clock
        self._changed = threading.Condition()
        self._running = False
        self._last_completed_start = float("-inf")
        self.passes = 0

    def after_arrival(self, run: Callable[[], None]) -> None:
        arrived = self._clock()
        with self._changed:
            while self._last_completed_start < arrived:
                if not self._running:
                    self._running = True
                    break
                self._changed.wait()
            else:
                return
        started = self._clock()
        completed = False
        try:
            run()
            completed = True
        finally:
            with self._changed:
                self._running = False
                if completed:
                    self.passes += 1
                    self._last_completed_start = max(self._last_completed_start, started)
                self._changed.notify_all()


class VisitFreshness:
    """Fold evidence stored since the last build into the visit tables before a read, so no
    reader sees visits older than the evidence (both this and the `ecm visits` role are
    incremental and serialised by one lock).

    The pass commits in a short transaction of its own: run inside the reader's transaction, its
    lock would be held until the reader commits, and every visit read of every caller would
    queue behind every other. The read that follows sees the committed pass.

    Reads arriving together share passes: a read needs a pass that began after it arrived, not
    one of its own, so under load there is about one pass at a time, not one per read. A read
    on a clock of its own (`now`, the portal's injected clock) runs its own pass."""

    def __init__(self, settings: Settings, url: str | None = None) -> None:
        self.settings = settings
        self._url = url
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        self.passes = SharedPasses()

    def _build_engine(self) -> Engine:
        # A pool of its own: a reader holding its connection never waits on the readers' pool
        # for a second one (which could deadlock that pool under load), only on this small one.
        with self._engine_lock:
            if self._engine is None:
                self._engine = make_engine(
                    self.settings, "api.visits_build", pool_size=2, url=self._url
                )
            return self._engine

    def fresh(self, now: datetime | None = None) -> None:
        engine = self._build_engine()

        def _pass() -> None:
            with engine.begin() as build:
                builder.refresh(build, self.settings, now)

        if now is None:
            self.passes.after_arrival(_pass)
        else:
            _pass()

    def rebuild_in(self, conn: Connection) -> None:
        """The same pass inside the caller's transaction, after the caller changed what visits
        are built from (a correction), so its next read already shows it."""
        builder.refresh(conn, self.settings)

    def dispose(self) -> None:
        with self._engine_lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
