"""Child-process plumbing shared by the local servers."""

from __future__ import annotations

import ctypes
import os
import pwd
import signal
import socket
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1


def free_port(preferred: int | None = None) -> int:
    """A loopback port nobody listens on; the preferred one if it is still free."""
    candidates = [preferred, 0] if preferred else [0]
    for candidate in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", candidate or 0))
            except OSError:
                continue
            port: int = sock.getsockname()[1]
            return port
    raise RuntimeError("no free loopback port")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def child_preexec(death_signal: int = signal.SIGINT) -> Callable[[], None]:
    """Ask the kernel to signal the child when its parent dies, so no server is orphaned.

    It runs after Popen has switched user, because a credential change clears the setting.
    """

    def _preexec() -> None:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, death_signal)

    return _preexec


def server_user(preferred: str) -> str | None:
    """PostgreSQL refuses to run as root; as root we run servers as their Debian system user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(preferred)
    except KeyError as exc:
        raise RuntimeError(f"running as root needs the system user {preferred!r}") from exc
    return preferred


def as_user(user: str | None) -> dict[str, Any]:
    """Popen arguments that drop to `user` completely: its uid, its gid, and no other groups.

    Dropping only the uid would keep root's group, and Linux then applies a folder's group bits
    (none, on a mode-700 checkout) instead of the 'other' bits we grant.
    """
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def give_to(user: str | None, *paths: Path) -> None:
    """Hand state folders to the server's user and make sure it can reach them."""
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for path in paths:
        for root, dirs, files in os.walk(path):
            os.chown(root, entry.pw_uid, entry.pw_gid)
            for name in dirs + files:
                os.chown(
                    os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False
                )
        _make_traversable(path.parent)


def _make_traversable(path: Path) -> None:
    # A clone in a mode-700 folder (mktemp -d) hides the state folder from the server's user;
    # adding only the search bit lets it reach its own folder without listing anything else.
    for ancestor in [path, *path.parents]:
        mode = ancestor.stat().st_mode
        if not mode & 0o001:
            os.chmod(ancestor, mode | 0o001)


def run(cmd: Sequence[str], *, user: str | None = None, check: bool = True) -> str:
    result = subprocess.run(
        list(cmd), check=False, capture_output=True, text=True, cwd="/", **as_user(user)
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout
