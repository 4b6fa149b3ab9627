"""Where the suite runs: the repository, and this test session's own state folder."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def session_state_dir() -> Path:
    """.state/test-<pid>: the servers this session starts, never another worktree's."""
    return ROOT / ".state" / f"test-{os.getpid()}"
