"""Do sign-ins slow everyone else down? Page reads are timed with and without a stream of
sign-ins, once with password hashing in the low-priority worker process (the default) and once
in the API's own request threads (ECM_PASSWORD_WORKERS=0, as before), in the same run.

    .venv/bin/python -m loadtests.sign_in_bench [--seconds 20] [--readers 8] [--signers 2]

Writes loadtests/results/sign_in_bench.json and prints a table. The figures to compare are the
ratios within one run: p99 of reads during sign-ins over p99 of reads without them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from api.auth.accounts import add_account
from api.auth.roles import Role
from core.db import make_engine
from core.migrate import upgrade
from core.process import child_preexec, free_port
from core.settings import Settings
from ecm import services
from gateway.registry import Provider, RegistryDocument, seed

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
PASSWORD = "a password for the benchmark"
console = Console(width=130)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_api(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ecm", "api", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=child_preexec(signal.SIGTERM),
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the API did not start; see {log}")


def sign_in(url: str, username: str) -> tuple[str, float]:
    started = time.perf_counter()
    answer = httpx.post(
        f"{url}/auth/token", data={"username": username, "password": PASSWORD}, timeout=60
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"]), (time.perf_counter() - started) * 1000


def phase(url: str, token: str, signers: list[str], readers: int, seconds: float) -> dict[str, Any]:
    """`readers` threads read pages for `seconds`, while each name in `signers` signs in over
    and over. Returns the reads' and sign-ins' timings."""
    stop = threading.Event()
    reads: list[float] = []
    sign_ins: list[float] = []
    lock = threading.Lock()

    def loop(work: Callable[[httpx.Client], float], into: list[float]) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while not stop.is_set():
                elapsed = work(client)
                with lock:
                    into.append(elapsed)
                time.sleep(0.02)

    def read(client: httpx.Client) -> float:
        started = time.perf_counter()
        client.get("/providers", headers={"Authorization": f"Bearer {token}"}).raise_for_status()
        return (time.perf_counter() - started) * 1000

    def signer(username: str) -> Callable[[httpx.Client], float]:
        def work(client: httpx.Client) -> float:
            started = time.perf_counter()
            answer = client.post("/auth/token", data={"username": username, "password": PASSWORD})
            answer.raise_for_status()
            return (time.perf_counter() - started) * 1000

        return work

    threads = [threading.Thread(target=loop, args=(read, reads)) for _ in range(readers)]
    threads += [threading.Thread(target=loop, args=(signer(n), sign_ins)) for n in signers]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return {
        "reads": len(reads),
        "read_p50_ms": round(percentile(reads, 0.50), 1),
        "read_p95_ms": round(percentile(reads, 0.95), 1),
        "read_p99_ms": round(percentile(reads, 0.99), 1),
        "sign_ins": len(sign_ins),
        "sign_in_median_ms": round(statistics.median(sign_ins), 1) if sign_ins else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--signers", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=Settings().password_worker_cpus)
    parser.add_argument(
        "--nice", type=int, default=Settings().password_worker_nice, help="worker niceness"
    )
    args = parser.parse_args()
    state_dir = ROOT / ".state" / "sign-in-bench"
    shutil.rmtree(state_dir, ignore_errors=True)
    rows: list[dict[str, Any]] = []
    with services.running(state_dir) as endpoints:
        settings = Settings(
            env="dev",
            state_dir=state_dir,
            database_url=endpoints.database_url,
            mqtt_host=endpoints.mqtt_host,
            mqtt_port=endpoints.mqtt_port,
        )
        upgrade(settings)
        engine = make_engine(settings, "bench", pool_size=1)
        names = ["bench-reader", *(f"bench-signer-{n}" for n in range(args.signers))]
        with engine.begin() as conn:
            seed(conn, RegistryDocument(providers=[Provider(id="P-BENCH", name="Bench Care")]))
            for name in names:
                add_account(conn, name, PASSWORD, Role.ADMINISTRATOR)
        engine.dispose()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ECM_")}
        env.update(endpoints.as_env(), ECM_STATE_DIR=str(state_dir), ECM_ENV="dev")
        env["ECM_API_METRICS_PORT"] = "0"
        env["ECM_PASSWORD_WORKER_NICE"] = str(args.nice)
        env["ECM_PASSWORD_WORKER_CPUS"] = str(args.cpus)
        (state_dir / "logs").mkdir(exist_ok=True)
        worker = f"worker process (nice {args.nice}, {args.cpus or 'any'} cpu)"
        modes = ((worker, "1"), ("in the request thread", "0"))
        for mode, workers in modes:
            port = free_port()
            api = start_api(
                {**env, "ECM_PASSWORD_WORKERS": workers}, port, state_dir / "logs" / "api.log"
            )
            url = f"http://127.0.0.1:{port}"
            try:
                token, _ = sign_in(url, "bench-reader")
                for name in names[1:]:
                    sign_in(url, name)  # warm: the worker process is up before timing
                quiet = phase(url, token, [], args.readers, args.seconds)
                busy = phase(url, token, names[1:], args.readers, args.seconds)
            finally:
                api.send_signal(signal.SIGTERM)
                api.wait(timeout=30)
            ratio = busy["read_p99_ms"] / quiet["read_p99_ms"] if quiet["read_p99_ms"] else None
            rows.append({"hashing": mode, "without_sign_ins": quiet, "with_sign_ins": busy,
                         "p99_ratio": round(ratio, 2) if ratio else None})  # fmt: skip
    summary = {
        "measured_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": os.getloadavg(),
            "note": "development machine shared with other engineers' test runs",
        },
        "readers": args.readers,
        "signers": args.signers,
        "seconds_per_phase": args.seconds,
        "results": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sign_in_bench.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = Table(
        title=f"GET /providers by {args.readers} readers, with and without {args.signers} "
        "back-to-back sign-ins"
    )
    for column in ("hashing", "sign-ins", "reads", "p50 ms", "p95 ms", "p99 ms",
                   "sign-in median ms", "p99 with / without"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("hashing", "sign-ins") else "right")
    for row in rows:
        for label, figures in (("no", row["without_sign_ins"]), ("yes", row["with_sign_ins"])):
            table.add_row(
                row["hashing"], label, str(figures["reads"]), str(figures["read_p50_ms"]),
                str(figures["read_p95_ms"]), str(figures["read_p99_ms"]),
                str(figures["sign_in_median_ms"] or ""),
                str(row["p99_ratio"]) if label == "yes" else "",
            )  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
