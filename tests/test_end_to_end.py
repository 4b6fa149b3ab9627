"""End to end on real servers: handset -> MQTT -> ingest -> event store -> `ecm api` process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.db import make_engine
from core.process import free_port
from core.settings import Settings
from firmware_sim.handset import Handset
from firmware_sim.publisher import Uplink
from firmware_sim.world import generate_world
from gateway.evidence.keys import KeyRing
from gateway.homes import import_devices
from gateway.pki.identity import TlsIdentity
from tests.api.api_support import TEST_PASSWORD, add_user
from tests.support.ids import unique
from tests.support.paths import ROOT
from tests.support.polling import wait_until

pytestmark = pytest.mark.usefixtures("ingest_worker")


@pytest.fixture(scope="module")
def api_url(role_env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ecm", "api", "--port", str(port)], env=role_env, cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout_s=60)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def auth(settings: Settings, api_url: str) -> dict[str, str]:
    """An administrator signed in to the running API over HTTP."""
    username = add_user(settings)
    response = httpx.post(
        f"{api_url}/auth/token", data={"username": username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


def test_a_simulated_visit_is_visible_through_the_api_as_complete(
    settings: Settings,
    api_url: str,
    provision: Callable[[list[str]], dict[str, TlsIdentity]],
    auth: dict[str, str],
) -> None:
    day = date(2026, 3, 2)
    world = generate_world(
        seed=7,
        providers=1,
        carers=1,
        service_users=1,
        visits=1,
        day=day,
        id_prefix=unique("E2E"),
    )
    seeded = httpx.post(
        f"{api_url}/registry/seed",
        content=world.registry_document().model_dump_json(),
        headers={"content-type": "application/json", **auth},
        timeout=10,
    )
    assert seeded.status_code == 200, seeded.text
    # The home's tag is programmed and its keys imported, sealed, as production does.
    engine = make_engine(settings, "test", pool_size=1)
    with engine.begin() as conn:
        import_devices(conn, KeyRing(settings.master_key), world.home_devices_document())
    engine.dispose()
    [visit] = world.visits
    [carer_id] = visit.carer_ids
    handset = Handset.for_carer(world, carer_id)
    check_in = handset.check_in(visit, visit.planned_start + timedelta(minutes=2))
    check_out = handset.check_out(
        visit, visit.planned_start + timedelta(minutes=visit.planned_minutes + 1)
    )

    identities = provision([handset.device_id])
    with Uplink(
        settings.mqtt_host, settings.mqtt_port, device_identity=identities.__getitem__
    ) as uplink:
        uplink.publish(check_in.topic, check_in.token)
        uplink.publish(check_out.topic, check_out.token)
        assert uplink.flush(timeout=10)

    def complete_visits() -> list[dict[str, Any]]:
        response = httpx.get(
            f"{api_url}/providers/{visit.provider_id}/visits",
            params={"date": day.isoformat()},
            timeout=10,
            headers=auth,
        )
        assert response.status_code == 200, response.text
        return [v for v in response.json()["items"] if v["check_out"] is not None]

    [shown] = wait_until(complete_visits)
    [stay] = shown["carers"]
    assert stay["carer_id"] == carer_id
    assert shown["service_user_id"] == visit.service_user_id
    assert stay["check_in_event_id"] == str(check_in.event_id)
    assert stay["check_out_event_id"] == str(check_out.event_id)
    assert shown["minutes"] == visit.planned_minutes - 1
    assert shown["verification"] == "tag"
    engine = make_engine(settings, "test", pool_size=1)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select evidence_level, tag_counter from device_event "
                "where service_user_id = :su order by tag_counter"
            ),
            {"su": visit.service_user_id},
        ).all()
    engine.dispose()
    [(level_in, counter_in), (level_out, counter_out)] = [tuple(row) for row in rows]
    assert (level_in, level_out) == ("tag", "tag")
    assert counter_out == counter_in + 1


def test_the_demo_runs_a_care_morning_and_prints_its_summary() -> None:
    state_dir = ROOT / ".state" / f"demo-test-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECM_")}
    env.update(ECM_STATE_DIR=str(state_dir), COLUMNS="160")
    started = time.monotonic()
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "ecm",
                "demo",
                "--no-hold",
                "--visits",
                "40",
                "--api-port",
                str(free_port()),
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 180
    rows = {
        line.split("│")[1].strip(): (line.split("│")[2].strip(), line.split("│")[3].strip())
        for line in result.stdout.splitlines()
        if line.count("│") >= 4
    }
    count = {name: int(value) for name, (value, _) in rows.items() if value.isdigit()}
    assert count["events lost"] == 0
    # Every event a handset or bridge signed has its receipt (protocol v1.1); the forged ones
    # are not the handsets' own, so none is counted.
    assert count["events receipted"] == int(rows["events sent"][0]) - int(
        rows["events sent"][1].split(" signed by handsets, ")[1].split(" forged")[0]
    )
    # What the carers saw: most visits counted, the refused ones with their reason in words.
    assert 0 < count["carers shown: visit counted"] <= count["events receipted"]
    # The forged ones, and the anomalies ingest refuses (clock set back, cloned tag).
    reasons = dict(
        part.split(": ") for part in rows["events quarantined"][1].split(", ") if ": " in part
    )
    assert reasons.pop("bad_signature") == "3"
    assert set(reasons) <= {"clock_skew", "tag_counter_replayed", "tag_counter_out_of_order"}
    assert int(reasons["clock_skew"]) >= 2
    assert count["events stored as evidence"] == (
        count["events acknowledged by broker"] - count["events quarantined"]
    )
    assert count["events stored as evidence"] >= 40  # every planned visit checked in at least
    for visits in ("carer visits complete (API)", "carer visits open (API)"):
        expected = rows[visits][1].split()[1]
        assert count[visits] == int(expected), rows[visits]
    assert "API: http://127.0.0.1:" in result.stdout
    # Live alerts on the simulated clock: at least one late and one missed visit.
    assert "alert raised: late" in result.stdout
    assert "alert raised: missed" in result.stdout
    # Escalations to the council are shown and counted apart from the alerts raised.
    alerts = re.search(r"alerts: (\d+) raised, (\d+) cleared .*, (\d+) escalated", result.stdout)
    assert alerts, result.stdout
    assert int(alerts[1]) == result.stdout.count(" alert raised: ")
    assert int(alerts[3]) == result.stdout.count(" alert escalated: ")
    # Anomalies played are listed with what detected them.
    ghosts = [line for line in result.stdout.splitlines() if line.startswith("│ ghost_visit")]
    assert ghosts and all("visit missed" in line for line in ghosts)
    assert "handset_shared" in result.stdout
    assert "quarantined clock_skew" in result.stdout
    # A few visits called in from the homes' landlines, through the signed webhook and the
    # providers' bridge devices, stored as landline evidence; forged webhooks refused.
    assert "landline" in rows["events stored as evidence"][1]
    assert "by the telephony bridges (landline calls)" in rows["events sent"][1]
    assert count["calls placed"] >= 2 and count["calls placed"] % 2 == 0
    assert count["events signed by the bridges, stored"] == count["calls placed"]
    assert count["visits verified by landline"] >= 1
    assert rows["forged webhooks refused"][0] == "3 of 3"
    assert rows["a call's last request sent again"][1] == "same answer, nothing recorded twice"
    # The carers' day table, served by the API: every carer who worked, with the pay check.
    assert "Carers' days" in result.stdout and " short" in result.stdout
    # The KPI table, one row per provider.
    assert "KPIs per provider" in result.stdout
    kpi_rows = [line for line in result.stdout.splitlines() if line.count("│") == 8]
    assert {line.split("│")[1].strip() for line in kpi_rows} >= {"P001", "P002", "P003", "P004"}
