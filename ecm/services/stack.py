"""Bring the local PostgreSQL and Mosquitto up and down together."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.process import free_port
from core.settings import env_file
from ecm.services.mosquitto import LocalMosquitto
from ecm.services.postgres import LocalPostgres


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    mqtt_host: str
    mqtt_port: int

    def as_env(self) -> dict[str, str]:
        return {
            "ECM_DATABASE_URL": self.database_url,
            "ECM_MQTT_HOST": self.mqtt_host,
            "ECM_MQTT_PORT": str(self.mqtt_port),
        }


def _record(state_dir: Path, endpoints: Endpoints) -> None:
    lines = [f"{key}={value}" for key, value in endpoints.as_env().items()]
    env_file(state_dir).write_text("\n".join(lines) + "\n")


def _recorded_ports(state_dir: Path) -> tuple[int | None, int | None]:
    """Reuse last time's ports when free, so URLs people bookmarked keep working."""
    path = env_file(state_dir)
    if not path.exists():
        return None, None
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    pg = values.get("ECM_DATABASE_URL", "").rsplit(":", 1)[-1].split("/")[0]
    mqtt = values.get("ECM_MQTT_PORT", "")
    return (int(pg) if pg.isdigit() else None, int(mqtt) if mqtt.isdigit() else None)


def status(state_dir: Path) -> Endpoints | None:
    pg_port = LocalPostgres(state_dir).running_port()
    mqtt_port = LocalMosquitto(state_dir).running_port()
    if pg_port is None or mqtt_port is None:
        return None
    return Endpoints(LocalPostgres(state_dir).url(pg_port), "127.0.0.1", mqtt_port)


def up(state_dir: Path) -> Endpoints:
    """Start both servers in the background (idempotent) and record where they listen."""
    state_dir.mkdir(parents=True, exist_ok=True)
    pg, mqtt = LocalPostgres(state_dir), LocalMosquitto(state_dir)
    pg_pref, mqtt_pref = _recorded_ports(state_dir)
    pg.initialise()
    pg_port = pg.running_port()
    if pg_port is None:
        pg_port = free_port(pg_pref)
        pg.start_detached(pg_port)
    pg.wait_ready(pg_port)
    mqtt_port = mqtt.running_port()
    if mqtt_port is None:
        mqtt_port = free_port(mqtt_pref)
        mqtt.start_detached(mqtt_port)
    endpoints = Endpoints(pg.url(pg_port), "127.0.0.1", mqtt_port)
    _record(state_dir, endpoints)
    return endpoints


def down(state_dir: Path) -> None:
    LocalMosquitto(state_dir).stop()
    LocalPostgres(state_dir).stop()
    env_file(state_dir).unlink(missing_ok=True)


@contextlib.contextmanager
def running(state_dir: Path) -> Iterator[Endpoints]:
    """Use servers already up in this state folder, or own new ones for the block's duration."""
    existing = status(state_dir)
    if existing is not None:
        yield existing
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    pg, mqtt = LocalPostgres(state_dir), LocalMosquitto(state_dir)
    pg_pref, mqtt_pref = _recorded_ports(state_dir)
    pg.initialise()
    children: list[subprocess.Popen[bytes]] = []
    try:
        pg_port = free_port(pg_pref)
        children.append(pg.start_child(pg_port))
        mqtt_port = free_port(mqtt_pref)
        children.append(mqtt.start_child(mqtt_port))
        pg.wait_ready(pg_port)
        mqtt.wait_ready(mqtt_port)
        endpoints = Endpoints(pg.url(pg_port), "127.0.0.1", mqtt_port)
        _record(state_dir, endpoints)
        yield endpoints
    finally:
        for child in reversed(children):
            stop_child(child)
        env_file(state_dir).unlink(missing_ok=True)


def stop_child(child: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    if child.poll() is not None:
        return
    # SIGINT is PostgreSQL's fast shutdown and Mosquitto's normal one.
    child.send_signal(2)
    try:
        child.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
