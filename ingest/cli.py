"""`ecm ingest`: one or more workers on the broker's shared subscription."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys

import click

from ecm.settings import get_settings


@click.command("ingest")
@click.option("--workers", default=1, show_default=True, help="Worker processes to run.")
@click.option("--worker-index", default=0, hidden=True)
def command(workers: int, worker_index: int) -> None:
    """Verify device events from MQTT and store them (acknowledging only after commit)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if workers > 1:
        _supervise(workers)
        return
    from ingest.worker import Worker

    worker = Worker(get_settings(), worker_index)
    worker.install_signal_handlers()
    worker.run()


def _supervise(workers: int) -> None:
    """Run N single workers; they share the load through the MQTT shared subscription."""
    children = [
        subprocess.Popen([sys.executable, "-m", "ecm", "ingest", "--worker-index", str(i)])
        for i in range(workers)
    ]

    def _forward(signum: int, frame: object) -> None:
        for child in children:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    codes = [child.wait() for child in children]
    if any(codes):
        sys.exit(max(codes))
