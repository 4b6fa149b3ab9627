"""Fault-test harness: a private stack whose servers the tests may stop, and Jepsen-style counts.

Each fault test owns its servers (PostgreSQL and Mosquitto under .state/faults-<pid>), so
stopping the database or restarting the broker never disturbs the rest of the suite. Devices
are handsets with a real outbox (firmware_sim): an event leaves it only when ingest's receipt
names it (protocol v1.1), and what is left is published again, as on a phone.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine

from core.migrate import upgrade
from core.process import free_port
from core.settings import Settings, to_sqlalchemy_url
from ecm.services.mosquitto import LocalMosquitto
from ecm.services.postgres import LocalPostgres
from ecm.services.stack import stop_child
from firmware_sim.handset import SignedVisitEvent
from firmware_sim.outbox import Outbox
from firmware_sim.publisher import Uplink
from gateway.pki.identity import service_identity
from gateway.protocol import EventClaims, EventType, events_topic, public_key_to_b64, sign_compact
from gateway.registry import Carer, Device, Provider, RegistryDocument, ServiceUser, seed
from ingest.readiness import wait_for_ingest
from tests.ingest.worker_support import end_session, worker_client_id

ROOT = Path(__file__).resolve().parents[2]


class FaultStack:
    """PostgreSQL and Mosquitto as children of the test process, each stoppable on its own.

    Start them from the main thread only: a child gets the parent-death signal when the
    *thread* that started it ends (PR_SET_PDEATHSIG), so a server started from a helper
    thread would be stopped when that thread returns.
    """

    def __init__(self, state_dir: Path, max_queued_messages: int | None = None) -> None:
        self.state_dir = state_dir
        self.pg = LocalPostgres(state_dir)
        self.mqtt = LocalMosquitto(state_dir, max_queued_messages)
        self.pg_port = free_port()
        self.mqtt_port = free_port()
        self.pg.initialise()
        self._pg_child: subprocess.Popen[bytes] | None = None
        self._mqtt_child: subprocess.Popen[bytes] | None = None
        self.start_database()
        self.start_broker()
        self.settings = Settings(
            env="test",
            database_url=self.pg.url(self.pg_port),
            mqtt_host="127.0.0.1",
            mqtt_port=self.mqtt_port,
            state_dir=state_dir,
        )
        upgrade(self.settings)

    def start_database(self) -> None:
        self._pg_child = self.pg.start_child(self.pg_port)
        self.pg.wait_ready(self.pg_port)

    def stop_database(self) -> None:
        if self._pg_child is not None:
            stop_child(self._pg_child)

    def start_broker(self) -> None:
        self._mqtt_child = self.mqtt.start_child(self.mqtt_port)
        self.mqtt.wait_ready(self.mqtt_port)

    def stop_broker(self) -> None:
        if self._mqtt_child is not None:
            stop_child(self._mqtt_child)  # SIGINT: Mosquitto saves its persistence file

    def kill_broker(self) -> None:
        """kill -9: Mosquitto loses whatever arrived since its last autosave."""
        if self._mqtt_child is not None:
            self._mqtt_child.kill()
            self._mqtt_child.wait()

    def close(self) -> None:
        self.stop_broker()
        self.stop_database()

    def role_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ECM_")}
        env.update(
            ECM_ENV="test",
            ECM_STATE_DIR=str(self.state_dir),
            ECM_DATABASE_URL=self.settings.database_url,
            ECM_MQTT_HOST="127.0.0.1",
            ECM_MQTT_PORT=str(self.mqtt_port),
            ECM_INGEST_METRICS_PORT="0",
            ECM_LOG_LEVEL="WARNING",
        )
        env.update(extra)
        return env


@contextmanager
def fault_stack(max_queued_messages: int | None = None) -> Iterator[FaultStack]:
    state_dir = ROOT / ".state" / f"faults-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    shutil.rmtree(state_dir, ignore_errors=True)
    stack = FaultStack(state_dir, max_queued_messages)
    try:
        yield stack
    finally:
        stack.close()
        shutil.rmtree(state_dir, ignore_errors=True)


class IngestRole:
    """`ecm ingest --workers N` (its supervisor restarts a worker that dies)."""

    def __init__(self, stack: FaultStack, workers: int) -> None:
        self.stack = stack
        self.count = workers
        self.log = (stack.state_dir / "ingest.log").open("ab")
        self.process = self._start()
        assert wait_for_ingest(stack.settings, timeout_s=60), "ingest did not come online"

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "ecm", "ingest", "--workers", str(self.count)],
            env=self.stack.role_env(),
            cwd=ROOT,
            stdout=self.log,
            stderr=self.log,
        )

    def log_lines(self) -> list[dict[str, object]]:
        """The JSON log lines of every worker so far (the role logs at WARNING and above)."""
        text = (self.stack.state_dir / "ingest.log").read_text(errors="replace")
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def kill_every_worker(self) -> list[int]:
        """kill -9 every worker. The supervisor of --workers N restarts them; a single worker
        (no supervisor) is started again here, as systemd would."""
        if self.count > 1:
            pids = self.workers()
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            return pids
        pid = self.process.pid
        self.process.kill()
        self.process.wait()
        self.process = self._start()
        return [pid]

    def kill_one_worker(self, rng: random.Random) -> int:
        pid = rng.choice(self.workers())
        os.kill(pid, signal.SIGKILL)
        return pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()  # its workers get SIGTERM from the kernel (parent death)
                self.process.wait()
        self.log.close()
        # A worker's persistent session stays in the share group after it stops, and the broker
        # would queue part of a later test's events to it: a later role with fewer workers
        # would never take them. End the sessions of this role's slots.
        for index in range(self.count):
            end_session(self.stack.settings, worker_client_id(self.stack.settings, index))

    def __enter__(self) -> IngestRole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Fleet:
    """Registered handsets, each with its key and its seq counter."""

    run: str
    ids: list[str]
    keys: list[Ed25519PrivateKey]
    carers: list[str]
    homes: list[str]
    seqs: list[int] = field(default_factory=list)

    def sign(self, count: int) -> list[SignedVisitEvent]:
        events = []
        for n in range(count):
            i = n % len(self.ids)
            claims = EventClaims.build(
                event_id=uuid.uuid4(),
                device_id=self.ids[i],
                carer_id=self.carers[i],
                seq=self.seqs[i],
                type=EventType.CHECK_IN,
                device_time=datetime.now(UTC),
                service_user_id=self.homes[i],
            )
            self.seqs[i] += 1
            token = sign_compact(claims.to_json(), self.keys[i], kid=self.ids[i])
            events.append(
                SignedVisitEvent(claims.event_id, events_topic(self.ids[i]), token, claims)
            )
        return events


def register_fleet(stack: FaultStack, devices: int) -> Fleet:
    run = f"F{uuid.uuid4().hex[:6]}"
    fleet = Fleet(run, [], [], [], [])
    document = RegistryDocument(providers=[Provider(id=f"{run}P", name="Fault Care Ltd")])
    for i in range(devices):
        key = Ed25519PrivateKey.generate()
        fleet.ids.append(f"{run}D{i:03d}")
        fleet.keys.append(key)
        fleet.carers.append(f"{run}C{i:03d}")
        fleet.homes.append(f"{run}SU{i:03d}")
        fleet.seqs.append(0)
        document.carers.append(Carer(id=fleet.carers[-1], provider_id=f"{run}P", name="Carer"))
        document.devices.append(
            Device(
                id=fleet.ids[-1],
                provider_id=f"{run}P",
                public_key=public_key_to_b64(key.public_key()),
            )
        )
        document.service_users.append(
            ServiceUser(id=fleet.homes[-1], name="Home", home_lat=52.6, home_lon=1.3)
        )
    engine = create_engine(to_sqlalchemy_url(stack.settings.database_url))
    with engine.begin() as conn:
        seed(conn, document)
    engine.dispose()
    return fleet


COLUMNS = ("sent", "confirmed", "stored", "lost", "duplicated", "quarantined", "unexpected")


@dataclass
class Counts:
    """Jepsen-style, from the handsets' side: what they sent, what left their outboxes
    (`confirmed`: receipted, with receipts on; PUBACKed for a v1 handset), what the store
    holds, what they let go of that is not stored (`lost`), what is stored twice, which of
    their valid events were quarantined, and what is stored that they never sent."""

    scenario: str
    sent: int
    confirmed: int
    stored: int
    lost: int
    duplicated: int
    unexpected: int
    quarantined: int = 0

    @property
    def receipted(self) -> int:
        return self.confirmed

    def show(self) -> None:
        table = Table(title=f"fault: {self.scenario}")
        for name in COLUMNS:
            table.add_column("receipted" if name == "confirmed" else name, justify="right")
        table.add_row(*(str(getattr(self, name)) for name in COLUMNS))
        Console(stderr=True).print(table)


class Devices:
    """The fleet's handsets publishing through one uplink, with a durable outbox.

    The dev/test operator identity may publish as any device and read every device's receipts
    (tests/conftest.py); `client_id` names its persistent session, so a restarted uplink with
    the same id gets the receipts sent while it was away. With `receipts` off it is a v1
    handset (an event leaves the outbox on PUBACK).
    """

    def __init__(
        self,
        stack: FaultStack,
        outbox_path: Path,
        port: int | None = None,
        *,
        receipts: bool = True,
        receipt_timeout_s: float = 3.0,
        client_id: str | None = None,
    ) -> None:
        self.outbox = Outbox(outbox_path)
        self.uplink = Uplink(
            "127.0.0.1",
            port or stack.mqtt_port,
            outbox=self.outbox,
            tls=service_identity(stack.settings, "operator"),
            receipts=receipts,
            receipt_timeout_s=receipt_timeout_s,
            client_id=client_id,
        )
        self.uplink._client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.sent: dict[uuid.UUID, SignedVisitEvent] = {}

    def __enter__(self) -> Devices:
        self.uplink.connect(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.uplink.close()

    def publish(self, events: list[SignedVisitEvent]) -> None:
        self.uplink.keep(events)
        for event in events:
            self.sent[event.event_id] = event
            self.uplink.publish(event.topic, event.payload, event.event_id)

    def deliver_everything(self, timeout_s: float) -> None:
        """Until the outbox is empty: with receipts the uplink resends by its retry rule; a v1
        handset publishes again whatever lacks a PUBACK."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.uplink.receipts:
                self.uplink.wait_receipted(timeout=1)
            else:
                self.uplink.flush(timeout=5)
            if len(self.outbox) == 0:
                return
            if not self.uplink.receipts:
                self.uplink.resend_outbox()
        raise AssertionError(f"{len(self.outbox)} events never confirmed")

    @property
    def confirmed(self) -> int:
        pending = {entry.event_id for entry in self.outbox.pending()}
        return len(set(self.sent) - pending)


