"""The housekeeping role signs the audit chain's head when it has grown, and its steps run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, text

from api.audit import chain
from core.settings import Settings
from tests.support.paths import ROOT


def housekeeping_once(
    role_env: dict[str, str], scratch: Settings, key_dir: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecm", "housekeeping", "run", "--once"],
        env={
            **role_env,
            "ECM_DATABASE_URL": scratch.database_url,
            "ECM_AUDIT_KEY_DIR": str(key_dir),
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_housekeeping_signs_the_head_only_when_it_has_grown(
    scratch: Settings, scratch_engine: Engine, role_env: dict[str, str], tmp_path: Path
) -> None:
    with scratch_engine.begin() as conn:
        for n in range(3):
            chain.append_system(conn, actor="test", method="GET", path=f"/read/{n}")
    first = housekeeping_once(role_env, scratch, tmp_path)
    assert first.returncode == 0, first.stderr
    logged = [json.loads(line) for line in first.stderr.splitlines() if line.startswith("{")]
    assert any(entry["msg"] == "audit checkpoint signed" for entry in logged)
    assert any(entry["msg"] == "retention run" for entry in logged)
    second = housekeeping_once(role_env, scratch, tmp_path)
    assert second.returncode == 0, second.stderr
    with scratch_engine.connect() as conn:
        heads = conn.execute(
            text("select entries from audit_checkpoint where kind = 'head' order by id")
        ).all()
    # The retention run of the first pass appended nothing (nothing was due), so the second
    # pass found the head already signed.
    assert [row[0] for row in heads] == [3]
    lines = (tmp_path / "checkpoints.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["entries"] == 3
