"""The API's event loop is never held by database work, and when something does hold it, the
loop-lag metric shows it (api/loop_lag.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from functools import partial

from fastapi.testclient import TestClient
from httpx import Response
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

from api import loop_lag
from api.app import create_app
from api.metrics import REGISTRY
from core.settings import Settings
from tests.api.api_support import client_for
from tests.visits.support import care_world

TOKEN = "a-scrape-token-for-tests"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


def lag_count_over(seconds: float) -> float:
    """How many oversleeps so far were longer than `seconds` (a bucket bound)."""
    total = REGISTRY.get_sample_value(f"{loop_lag.LAGS._name}_count") or 0.0
    within = REGISTRY.get_sample_value(f"{loop_lag.LAGS._name}_bucket", {"le": str(seconds)})
    return total - (within or 0.0)


def test_a_held_event_loop_shows_as_lag() -> None:
    over_before = lag_count_over(0.25)

    async def hold_the_loop() -> None:
        watcher = asyncio.create_task(loop_lag.watch(interval_s=0.05))
        await asyncio.sleep(0.2)
        time.sleep(0.4)  # what a database call made on the loop does to every request
        await asyncio.sleep(0.2)
        watcher.cancel()

    asyncio.run(hold_the_loop())

    assert lag_count_over(0.25) == over_before + 1
    # The gauge is the last oversleep, after the loop was free again: small.
    assert (REGISTRY.get_sample_value("ecm_api_event_loop_lag_seconds") or 0.0) < 0.25


def test_the_api_exports_its_loop_lag(settings: Settings) -> None:
    scraping = settings.model_copy(update={"metrics_token": TOKEN})
    with TestClient(create_app(scraping)) as client:
        time.sleep(0.3)  # a few of the watcher's 0.1 s sleeps
        body = client.get("/metrics/", headers=SCRAPE).text
    assert "ecm_api_event_loop_lag_seconds " in body
    assert 'ecm_api_event_loop_lag_observed_seconds_bucket{le="0.1"}' in body


class _WhereCollected(Collector):
    def __init__(self) -> None:
        self.on_event_loop: list[bool] = []

    def collect(self) -> Iterable[Metric]:
        try:
            asyncio.get_running_loop()
            self.on_event_loop.append(True)
        except RuntimeError:
            self.on_event_loop.append(False)
        return iter(())


def test_metrics_are_collected_off_the_event_loop(settings: Settings) -> None:
    # Collectors read the database (certificate expiry): never on the loop.
    scraping = settings.model_copy(update={"metrics_token": TOKEN})
    app = create_app(scraping)
    spy = _WhereCollected()
    app.state.metrics_registry.register(spy)
    with TestClient(app) as client:
        assert client.get("/metrics/", headers=SCRAPE).status_code == 200
    assert spy.on_event_loop == [False]


def test_an_upload_waiting_on_the_database_holds_up_no_other_request(
    engine: Engine, settings: Settings
) -> None:
    """A contract upload reads its body on the event loop; its database work waits for the
    council's lock in the thread pool, while /health is answered."""
    world = care_world(engine)
    contract = (
        '[rules]\nbilling_unit_minutes = 15\nrounding = "nearest"\n\n'
        f'[[provider]]\nref = "{world.provider_id}"\ncontract = "framework"\n'
        f'rate_per_hour = 24.00\nlot = "{world.lot}"\n'
    )
    lock = text("select pg_advisory_lock(hashtext(:key))")
    with contextmanager(client_for)(settings) as admin, engine.connect() as holder:
        # The lock reconciliation.run_store.lock_council takes for every contract upload.
        holder.execute(lock, {"key": world.council_id})
        uploaded: list[Response] = []
        upload = in_thread(
            uploaded,
            partial(
                admin.put,
                f"/councils/{world.council_id}/contract",
                content=contract.encode(),
                headers={"Content-Type": "text/plain"},
            ),
        )
        wait_for_advisory_waiter(engine)
        health: list[Response] = []
        probe = in_thread(health, partial(admin.get, "/health"))
        probe.join(timeout=5)
        answered_while_held = not probe.is_alive()
        holder.execute(text("select pg_advisory_unlock_all()"))
        holder.commit()
        upload.join(timeout=30)
        probe.join(timeout=30)
    assert answered_while_held, "/health waited for the upload's database lock"
    assert health[0].status_code == 200
    assert uploaded and uploaded[0].status_code == 200, uploaded


def in_thread(results: list[Response], call: Callable[[], Response]) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.append(call()), daemon=True)
    thread.start()
    return thread


def wait_for_advisory_waiter(engine: Engine) -> None:
    deadline = time.monotonic() + 10
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                text("select count(*) from pg_locks where locktype = 'advisory' and not granted")
            ).scalar_one()
            if waiting:
                return
            conn.rollback()
            time.sleep(0.05)
    raise AssertionError("the upload never waited for the council's lock (did it fail early?)")
