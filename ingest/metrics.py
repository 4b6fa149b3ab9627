"""Prometheus metrics of an ingest worker, served on its own port (metrics_port + worker index).

Each worker is a separate process with its own registry; Prometheus scrapes every port and sums,
which needs no shared state between workers (unlike prometheus-client's multiprocess mode).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from core import metrics_http
from core.settings import Settings
from gateway.broker_stats import BrokerStats
from gateway.pki.identity import service_identity

REGISTRY = CollectorRegistry(auto_describe=True)

RECEIVED = Counter(
    "ecm_ingest_events_received", "Messages received from the broker.", registry=REGISTRY
)
VERIFIED = Counter(
    "ecm_ingest_events_verified",
    "Messages whose signature and claims verified (before the sequence rules).",
    registry=REGISTRY,
)
QUARANTINED = Counter(
    "ecm_ingest_events_quarantined",
    "Messages quarantined, by reason.",
    ["reason"],
    registry=REGISTRY,
)
COMMITTED = Counter(
    "ecm_ingest_events_committed", "Events newly stored as evidence.", registry=REGISTRY
)
DUPLICATES = Counter(
    "ecm_ingest_events_duplicate",
    "Redelivered events already stored (counted, not stored again).",
    registry=REGISTRY,
)
LATE_ARRIVING = Counter(
    "ecm_ingest_events_late_arriving",
    "Stored events that reached the server long after their device time.",
    registry=REGISTRY,
)
ACKED = Counter(
    "ecm_ingest_messages_acked", "Messages acknowledged to the broker.", registry=REGISTRY
)
ACKS_OUTSTANDING = Gauge(
    "ecm_ingest_acks_outstanding",
    "Messages received but not yet acknowledged (queued, verifying or committing).",
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "ecm_ingest_batch_size",
    "Messages per committed batch.",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000),
    registry=REGISTRY,
)
COMMIT_SECONDS = Histogram(
    "ecm_ingest_commit_seconds",
    "Time to store and commit one batch.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
DATABASE_RETRIES = Counter(
    "ecm_ingest_database_retries",
    "Batches retried because the database was unavailable.",
    registry=REGISTRY,
)
RECEIPTS_SENT = Counter(
    "ecm_ingest_receipts_sent",
    "Receipt messages published to handsets (one per device per committed batch).",
    registry=REGISTRY,
)


def serve(host: str, port: int, token: str | None = None) -> bool:
    """Serve /metrics over HTTP (port 0 = off). Metrics carry counts, never ids or secrets.

    Loopback only unless a scrape token is set (core.metrics_http). A port already taken is
    logged, not fatal: evidence keeps flowing without its dashboard.
    """
    return metrics_http.serve(REGISTRY, host, port, token)


def watch_broker(settings: Settings, worker_index: int) -> BrokerStats:
    """Add the broker's queue depth and drops ($SYS, gateway.broker_stats) to these metrics.

    Every worker exports the same broker-wide figures: aggregate them with max(), not sum().
    """
    stats = BrokerStats(
        settings.mqtt_host,
        settings.mqtt_port,
        service_identity(settings, "ingest"),
        f"ingest{worker_index}",
    )
    REGISTRY.register(stats)
    stats.start()
    return stats
