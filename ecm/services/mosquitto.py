"""A private Mosquitto under <state>/mqtt, listening on loopback only."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ecm.services.process import child_preexec, port_open
from gateway.broker import BrokerConfig, render_mosquitto_conf


def binary() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("mosquitto not found: apt-get install mosquitto mosquitto-clients")


@dataclass(frozen=True)
class LocalMosquitto:
    state_dir: Path

    @property
    def root(self) -> Path:
        return self.state_dir / "mqtt"

    @property
    def conf_file(self) -> Path:
        return self.root / "mosquitto.conf"

    @property
    def pid_file(self) -> Path:
        return self.root / "mosquitto.pid"

    def configure(self, port: int, *, detached: bool) -> None:
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        config = BrokerConfig(
            port=port,
            persistence_dir=self.root / "data",
            log_file=self.root / "mosquitto.log",
            # Started as root, mosquitto would switch to its own user and lose our folder.
            run_as=pwd.getpwuid(os.geteuid()).pw_name,
            pid_file=self.pid_file if detached else None,
        )
        self.conf_file.write_text(render_mosquitto_conf(config))

    def running_port(self) -> int | None:
        if not self.pid_file.exists() or not self.conf_file.exists():
            return None
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError, PermissionError):
            return None
        for line in self.conf_file.read_text().splitlines():
            if line.startswith("listener "):
                return int(line.split()[1])
        return None

    def start_detached(self, port: int) -> None:
        self.configure(port, detached=True)
        subprocess.run([binary(), "-c", str(self.conf_file), "-d"], check=True, cwd="/")
        self.wait_ready(port)

    def start_child(self, port: int) -> subprocess.Popen[bytes]:
        self.configure(port, detached=False)
        return subprocess.Popen(
            [binary(), "-c", str(self.conf_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_preexec(),
            cwd="/",
        )

    def stop(self) -> None:
        port = self.running_port()
        if port is None:
            return
        pid = int(self.pid_file.read_text().strip())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while port_open(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)

    def wait_ready(self, port: int, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not port_open(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Mosquitto did not start on port {port}; see {self.root}")
            time.sleep(0.05)
