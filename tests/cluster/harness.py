"""Cluster test harness: the clustered stack started by the project's own code, and its roles.

`cluster_stack()` starts three NATS JetStream nodes and a PostgreSQL primary with a synchronous
standby (ecm.services.cluster.running_cluster) under .state/cluster-<pid>-..., migrates the
database and stops everything when the block exits. Tests may kill any of its servers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nats
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import create_engine

from core.migrate import upgrade
from core.process import child_preexec
from core.settings import Settings, to_sqlalchemy_url
from ecm.services.cluster import ClusterProcesses, running_cluster
from firmware_sim.handset import SignedVisitEvent
from firmware_sim.outbox import Outbox
from firmware_sim.publisher import Uplink
from gateway import jetstream
from gateway.pki.devices import DeviceCertificates
from gateway.pki.identity import TlsIdentity, service_identity
from ingest.jetstream import wait_for_jetstream_ingest

ROOT = Path(__file__).resolve().parents[2]


class ClusterStack:
    def __init__(self, processes: ClusterProcesses) -> None:
        self.processes = processes
        self.state_dir = processes.state_dir
        self.endpoints = processes.endpoints
        self.settings: Settings = self.endpoints.settings(self.state_dir, env="test")

    @property
    def mqtt_ports(self) -> list[int]:
        return self.endpoints.mqtt_ports

    def role_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ECM_")}
        env.update(self.endpoints.as_env())
        env.update(
            ECM_ENV="test",
            ECM_STATE_DIR=str(self.state_dir),
            ECM_INGEST_METRICS_PORT="0",
            ECM_INGEST_REGISTRY_REFRESH_S="0.5",
            ECM_LOG_LEVEL="WARNING",
        )
        env.update(extra)
        return env

    def provision(self, device_ids: list[str]) -> dict[str, TlsIdentity]:
        """As `ecm devices provision --local` on the cluster: certificates, users reloaded."""
        engine = create_engine(to_sqlalchemy_url(self.settings.database_url))
        try:
            with engine.begin() as conn:
                return DeviceCertificates(self.settings).provision_local(conn, device_ids)
        finally:
            engine.dispose()

    def revoke(self, device_id: str) -> None:
        engine = create_engine(to_sqlalchemy_url(self.settings.database_url))
        try:
            with engine.begin() as conn:
                DeviceCertificates(self.settings).revoke(conn, device_id, "lost")
        finally:
            engine.dispose()

    def view(self) -> jetstream.ClusterView:
        tls = service_identity(self.settings, "admin").ssl_context()
        view: jetstream.ClusterView = jetstream.run(
            jetstream.cluster_view(self.endpoints.nats_urls, tls)
        )
        return view

    def node_index(self, name: str) -> int:
        return int(name.removeprefix("n")) - 1


@contextmanager
def cluster_stack() -> Iterator[ClusterStack]:
    state_dir = ROOT / ".state" / f"cluster-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    shutil.rmtree(state_dir, ignore_errors=True)
    try:
        with running_cluster(state_dir) as processes:
            stack = ClusterStack(processes)
            upgrade(stack.settings)
            yield stack
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


class ClusterIngest:
    """`ecm ingest --workers N` with the JetStream transport, as a subprocess."""

    def __init__(self, stack: ClusterStack, workers: int, **env: str) -> None:
        self.log = (stack.state_dir / "ingest.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ecm", "ingest", "--workers", str(workers)],
            env=stack.role_env(**env),
            cwd=ROOT,
            stdout=self.log,
            stderr=self.log,
            # Ended with the test process, even when that is killed outright.
            preexec_fn=child_preexec(signal.SIGTERM),
        )
        assert wait_for_jetstream_ingest(stack.settings, timeout_s=60), "ingest not pulling"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def __enter__(self) -> ClusterIngest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ClusterDevices:
    """Handsets publishing over MQTT 3.1.1 with a durable outbox, moving node on a lost link.

    One uplink as the dev/test `svc:operator` identity (it may publish as any device, as in
    tests/faults); what a device's own certificate may do is tested in test_identity.py.
    """

    def __init__(
        self,
        stack: ClusterStack,
        outbox_path: Path,
        node: int = 0,
        *,
        receipts: bool = True,
        receipt_timeout_s: float = 5.0,
    ) -> None:
        self.outbox = Outbox(outbox_path)
        ports = stack.mqtt_ports
        self.uplink = Uplink(
            "127.0.0.1",
            ports[node],
            outbox=self.outbox,
            tls=service_identity(stack.settings, "operator"),
            mqtt_version="3.1.1",
            other_ports=ports,
            # v1.1: an event leaves the outbox on ingest's receipt, which on the cluster is the
            # only acknowledgement a handset can trust (a PUBACK is not tied to the stream).
            receipts=receipts,
            receipt_timeout_s=receipt_timeout_s,
        )
        self.uplink._client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.sent: dict[uuid.UUID, SignedVisitEvent] = {}

    def __enter__(self) -> ClusterDevices:
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


class MqttSession:
    """One MQTT client with a device's (or service's) certificate, driven synchronously."""

    def __init__(
        self,
        identity: TlsIdentity,
        port: int,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311,
        *,
        client_id: str | None = None,
        clean_session: bool = True,
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"ecm-test-{uuid.uuid4().hex[:8]}",
            protocol=protocol,
            # MQTT 5 has clean start at CONNECT instead (paho refuses clean_session there).
            clean_session=None if protocol == MQTTProtocolVersion.MQTTv5 else clean_session,
        )
        identity.apply(self.client)
        self.port = port
        self.connack: ReasonCode | None = None
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.granted: list[int] = []
        self.subscribed = threading.Event()
        self.messages: list[tuple[str, bytes]] = []
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *args: self.disconnected.set()
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, bytes(m.payload)))

    def _on_connect(self, c: mqtt.Client, u: Any, f: Any, reason: ReasonCode, p: Any) -> None:
        self.connack = reason
        self.connected.set()

    def _on_subscribe(
        self, c: mqtt.Client, u: Any, mid: int, reasons: Sequence[ReasonCode], p: Any
    ) -> None:
        self.granted = [r.value for r in reasons]
        self.subscribed.set()

    def connect(self, timeout_s: float = 15) -> MqttSession:
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        self.connected.wait(timeout_s) or self.disconnected.wait(timeout_s)
        return self

    def subscribe(self, topic: str, timeout_s: float = 15) -> list[int]:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(timeout_s), f"no SUBACK for {topic}"
        return self.granted

    def publish(self, topic: str, payload: bytes, timeout_s: float = 15) -> bool:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout_s)
        return info.is_published()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def nats_client_login(url: str, identity: TlsIdentity) -> str | None:
    """Log in on the NATS client port with a certificate: None when accepted, else the error."""

    async def _login() -> str | None:
        try:
            client = await nats.connect(
                servers=[url],
                tls=identity.ssl_context(),
                tls_hostname="localhost",
                allow_reconnect=False,
                max_reconnect_attempts=0,
                connect_timeout=5,
                error_cb=_quiet,
            )
        except Exception as exc:
            return str(exc) or type(exc).__name__
        await client.close()
        return None

    return asyncio.run(_login())


async def _quiet(exc: Exception) -> None:
    return None
