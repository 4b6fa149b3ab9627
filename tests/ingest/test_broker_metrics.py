"""Ingest's metrics carry the broker's queue depth, read from $SYS as the ingest identity on the
test stack's broker (whose access rules come from gateway.broker, as in production)."""

from __future__ import annotations

from prometheus_client import generate_latest

from core.settings import Settings
from ingest import metrics
from tests.support.polling import wait_until


def test_an_ingest_worker_exports_the_brokers_queue_depth(settings: Settings) -> None:
    stats = metrics.watch_broker(settings, worker_index=99)
    try:
        names = (
            "ecm_broker_queued_messages",
            "ecm_broker_stored_messages",
            "ecm_broker_messages_dropped_total",
            "ecm_broker_clients_connected",
        )

        def exported() -> str | None:
            text = generate_latest(metrics.REGISTRY).decode()
            return text if all(f"\n{name} " in text for name in names) else None

        # The broker publishes $SYS every sys_interval (10 s), one topic after another.
        text = wait_until(exported, timeout_s=30)
        age = next(
            line for line in text.splitlines() if line.startswith("ecm_broker_stats_age_seconds ")
        )
        assert 0 <= float(age.split()[1]) < 30
    finally:
        stats.stop()
        metrics.REGISTRY.unregister(stats)
