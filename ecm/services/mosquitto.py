"""A private Mosquitto under <state>/mqtt, listening on loopback only, TLS with client certificates.

The first start creates the gateway CA and the identities under <state>/pki (gateway.pki.layout)
and the dynamic-security file the broker starts from; later starts keep them.
"""

from __future__ import annotations

import os
import pwd
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.process import child_preexec, port_open
from core.settings import Settings
from gateway.broker import (
    BrokerConfig,
    BrokerTls,
    open_files_limit,
    render_dynsec_config,
    render_mosquitto_conf,
)
from gateway.pki.layout import DEV_SERVICES, initialise, pki_layout

DYNSEC_PLUGIN_PATHS = (
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
)


def binary() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("mosquitto not found: apt-get install mosquitto mosquitto-clients")


def dynsec_plugin() -> Path:
    for candidate in DYNSEC_PLUGIN_PATHS:
        if Path(candidate).exists():
            return Path(candidate)
    raise RuntimeError("mosquitto_dynamic_security.so not found: is mosquitto 2.0 installed?")


def limit_open_files(limit: int, then: Callable[[], None] | None = None) -> Callable[[], None]:
    """A preexec that caps the broker's open files: the bound on its connections that holds
    (gateway.broker.open_files_limit)."""

    def _preexec() -> None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (cap, cap))
        if then is not None:
            then()

    return _preexec


@dataclass(frozen=True)
class LocalMosquitto:
    state_dir: Path
    # Per-session queue cap; None takes Settings.mqtt_max_queued_messages. The fault tests set
    # a small one to overflow it on purpose.
    max_queued_messages: int | None = None

    @property
    def root(self) -> Path:
        return self.state_dir / "mqtt"

    @property
    def conf_file(self) -> Path:
        return self.root / "mosquitto.conf"

    @property
    def pid_file(self) -> Path:
        return self.root / "mosquitto.pid"

    @property
    def dynsec_file(self) -> Path:
        return self.root / "dynamic-security.json"

    def configure(self, port: int, *, detached: bool) -> BrokerConfig:
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        settings = Settings(state_dir=self.state_dir)
        layout = pki_layout(self.state_dir)
        extra_names = [n.strip() for n in settings.mqtt_server_names.split(",") if n.strip()]
        initialise(layout, settings.master_key, extra_names, DEV_SERVICES)
        # The plugin owns this file once running (it saves every change made through
        # $CONTROL), so a restart keeps provisioned devices: write it only the first time.
        if not self.dynsec_file.exists():
            self.dynsec_file.write_text(render_dynsec_config(DEV_SERVICES, []))
        config = BrokerConfig(
            port=port,
            persistence_dir=self.root / "data",
            log_file=self.root / "mosquitto.log",
            tls=BrokerTls(layout.ca_file, layout.server_cert, layout.server_key, layout.crl_file),
            dynsec_plugin=dynsec_plugin(),
            dynsec_file=self.dynsec_file,
            # Started as root, mosquitto would switch to its own user and lose our folder.
            run_as=pwd.getpwuid(os.geteuid()).pw_name,
            # Written in both modes: revocation signals the broker to re-read its CRL.
            pid_file=self.pid_file,
            max_queued_messages=self.max_queued_messages or settings.mqtt_max_queued_messages,
        )
        self.conf_file.write_text(render_mosquitto_conf(config))
        return config

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
        config = self.configure(port, detached=True)
        # The daemon keeps these: its warnings on every reload (SIGHUP after a revocation) go to
        # a file, not to whichever terminal ran `ecm services up`.
        with (self.root / "mosquitto.stderr").open("ab") as err:
            subprocess.run(
                [binary(), "-c", str(self.conf_file), "-d"],
                check=True,
                preexec_fn=limit_open_files(open_files_limit(config)),
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
            )
        self.wait_ready(port)

    def start_child(self, port: int) -> subprocess.Popen[bytes]:
        config = self.configure(port, detached=False)
        return subprocess.Popen(
            [binary(), "-c", str(self.conf_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=limit_open_files(open_files_limit(config), child_preexec()),
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
