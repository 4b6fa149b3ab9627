"""`ecm cluster up|status|down`: the clustered stack left running under a state folder, found
again by status, stopped by down with no server left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecm.services.nats import LocalNatsCluster
from tests.cluster.harness import ROOT
from tests.support.servers import starts_servers

pytestmark = pytest.mark.integration


def ecm(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECM_")}
    return subprocess.run(
        [sys.executable, "-m", "ecm", *args],
        env={**env, "ECM_STATE_DIR": str(state_dir)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=ROOT,
    )


@pytest.fixture
@starts_servers
def state_dir() -> Iterator[Path]:
    path = ROOT / ".state" / f"cluster-cli-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    yield path
    ecm(path, "cluster", "down")
    shutil.rmtree(path, ignore_errors=True)


def test_cluster_up_is_idempotent_status_names_the_leaders_and_down_stops_everything(
    state_dir: Path,
) -> None:
    first = ecm(state_dir, "cluster", "up")
    assert first.returncode == 0, first.stderr
    endpoints = json.loads(first.stdout)
    assert endpoints["ECM_INGEST_TRANSPORT"] == "jetstream"
    assert "target_session_attrs=read-write" in endpoints["ECM_DATABASE_URL"]
    again = ecm(state_dir, "cluster", "up")
    assert json.loads(again.stdout) == endpoints
    status = ecm(state_dir, "cluster", "status")
    assert status.returncode == 0, status.stderr
    assert "events stream leader n" in status.stdout
    pids = LocalNatsCluster(state_dir).running_pids()
    assert all(pids) and len(pids) == 3
    assert ecm(state_dir, "cluster", "down").returncode == 0
    assert ecm(state_dir, "cluster", "status").returncode == 1
    for pid in pids:
        assert pid is not None and not Path(f"/proc/{pid}").exists()
    standby_pid = state_dir / "cluster" / "pg-standby" / "data" / "postmaster.pid"
    assert not standby_pid.exists()
