from __future__ import annotations

import signal
import socket
import subprocess
import sys

import httpx
from click.testing import CliRunner

from api.cli import command, http_implementation
from ecm.cli import cli
from tests.support.paths import ROOT
from tests.support.polling import wait_until


def test_ecm_api_is_the_api_command() -> None:
    result = CliRunner().invoke(cli, ["api", "--help"])

    assert result.exit_code == 0, result.output
    assert "--host" in result.output
    assert "--port" in result.output
    assert command.name == "api"


def test_uses_httptools_when_installed() -> None:
    assert http_implementation() == "httptools"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_ecm_api_serves_health(role_env: dict[str, str]) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ecm", "api", "--port", str(port)],
        env=role_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def healthy() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            except httpx.TransportError:
                return None

        response = wait_until(healthy, timeout_s=20)
        assert response.json() == {"status": "ok", "database": "ok"}
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it received; the API exits on it
    # through atexit, which shuts the password workers' pool down (api.cli.exit_on_sigterm).
    assert process.returncode == 128 + signal.SIGTERM
    assert b"leaked semaphore" not in output, output.decode(errors="replace")[-2000:]
