"""How long the API's event loop is kept from running: `ecm_api_event_loop_lag_seconds`.

Every request passes through the one event loop (uvicorn's), even those whose work runs in the
thread pool. Anything that holds the loop (database work or CPU work called from an `async`
endpoint, a long garbage collection) delays every request in flight at once, which shows as a
p99 far above the median for every route alike. A task sleeps `INTERVAL_S` again and again; how
much longer than that it took to wake up is how long the loop was held. The gauge is the last
oversleep; the histogram counts them all, so a load test (loadtests/baseline.py) or Prometheus
can tell how often the loop was held and for how long.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from prometheus_client import Gauge, Histogram

from api.metrics import REGISTRY

INTERVAL_S = 0.1

LAG = Gauge(
    "ecm_api_event_loop_lag_seconds",
    f"How much later than asked the API's event loop last woke a {INTERVAL_S} s sleep.",
    registry=REGISTRY,
)
LAGS = Histogram(
    "ecm_api_event_loop_lag_observed_seconds",
    f"Every oversleep of the API's event loop (one per {INTERVAL_S} s).",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)


async def watch(interval_s: float = INTERVAL_S) -> None:
    while True:
        asked = time.perf_counter()
        await asyncio.sleep(interval_s)
        late = max(0.0, time.perf_counter() - asked - interval_s)
        LAG.set(late)
        LAGS.observe(late)


@contextlib.asynccontextmanager
async def watching() -> AsyncIterator[None]:
    """Run `watch` for as long as the application runs (api.app's lifespan)."""
    task = asyncio.create_task(watch(), name="ecm.loop_lag")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