def settle_and_count(
    stack: FaultStack,
    fleet: Fleet,
    devices: Devices,
    scenario: str,
    timeout_s: float = 60,
    planted: Sequence[bytes] = (),
) -> Counts:
    """Wait until every confirmed event is stored (or the timeout), then count.

    `planted` are payloads the test published on the fleet's topics to be quarantined (bad
    messages among the good): they are not counted as sent, and their quarantine entries are
    not unexpected."""
    bad = set(planted)
    ids = [event_id for event_id, event in devices.sent.items() if event.payload not in bad]
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "select count(distinct event_id) from device_event where event_id = any(%s)",
                (ids,),
            ).fetchone()
            stored = int(row[0]) if row else 0
            pending = {entry.event_id for entry in devices.outbox.pending()}
            if stored >= len(set(ids) - pending) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        time.sleep(1.0)  # anything still in flight would show as a duplicate now
        total, distinct, seq_doubles = conn.execute(
            "select count(*), count(distinct event_id), "
            "count(*) - count(distinct (device_id, seq)) "
            "from device_event where device_id like %s",
            (f"{fleet.run}%",),
        ).fetchone() or (0, 0, 0)
        stored_ids = {
            r[0]
            for r in conn.execute(
                "select event_id from device_event where device_id like %s", (f"{fleet.run}%",)
            ).fetchall()
        }
        (quarantined,) = conn.execute(
            "select count(*) from quarantined_message where device_id like %s "
            "and not payload = any(%s)",
            (f"{fleet.run}%", list(planted)),
        ).fetchone() or (0,)
    confirmed_ids = set(ids) - {e.event_id for e in devices.outbox.pending()}
    counts = Counts(
        scenario=scenario,
        sent=len(ids),
        confirmed=len(confirmed_ids),
        stored=len(stored_ids & set(ids)),
        lost=len(confirmed_ids - stored_ids),
        duplicated=max(total - distinct, seq_doubles),
        unexpected=len(stored_ids - set(ids)),
        quarantined=int(quarantined),
    )
    counts.show()
    return counts


def publish_paced(devices: Devices, fleet: Fleet, total: int, seconds: float) -> None:
    """Publish `total` events evenly over `seconds`, in 20 slices."""
    slices = 20
    per_slice = total // slices
    events = fleet.sign(per_slice * slices)
    started = time.monotonic()
    for k in range(slices):
        devices.publish(events[k * per_slice : (k + 1) * per_slice])
        due = started + (k + 1) * seconds / slices
        time.sleep(max(0.0, due - time.monotonic()))
