"""How much memory a 200 MB upload costs the API: its resident memory before, and its peak while
the upload is refused, for the invoice route (chunked, and with Content-Length) and the portal's
multipart form. Figures relative to the route's limit; written to loadtests/results/.

    .venv/bin/python -m loadtests.upload_memory [--megabytes 200]

Runs its own private stack under .state/upload-memory (PostgreSQL, Mosquitto, ingest, api).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import threading
import time
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from api.auth.roles import Role
from api.limits import INVOICE_MAX_BYTES, MIB
from gateway.registry import Commission, Council, Provider, RegistryDocument, seed

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
console = Console(width=120)
INVOICE_LINE = b"INV-1,1,P1,SU1,2026-11-02,08:00,08:30,30,1,12.06\n"
FORM_PREFIX = (
    b'--ecmboundary\r\nContent-Disposition: form-data; name="file"; '
    b'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n'
)


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def reset_peak(pid: int) -> None:
    """Count the peak resident size (VmHWM) from now on (Linux: clear_refs 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def stream_upload(
    url: str,
    path: str,
    token: str,
    total: int,
    content_type: str,
    *,
    declare: bool,
    prefix: bytes = b"",
) -> tuple[int, int]:
    """Send `total` bytes as a request body from a raw socket (chunked, or with Content-Length
    when `declare`) while reading the answer. Returns (status, bytes sent before the answer)."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    length = f"Content-Length: {total}\r\n" if declare else "Transfer-Encoding: chunked\r\n"
    sock.sendall(
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: {content_type}\r\n{length}\r\n"
        ).encode()
    )
    answer = bytearray()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            answer.extend(data)
            if b"\r\n\r\n" in answer:
                break
        done.set()

    def frame(piece: bytes) -> bytes:
        return piece if declare else b"%x\r\n%s\r\n" % (len(piece), piece)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    chunk = INVOICE_LINE * 20_000  # about 1 MB
    sent = 0
    try:
        if prefix:
            sock.sendall(frame(prefix))
        while sent < total and not done.is_set():
            piece = chunk[: total - sent]
            sock.sendall(frame(piece))
            sent += len(piece)
        if not declare and not done.is_set():
            sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server stopped reading and closed: its answer is on the way
    reader.join(timeout=60)
    sock.close()
    status_line = bytes(answer).split(b"\r\n", 1)[0].decode() or "HTTP/1.1 0"
    return int(status_line.split()[1]), sent


def api_pid(state_dir: Path, port: int) -> int:
    """The `ecm api` process listening on the port (this script started it)."""
    wanted = f"--port\x00{port}"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "ecm\x00api" in command and wanted in command:
                return int(entry.name)
    raise RuntimeError("the ecm api process was not found")


def main() -> None:
    from loadtests.run import add_user, sign_in, stack

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--api-port", type=int, default=8110)
    args = parser.parse_args()
    total = args.megabytes * 1000 * 1000
    state_dir = ROOT / ".state" / "upload-memory"
    shutil.rmtree(state_dir, ignore_errors=True)
    results: list[dict[str, Any]] = []
    with stack(state_dir, args.api_port) as (settings, api_url):
        from core.db import make_engine

        engine = make_engine(settings, "bench", pool_size=1)
        with engine.begin() as conn:
            seed(
                conn,
                RegistryDocument(
                    councils=[Council(id="C-MEM", name="Memory Council")],
                    providers=[Provider(id="P-MEM", name="Memory Care")],
                    commissions=[Commission(council_id="C-MEM", provider_id="P-MEM")],
                ),
            )
        engine.dispose()
        password = add_user(settings, "officer-mem", Role.COUNCIL_OFFICER, council_id="C-MEM")
        token = sign_in(api_url, "officer-mem", password)
        pid = api_pid(state_dir, args.api_port)
        cases = [
            ("invoice, chunked", "/councils/C-MEM/invoices", "text/csv", False, b""),
            ("invoice, Content-Length", "/councils/C-MEM/invoices", "text/csv", True, b""),
            (
                "portal invoice form, chunked",
                "/portal/councils/C-MEM/reconciliation/invoices",
                "multipart/form-data; boundary=ecmboundary",
                False,
                FORM_PREFIX,
            ),
        ]
        for name, path, content_type, declare, prefix in cases:
            time.sleep(1)
            before = memory_kib(pid, "VmRSS")
            reset_peak(pid)
            started = time.perf_counter()
            status, sent = stream_upload(
                api_url, path, token, total, content_type, declare=declare, prefix=prefix
            )
            seconds = time.perf_counter() - started
            peak = memory_kib(pid, "VmHWM")
            growth = (peak - before) * 1024
            results.append(
                {
                    "case": name,
                    "status": status,
                    "uploaded_mb": args.megabytes,
                    "sent_before_answer_mib": round(sent / MIB, 1),
                    "rss_before_mib": round(before / 1024, 1),
                    "peak_rss_mib": round(peak / 1024, 1),
                    "growth_mib": round(growth / MIB, 1),
                    "limit_mib": round(INVOICE_MAX_BYTES / MIB, 1),
                    "growth_to_limit": round(growth / INVOICE_MAX_BYTES, 2),
                    "seconds": round(seconds, 2),
                }
            )
        assert httpx.get(f"{api_url}/health", timeout=10).status_code == 200
    summary = {
        "measured_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "note": "development machine shared with other engineers' test runs",
        },
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "upload_memory.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = Table(title=f"A {args.megabytes} MB upload to ecm api (limit 50 MiB)")
    for column in ("case", "status", "sent before answer MiB", "RSS before MiB", "peak MiB",
                   "growth MiB", "growth / limit"):  # fmt: skip
        table.add_column(column, justify="left" if column == "case" else "right")
    for r in results:
        table.add_row(
            r["case"], str(r["status"]), str(r["sent_before_answer_mib"]),
            str(r["rss_before_mib"]), str(r["peak_rss_mib"]), str(r["growth_mib"]),
            str(r["growth_to_limit"]),
        )  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
