"""Request bodies are limited while they arrive: a declared length over the limit is refused
before any of the body is read, a chunked body is cut off at the limit, and a 200 MB upload to a
real `ecm api` raises its memory by no more than the route's limit (plus a fixed margin)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from api.app import create_app
from api.auth.roles import Role
from api.limits import (
    DEFAULT_MAX_BYTES,
    INVOICE_MAX_BYTES,
    MIB,
    UPLOAD_LIMITS,
    BodyLimitMiddleware,
)
from core.process import free_port
from core.settings import Settings
from loadtests.upload_memory import memory_kib, reset_peak, stream_upload
from tests.api.api_support import add_user, client_address, client_for
from tests.api.tenants import make_tenant
from tests.support.paths import ROOT
from tests.support.polling import wait_until
from tests.support.servers import starts_servers

UPLOAD_BYTES = 200 * 1000 * 1000
# What a process may add besides the body it holds: the parser's and the allocator's slack.
MARGIN_BYTES = 48 * MIB


def test_every_upload_route_has_a_limit(settings: Settings) -> None:
    """The table names real routes; every other route with a body gets the default."""
    routes = {
        (method, route.path)
        for route in iter_route_contexts(create_app(settings).routes)
        for method in route.methods or ()
    }
    for limit in UPLOAD_LIMITS:
        assert (limit.method, limit.path) in routes, limit


def test_a_declared_length_over_the_limit_is_refused_before_reading(settings: Settings) -> None:
    with TestClient(create_app(settings), client=client_address()) as client:
        # Not signed in either: the size is refused first, and says nothing about the caller.
        answer = client.post(
            "/registry/seed",
            content=b"{}",
            headers={"content-length": str(30 * MIB), "content-type": "application/json"},
        )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "request_too_large"
    assert "x-request-id" in answer.headers


def test_a_chunked_body_is_cut_off_at_the_limit() -> None:
    """The middleware alone, driven chunk by chunk: the read that passes the limit fails, no
    chunk after it is asked for, and the answer is 413 whatever the app made of it."""
    chunk, chunks_offered = 256 * 1024, 8
    asked = 0
    read_by_app = 0

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal read_by_app
        try:
            body = await Request(scope, receive).body()
            read_by_app = len(body)
        except Exception:
            # What FastAPI does with a failed read of a JSON body: a 400.
            await JSONResponse({"error": "parse"}, status_code=400)(scope, receive, send)
            return
        await JSONResponse({"read": len(body)})(scope, receive, send)

    async def receive() -> Message:
        nonlocal asked
        asked += 1
        return {"type": "http.request", "body": b"x" * chunk, "more_body": asked < chunks_offered}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/auth/token", "headers": []}
    asyncio.run(BodyLimitMiddleware(app)(scope, receive, send))
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "request_too_large"
    assert asked == DEFAULT_MAX_BYTES // chunk + 1 < chunks_offered
    assert read_by_app == 0


# A real `ecm api` and a 200 MB upload -------------------------------------------------------------


@pytest.fixture
@starts_servers
def api_process(role_env: dict[str, str]) -> Iterator[tuple[str, int]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ecm", "api", "--host", "127.0.0.1", "--port", str(port)],
        env={**role_env, "ECM_API_METRICS_PORT": "0"},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    try:
        wait_until(healthy, timeout_s=60, interval_s=0.2)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def sign_in(url: str, username: str, password: str) -> str:
    form = urllib.parse.urlencode({"username": username, "password": password}).encode()
    with urllib.request.urlopen(f"{url}/auth/token", form, timeout=30) as answer:
        return str(json.load(answer)["access_token"])


@pytest.mark.parametrize("declare", [False, True], ids=["chunked", "content-length"])
def test_a_200_mb_upload_grows_memory_by_the_limit_at_most(
    settings: Settings,
    engine: Engine,
    api_process: tuple[str, int],
    declare: bool,
) -> None:
    url, pid = api_process
    tenant = make_tenant(engine)
    officer = add_user(settings, Role.COUNCIL_OFFICER, council_id=tenant.council_id)
    token = sign_in(url, officer, "correct horse battery staple")
    time.sleep(0.5)  # let the sign-in's allocations settle before measuring
    before = memory_kib(pid, "VmRSS")
    reset_peak(pid)
    status, sent = stream_upload(
        url,
        f"/councils/{tenant.council_id}/invoices",
        token,
        UPLOAD_BYTES,
        "text/csv",
        declare=declare,
    )
    peak = memory_kib(pid, "VmHWM")
    growth = (peak - before) * 1024
    assert status == 413
    assert sent < UPLOAD_BYTES, "the server read the whole upload"
    assert growth <= INVOICE_MAX_BYTES + MARGIN_BYTES, f"grew {growth / MIB:.0f} MiB"
    # And it still serves.
    assert urllib.request.urlopen(f"{url}/health", timeout=10).status == 200


def test_a_200_mb_portal_upload_is_streamed_and_cut_off(
    settings: Settings, engine: Engine, api_process: tuple[str, int]
) -> None:
    url, pid = api_process
    tenant = make_tenant(engine)
    officer = add_user(settings, Role.COUNCIL_OFFICER, council_id=tenant.council_id)
    token = sign_in(url, officer, "correct horse battery staple")
    time.sleep(0.5)
    before = memory_kib(pid, "VmRSS")
    reset_peak(pid)
    # A multipart body whose file part never ends within the limit.
    status, sent = stream_upload(
        url,
        f"/portal/councils/{tenant.council_id}/reconciliation/invoices",
        token,
        UPLOAD_BYTES,
        "multipart/form-data; boundary=ecmboundary",
        declare=False,
        prefix=b'--ecmboundary\r\nContent-Disposition: form-data; name="file"; '
        b'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n',
    )
    growth = (memory_kib(pid, "VmHWM") - before) * 1024
    assert status == 413
    assert sent < UPLOAD_BYTES
    assert growth <= INVOICE_MAX_BYTES + MARGIN_BYTES, f"grew {growth / MIB:.0f} MiB"


# Row limits of the imports -------------------------------------------------------------------


def test_an_invoice_over_the_row_limit_is_refused(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciliation import runs

    tenant = make_tenant(engine)
    monkeypatch.setattr(runs, "MAX_INVOICE_ROWS", 2)
    header = (
        "invoice_ref,line_no,provider_ref,service_user_ref,visit_date,start,end,"
        "minutes_claimed,carers,amount_claimed\n"
    )
    row = "INV-1,{n},P1,SU1,2026-03-02,08:00,08:30,30,1,12.06\n"
    for client in client_for(settings, Role.COUNCIL_OFFICER, council_id=tenant.council_id):
        path = f"/councils/{tenant.council_id}/invoices"
        ok = client.post(path, content=header + row.format(n=1) + row.format(n=2))
        too_many = client.post(path, content=header + "".join(row.format(n=n) for n in range(3)))
    assert ok.status_code == 201, ok.text
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "invoice_invalid"
    assert "more than 2 rows" in too_many.json()["error"]["message"]


def test_a_schedule_over_the_row_limit_is_refused(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from visits import schedule

    tenant = make_tenant(engine)
    monkeypatch.setattr(schedule, "MAX_ROWS", 2)
    header = (
        "visit_ref,service_user_ref,provider_ref,planned_start,planned_minutes,"
        "carers_required,service_type\n"
    )
    rows = "".join(
        f"V{n},{tenant.device.service_user_id},{tenant.provider_id},"
        f"2026-11-22T08:0{n}:00+00:00,30,1,personal_care\n"
        for n in range(3)
    )
    for client in client_for(settings, Role.COUNCIL_OFFICER, council_id=tenant.council_id):
        answer = client.post("/schedules", content=header + rows)
    assert answer.status_code == 422
    assert "more than 2 rows" in answer.json()["error"]["message"]


def test_a_requests_file_over_the_row_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from commissioning import formats

    monkeypatch.setattr(formats, "MAX_ROWS", 2)
    header = ",".join(formats.REQUEST_COLUMNS) + "\n"
    row = ",".join("x" for _ in formats.REQUEST_COLUMNS) + "\n"
    with pytest.raises(formats.RequestsFileError, match="more than 2 rows"):
        formats.parse_requests(header + row * 3)


def test_registry_and_home_device_documents_have_row_limits() -> None:
    from pydantic import ValidationError

    from gateway.homes.schemas import MAX_DEVICES, HomeDevicesDocument
    from gateway.registry.schemas import MAX_RECORDS, RegistryDocument

    providers = [{"id": f"P{n}", "name": "x"} for n in range(MAX_RECORDS + 1)]
    with pytest.raises(ValidationError, match="at most 100000 items"):
        RegistryDocument.model_validate({"providers": providers})
    RegistryDocument.model_validate({"providers": providers[:MAX_RECORDS]})
    fobs = [{"service_user_id": "SU1", "secret": "00" * 20}] * (MAX_DEVICES + 1)
    with pytest.raises(ValidationError, match="at most 100000 items"):
        HomeDevicesDocument.model_validate({"fobs": fobs})
