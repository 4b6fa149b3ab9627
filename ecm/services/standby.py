"""A PostgreSQL primary with one synchronous standby, by streaming replication, on loopback.

The primary (<state>/cluster/pg) is an ordinary LocalPostgres with replication switched on and
`synchronous_standby_names` naming the standby, so a commit returns only once the standby has
flushed its WAL. The standby (<state>/cluster/pg-standby) is a pg_basebackup of the primary that
streams from it through a physical replication slot (WAL it has not received is kept for it).
`promote()` makes the standby the writable server; clients find it through their multi-host
connection string with target_session_attrs=read-write (core.settings).

Replication settings are given on the server's command line, never written into the data
folder, so the standby's copy of the primary's files does not make it wait for a standby of
its own once promoted.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from core.process import give_to, run
from ecm.services.postgres import DATABASE, SUPERUSER, LocalPostgres, bindir
from ecm.services.replication_store import prepare_primary, standby_state

STANDBY_NAME = "ecm_standby"
SLOT = "ecm_standby_slot"


def multi_host_url(ports: list[int], host: str = "127.0.0.1") -> str:
    """libpq tries each host in turn and keeps the one that accepts writes."""
    hosts = ",".join(f"{host}:{port}" for port in ports)
    return f"postgresql://{SUPERUSER}@{hosts}/{DATABASE}?target_session_attrs=read-write"


@dataclass(frozen=True)
class ReplicatedPostgres:
    state_dir: Path

    @property
    def primary(self) -> LocalPostgres:
        return LocalPostgres(self.state_dir / "cluster")

    @property
    def standby_root(self) -> Path:
        return self.state_dir / "cluster" / "pg-standby"

    @property
    def standby_data(self) -> Path:
        return self.standby_root / "data"

    @property
    def standby_log(self) -> Path:
        return self.standby_root / "postgres.log"

    def primary_args(self, port: int) -> list[str]:
        return [
            *self.primary.server_args(port),
            *("-c", "wal_level=replica"),
            *("-c", "max_wal_senders=5"),
            *("-c", "max_replication_slots=5"),
            # A commit waits until the standby has flushed it: a promoted standby has every
            # commit any client saw succeed (docs/scaling.md, "Database failover").
            *("-c", f"synchronous_standby_names={STANDBY_NAME}"),
            *("-c", "synchronous_commit=on"),
            *("-c", "wal_sender_timeout=5s"),
        ]

    def standby_args(self, port: int, primary_port: int) -> list[str]:
        conninfo = (
            f"host=127.0.0.1 port={primary_port} user={SUPERUSER} "
            f"application_name={STANDBY_NAME} connect_timeout=2"
        )
        return [
            *("-D", str(self.standby_data)),
            *("-p", str(port)),
            *("-k", str(self.standby_root / "run")),
            *("-c", "listen_addresses=127.0.0.1"),
            *("-c", "max_connections=200"),
            *("-c", "shared_buffers=128MB"),
            *("-c", f"primary_conninfo={conninfo}"),
            *("-c", f"primary_slot_name={SLOT}"),
            *("-c", "hot_standby=on"),
            *("-c", "wal_receiver_timeout=5s"),
            *("-c", "wal_retrieve_retry_interval=1s"),
            # Once promoted it may have a standby of its own later; it needs the same settings.
            *("-c", "wal_level=replica"),
            *("-c", "max_wal_senders=5"),
        ]

    def start_primary(self, port: int, *, detached: bool) -> subprocess.Popen[bytes] | None:
        primary = self.primary
        primary.initialise()
        if detached:
            run(
                [
                    str(bindir() / "pg_ctl"),
                    *("start", "-w", "-t", "60", "-D", str(primary.data_dir)),
                    *("-l", str(primary.log_file), "-o", _quote(self.primary_args(port))),
                ],
                user=primary.user,
            )
            return None
        return _spawn(primary.user, self.primary_args(port), primary.log_file)

    def wait_primary(self, port: int, timeout_s: float = 60.0) -> None:
        """The database and the standby's replication slot exist (idempotent)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(
                    f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres",
                    autocommit=True,
                    connect_timeout=2,
                ) as conn:
                    prepare_primary(conn, DATABASE, SLOT)
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"primary not ready; see {self.primary.log_file}") from None
                time.sleep(0.2)

    def make_standby(self, primary_port: int) -> None:
        """pg_basebackup of the running primary, once (the data folder is kept afterwards)."""
        if (self.standby_data / "PG_VERSION").exists():
            return
        (self.standby_root / "run").mkdir(parents=True, exist_ok=True)
        self.standby_data.mkdir(parents=True, exist_ok=True)
        self.standby_data.chmod(0o700)
        give_to(self.primary.user, self.standby_root)
        run(
            [
                str(bindir() / "pg_basebackup"),
                *("-D", str(self.standby_data)),
                *("-h", "127.0.0.1", "-p", str(primary_port), "-U", SUPERUSER),
                *("-X", "stream", "-S", SLOT),
                "--checkpoint=fast",
            ],
            user=self.primary.user,
        )
        # A standby is a standby because this file exists; promotion removes it.
        run(["touch", str(self.standby_data / "standby.signal")], user=self.primary.user)

    def start_standby(
        self, port: int, primary_port: int, *, detached: bool
    ) -> subprocess.Popen[bytes] | None:
        args = self.standby_args(port, primary_port)
        if detached:
            run(
                [
                    str(bindir() / "pg_ctl"),
                    *("start", "-w", "-t", "60", "-D", str(self.standby_data)),
                    *("-l", str(self.standby_log), "-o", _quote(args)),
                ],
                user=self.primary.user,
            )
            return None
        return _spawn(self.primary.user, args, self.standby_log)

    def wait_synchronous(self, primary_port: int, timeout_s: float = 60.0) -> None:
        """Until the primary reports the standby streaming and synchronous."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self.primary.url(primary_port), autocommit=True) as conn:
                    state = standby_state(conn, STANDBY_NAME)
                if state == "sync":
                    return
            except psycopg.OperationalError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"standby not synchronous; see {self.standby_log}")
            time.sleep(0.2)

    def promote(self) -> None:
        """Make the standby writable (after the primary is lost)."""
        run(
            [str(bindir() / "pg_ctl"), "promote", "-w", "-t", "60", "-D", str(self.standby_data)],
            user=self.primary.user,
        )

    def stop(self) -> None:
        for data in (self.standby_data, self.primary.data_dir):
            if (data / "postmaster.pid").exists():
                run(
                    [str(bindir() / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(data)],
                    user=self.primary.user,
                    check=False,
                )


def _quote(args: list[str]) -> str:
    # pg_ctl -o passes one string to the server, split on spaces: quote values with spaces.
    return " ".join(f"'{a}'" if " " in a else a for a in args)


def _spawn(user: str | None, args: list[str], log_file: Path) -> subprocess.Popen[bytes]:
    from core.process import as_user, child_preexec

    log = log_file.open("ab")
    return subprocess.Popen(
        [str(bindir() / "postgres"), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=child_preexec(),
        cwd="/",
        **as_user(user),
    )
