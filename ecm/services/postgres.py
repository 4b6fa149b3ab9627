"""A private PostgreSQL cluster under <state>/pg, listening on loopback only."""

from __future__ import annotations

import glob
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from core.process import as_user, child_preexec, give_to, run, server_user

DATABASE = "ecm"
SUPERUSER = "ecm"


def bindir() -> Path:
    """Debian keeps server binaries outside PATH, one folder per major version."""
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")


@dataclass(frozen=True)
class LocalPostgres:
    state_dir: Path

    @property
    def root(self) -> Path:
        return self.state_dir / "pg"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def user(self) -> str | None:
        return server_user("postgres")

    def url(self, port: int) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"

    def initialise(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        give_to(self.user, self.root)
        # trust is safe here only because the cluster listens on loopback and a private socket
        # folder; production uses the managed database with real credentials.
        run(
            [
                str(bindir() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            user=self.user,
        )

    def server_args(self, port: int) -> list[str]:
        return [
            "-D",
            str(self.data_dir),
            "-p",
            str(port),
            "-k",
            str(self.socket_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=256MB",
        ]

    def running_port(self) -> int | None:
        """The port of a server already running on this data folder, if any."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return None
        result = subprocess.run(
            [str(bindir() / "pg_ctl"), "status", "-D", str(self.data_dir)],
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
            **as_user(self.user),
        )
        if result.returncode != 0:
            return None
        lines = pid_file.read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 else None

    def start_detached(self, port: int) -> None:
        run(
            [
                str(bindir() / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                " ".join(self.server_args(port)),
            ],
            user=self.user,
        )

    def start_child(self, port: int) -> subprocess.Popen[bytes]:
        log = self.log_file.open("ab")
        return subprocess.Popen(
            [str(bindir() / "postgres"), *self.server_args(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=child_preexec(),
            cwd="/",
            **as_user(self.user),
        )

    def stop(self) -> None:
        if self.running_port() is None:
            return
        run(
            [str(bindir() / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(self.data_dir)],
            user=self.user,
            check=False,
        )

    def wait_ready(self, port: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(
                    f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres",
                    autocommit=True,
                    connect_timeout=2,
                ) as conn:
                    exists = conn.execute(
                        "select 1 from pg_database where datname = %s", (DATABASE,)
                    ).fetchone()
                    if not exists:
                        conn.execute(f'create database "{DATABASE}"')
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL did not start on port {port}; see {self.log_file}"
                    ) from None
                time.sleep(0.2)
