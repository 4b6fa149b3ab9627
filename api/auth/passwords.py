"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile), off the request
path.

One verification takes 64 MiB and four threads (p=4) for about 0.1 s of CPU: run inside the API
process it takes both cores of a small server from every other request, and the requests that
happen to coincide with a sign-in are the slow tail of the load test. So sign-ins verify in a
separate worker process started at a lower CPU priority (`nice`) and kept to one core: when
requests and a sign-in compete, the kernel serves the requests first, and the other cores are
never the sign-in's. The number of verifications at
once (`ECM_PASSWORD_WORKERS`) and waiting (`ECM_PASSWORD_QUEUE_MAX`) are bounded; past that a
sign-in is told to come back (503 with Retry-After) instead of queueing without end.

`hash_password` and `verify_password` also run in-process, for the CLI and the tests.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

log = logging.getLogger("ecm.auth")

MIN_LENGTH = 12

_hasher = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4


class HashingBusy(Exception):
    """More sign-ins are waiting for a hashing worker than the queue allows."""


def hash_password(password: str) -> str:
    check_length(password)
    return _hasher.hash(password)


def check_length(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return _hasher.hash("decoy password never issued")


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches. An unknown account (None) or an account whose password was
    ended by a forced reset costs the same verification as a wrong password, so the time taken
    reveals neither."""
    if password_hash is None or not password_hash.startswith("$argon2"):
        _verify(_decoy_hash(), password)
        return False
    return _verify(password_hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _watch(parent_pid: int) -> None:
    # A pool's workers wait for work for ever; if the API process dies without shutting the
    # pool down (killed, or exiting before its atexit runs) nothing would end them, and the
    # forkserver would wait on them. Each worker ends itself once its API process is gone.
    while _alive(parent_pid):
        time.sleep(1.0)
    os._exit(0)


def _lower_priority(niceness: int, cpus: int, parent_pid: int = 0) -> None:
    if parent_pid:
        threading.Thread(target=_watch, args=(parent_pid,), daemon=True).start()
    os.nice(niceness)
    available = sorted(os.sched_getaffinity(0))
    if 0 < cpus < len(available):
        # argon2 runs p=4 threads: on its own they would take every core. Kept to the last
        # `cpus` cores, a sign-in leaves the others to the requests however long it takes.
        os.sched_setaffinity(0, available[-cpus:])
    _decoy_hash()  # made once per worker, before the first sign-in needs it


class PasswordWorkers:
    """A bounded pool of low-priority hashing processes, shared by every request thread."""

    def __init__(self, workers: int, queue_max: int, niceness: int, cpus: int = 1) -> None:
        # workers=0: verify in the request's own thread, one at a time (the behaviour before
        # the worker processes; kept for comparison, loadtests/sign_in_bench.py).
        self._workers, self._niceness, self._cpus = max(0, workers), niceness, cpus
        self._slots = threading.BoundedSemaphore(max(1, self._workers) + max(0, queue_max))
        self._inline = threading.Lock()
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # forkserver: workers are forked from a clean server process, never from the
                # API with its threads and open database connections.
                self._pool = ProcessPoolExecutor(
                    max_workers=self._workers,
                    mp_context=multiprocessing.get_context("forkserver"),
                    initializer=_lower_priority,
                    initargs=(self._niceness, self._cpus, os.getpid()),
                )
            return self._pool

    def _run(self, function: object, *args: object) -> object:
        if not self._slots.acquire(blocking=False):
            raise HashingBusy("too many sign-ins are waiting; try again in a moment")
        try:
            if self._workers == 0:
                with self._inline:
                    return function(*args)  # type: ignore[operator]
            for attempt in (1, 2):
                executor = self._executor()
                try:
                    return executor.submit(function, *args).result()  # type: ignore[arg-type]
                except BrokenProcessPool:
                    # A worker died (killed, out of memory): start a fresh pool once.
                    log.warning("password worker pool broken; restarting it (attempt %d)", attempt)
                    with self._lock:
                        if self._pool is executor:
                            self._pool = None
                    executor.shutdown(wait=False, cancel_futures=True)
            raise HashingBusy("the password workers are restarting; try again in a moment")
        finally:
            self._slots.release()

    def verify(self, password_hash: str | None, password: str) -> bool:
        return bool(self._run(verify_password, password_hash, password))

    def hash(self, password: str) -> str:
        check_length(password)
        return str(self._run(hash_password, password))

    def warm(self) -> None:
        """Start the worker process now, in the background, so the first sign-in after start-up
        does not wait for it."""
        if self._workers == 0:
            return
        threading.Thread(
            target=lambda: self._executor().submit(_decoy_hash).result(),
            name="password-workers-warm",
            daemon=True,
        ).start()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


_shared: dict[tuple[int, int, int, int], PasswordWorkers] = {}
_shared_lock = threading.Lock()


def password_workers(workers: int, queue_max: int, niceness: int, cpus: int) -> PasswordWorkers:
    """One pool per process and configuration: every app in the process shares it."""
    key = (workers, queue_max, niceness, cpus)
    with _shared_lock:
        pool = _shared.get(key)
        if pool is None:
            pool = _shared[key] = PasswordWorkers(workers, queue_max, niceness, cpus)
        return pool


@atexit.register
def _close_all() -> None:
    for pool in list(_shared.values()):
        pool.close()
