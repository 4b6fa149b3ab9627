"""`ecm ingest`: one or more workers on the broker's shared subscription."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time

import click

from core import logs
from core.process import child_preexec
from core.settings import get_settings

log = logging.getLogger("ecm.ingest")

RESTART_POLL_S = 0.5


@click.command("ingest")
@click.option("--workers", default=1, show_default=True, help="Worker processes to run.")
@click.option("--worker-index", default=0, hidden=True)
def command(workers: int, worker_index: int) -> None:
    """Verify device events from MQTT and store them (acknowledging only after commit)."""
    logs.setup("ingest")
    if workers > 1:
        _supervise(workers)
        return
    from ingest import metrics
    from ingest.worker import Worker

    settings = get_settings()
    if settings.ingest_metrics_port:
        metrics.serve(
            settings.ingest_metrics_host,
            settings.ingest_metrics_port + worker_index,
            settings.metrics_token,
        )
        if settings.ingest_transport == "mqtt":
            metrics.watch_broker(settings, worker_index)
    worker = Worker(settings, worker_index)
    worker.install_signal_handlers()
    worker.run()


def _supervise(workers: int) -> None:
    """Run N single workers; they share the load through the MQTT shared subscription.

    A worker that dies (a crash, an OOM kill) is started again in its slot: its stable client id
    resumes the persistent session, so what the broker queued for it is delivered then. Each
    child gets the kernel's parent-death signal, so killing the supervisor leaves no orphan.
    """
    stopping = False

    def _start(index: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "ecm", "ingest", "--worker-index", str(index)],
            preexec_fn=child_preexec(signal.SIGTERM),
        )

    children = [_start(i) for i in range(workers)]

    def _forward(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    while not stopping:
        for index, child in enumerate(children):
            code = child.poll()
            if code is not None and not stopping:
                log.warning(
                    "worker %d exited with %s; restarting it",
                    index,
                    code,
                    extra={"worker_index": index, "exit_code": code},
                )
                children[index] = _start(index)
        time.sleep(RESTART_POLL_S)
    codes = [child.wait() for child in children]
    if any(codes):
        sys.exit(max(codes))
