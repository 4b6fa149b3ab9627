"""`ecm housekeeping run`: the scheduled role. It signs the audit chain's head, watches device
certificates (warning 30 days ahead, ending rotation overlaps) and applies the retention
policies, each on its own interval, until stopped (docs/retention.md, "Housekeeping")."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import click
from sqlalchemy import Engine

from core.settings import Settings, get_settings

log = logging.getLogger("ecm.housekeeping")


@dataclass
class Step:
    name: str
    interval_s: float
    run: Callable[[], None]
    due_at: float = 0.0


def checkpoint_step(settings: Settings, engine: Engine) -> None:
    from api.audit import checkpoints

    with engine.begin() as conn:
        written = checkpoints.write_head_if_grown(settings, conn)
    if written is not None:
        log.info(
            "audit checkpoint signed",
            extra={"entries": written.entries, "head_hash": written.head_hash},
        )


def certificates_step(settings: Settings, engine: Engine) -> None:
    from gateway.pki import rotation
    from gateway.pki.devices import DeviceCertificates

    now = datetime.now(UTC)
    with engine.begin() as conn:
        soon = rotation.expiring(conn, now, settings.certificate_warning_days)
        retired = rotation.retire_rotated(conn, DeviceCertificates(settings), now)
    for item in soon:
        log.warning(
            "certificate_expiring: rotate it with `ecm devices rotate`",
            extra={
                "device_id": item.device_id,
                "serial": str(item.serial),
                "not_after": item.not_after.isoformat(),
                "days_left": (item.not_after - now).days,
            },
        )
    for device_id, serial in retired:
        log.info(
            "rotated certificate revoked: overlap ended",
            extra={"device_id": device_id, "serial": str(serial)},
        )


def retention_step(settings: Settings, engine: Engine) -> None:
    from api.audit.trail import SystemAuditTrail
    from retention import runner
    from retention.service import ACTOR

    done = runner.run(engine, datetime.now(UTC), SystemAuditTrail(settings, ACTOR))
    log.info("retention run", extra={"run_id": done.run_id, "rows": done.rows})


def steps(settings: Settings, engine: Engine) -> list[Step]:
    return [
        Step(
            "checkpoint",
            settings.housekeeping_checkpoint_interval_s,
            lambda: checkpoint_step(settings, engine),
        ),
        Step(
            "certificates",
            settings.housekeeping_certificates_interval_s,
            lambda: certificates_step(settings, engine),
        ),
        Step(
            "retention",
            settings.housekeeping_retention_interval_s,
            lambda: retention_step(settings, engine),
        ),
    ]


def loop(jobs: list[Step], stop: threading.Event, *, once: bool = False) -> int:
    """Run each step when due; a failing step is logged and tried again at its next turn.
    Returns the number of failed steps (for --once)."""
    failures = 0
    while not stop.is_set():
        now = time.monotonic()
        for job in jobs:
            if job.due_at <= now and not stop.is_set():
                try:
                    job.run()
                except Exception:
                    failures += 1
                    log.exception("housekeeping step failed", extra={"step": job.name})
                job.due_at = time.monotonic() + job.interval_s
        if once:
            break
        stop.wait(max(0.5, min(job.due_at for job in jobs) - time.monotonic()))
    return failures


@click.group("housekeeping")
def housekeeping() -> None:
    """The scheduled role: audit checkpoints, certificate expiry, retention."""


@housekeeping.command("run")
@click.option("--once", is_flag=True, help="Do each step once and exit (for cron).")
def run(once: bool) -> None:
    """Sign the audit head, watch certificates and apply retention, each on its interval."""
    from core import logs
    from core.db import make_engine, wait_for_database

    logs.setup("housekeeping")
    settings = get_settings()
    wait_for_database(settings)
    engine = make_engine(settings, "housekeeping", pool_size=2)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        failures = loop(steps(settings, engine), stop, once=once)
    finally:
        engine.dispose()
    if once and failures:
        raise SystemExit(1)
