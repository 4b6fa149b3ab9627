"""`ecm sim generate | registry | run`, through the real `ecm` entry point."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from core.settings import Settings
from ecm import cli as ecm_cli
from ecm.cli import cli
from firmware_sim.world import World, generate_world
from gateway.homes import HomeDevicesDocument
from gateway.pki.identity import TlsIdentity
from gateway.registry import RegistryDocument, seed
from tests.support.ids import unique


def test_generate_writes_the_world_for_the_seed(tmp_path: Path) -> None:
    out = tmp_path / "world.json"
    result = CliRunner().invoke(
        cli,
        [
            "sim",
            "generate",
            "--out",
            str(out),
            "--seed",
            "4",
            "--providers",
            "2",
            "--carers",
            "5",
            "--service-users",
            "9",
            "--visits",
            "20",
            "--day",
            "2026-03-03",
        ],
    )
    assert result.exit_code == 0, result.output
    world = World.load(out)
    assert world == generate_world(
        4, providers=2, carers=5, service_users=9, visits=20, day=date(2026, 3, 3)
    )


def test_generate_refuses_more_providers_than_carers(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "sim",
            "generate",
            "--out",
            str(tmp_path / "w.json"),
            "--providers",
            "5",
            "--carers",
            "3",
            "--day",
            "2026-03-03",
        ],
    )
    assert result.exit_code != 0
    assert not (tmp_path / "w.json").exists()


def test_registry_prints_the_public_document(tmp_path: Path) -> None:
    world = generate_world(
        4, providers=2, carers=3, service_users=4, visits=6, day=date(2026, 3, 3)
    )
    world.save(tmp_path / "world.json")

    printed = CliRunner().invoke(cli, ["sim", "registry", str(tmp_path / "world.json")])
    assert printed.exit_code == 0, printed.output
    document = RegistryDocument.model_validate_json(printed.output)
    assert document == world.registry_document()
    assert "private_key" not in printed.output

    written = CliRunner().invoke(
        cli, ["sim", "registry", str(tmp_path / "world.json"), "--out", str(tmp_path / "r.json")]
    )
    assert written.exit_code == 0, written.output
    assert json.loads((tmp_path / "r.json").read_text()) == json.loads(printed.output)


def test_home_devices_prints_the_programming_sheet(tmp_path: Path) -> None:
    world = generate_world(
        4, providers=2, carers=3, service_users=8, visits=6, day=date(2026, 3, 3)
    )
    world.save(tmp_path / "world.json")

    printed = CliRunner().invoke(cli, ["sim", "home-devices", str(tmp_path / "world.json")])
    assert printed.exit_code == 0, printed.output
    sheet = HomeDevicesDocument.model_validate_json(printed.output)
    assert sheet == world.home_devices_document()
    assert {t.service_user_id for t in sheet.tags} == {
        su.id for su in world.service_users if su.home_device == "tag"
    }


@pytest.mark.integration
@pytest.mark.usefixtures("ingest_worker")
def test_run_publishes_the_morning(
    settings: Settings,
    engine: Engine,
    provision: Callable[[list[str]], dict[str, TlsIdentity]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = generate_world(
        9,
        providers=1,
        carers=2,
        service_users=3,
        visits=5,
        day=date(2026, 3, 3),
        id_prefix=unique("R") + "-",
    )
    world.save(tmp_path / "world.json")
    monkeypatch.setattr(ecm_cli, "get_settings", lambda: settings)
    unprovisioned = CliRunner().invoke(cli, ["sim", "run", str(tmp_path / "world.json")])
    assert unprovisioned.exit_code != 0
    assert "ecm devices provision --local" in unprovisioned.output
    document = world.registry_document()
    with engine.begin() as conn:
        seed(conn, document)
    provision([device.id for device in document.devices])

    result = CliRunner().invoke(
        cli,
        [
            "sim",
            "run",
            str(tmp_path / "world.json"),
            "--tampered",
            "2",
            "--seed",
            "1",
            "--dead-phone-share",
            "0",
            "--show-feedback",
        ],
    )
    assert result.exit_code == 0, result.output
    # Every handset event receipted, and what its carer was shown printed per event.
    assert "still wait for their receipt" not in result.output
    assert "What the carers were shown (receipts)" in result.output
    shown = re.findall(r"^[0-9a-f-]{36}  (.+)$", result.output, flags=re.M)
    carer_visits = sum(v.carers_required for v in world.visits)
    assert "Simulated morning" in result.output
    table = {
        line.strip("│ ").rsplit("│", 1)[0].strip(): line.strip("│ ").rsplit("│", 1)[-1].strip()
        for line in result.output.splitlines()
        if line.count("│") == 3
    }
    assert table["events sent"] == str(2 * carer_visits)
    assert table["tampered sent"] == "2"
    assert table["acknowledged"] == str(2 * carer_visits + 2)
    assert table["carer-visits expected open"] == "0"
    # One line per handset event (the forged ones get no receipt). This world's homes have
    # no fobs registered, so each typed code is refused, in the carer's words.
    assert len(shown) == 2 * carer_visits
    assert set(shown) <= {"visit counted", "code not accepted: type the code on the fob again"}


def test_run_refuses_an_unknown_anomaly(tmp_path: Path) -> None:
    world = generate_world(
        9, providers=1, carers=2, service_users=3, visits=5, day=date(2026, 3, 3)
    )
    world.save(tmp_path / "world.json")
    result = CliRunner().invoke(
        cli, ["sim", "run", str(tmp_path / "world.json"), "--anomaly", "teleport"]
    )
    assert result.exit_code == 2
    assert "ghost_visit" in result.output  # the choices are listed


@pytest.mark.integration
def test_run_plays_the_anomalies_asked_for(
    settings: Settings,
    engine: Engine,
    provision: Callable[[list[str]], dict[str, TlsIdentity]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = generate_world(
        9,
        providers=1,
        carers=2,
        service_users=3,
        visits=6,
        day=date(2026, 3, 3),
        id_prefix=unique("RA") + "-",
    )
    world.save(tmp_path / "world.json")
    monkeypatch.setattr(ecm_cli, "get_settings", lambda: settings)
    document = world.registry_document()
    with engine.begin() as conn:
        seed(conn, document)
    provision([device.id for device in document.devices])
    args = ["sim", "run", str(tmp_path / "world.json"), "--seed", "1", "--dead-phone-share", "0"]
    args += ["--anomaly", "ghost_visit", "--anomaly", "dead_phone"]
    args += ["--outbox", str(tmp_path / "outbox.sqlite")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Anomalies played" in result.output
    cells = [line.split("│") for line in result.output.splitlines() if line.count("│") == 7]
    played = [row[1].strip() for row in cells if row[1].strip()]  # not a wrapped line
    ghosts, dead = played.count("ghost_visit"), played.count("dead_phone")
    assert ghosts >= 1 and dead >= 1 and set(played) == {"ghost_visit", "dead_phone"}
    table = {
        line.strip("│ ").rsplit("│", 1)[0].strip(): line.strip("│ ").rsplit("│", 1)[-1].strip()
        for line in result.output.splitlines()
        if line.count("│") == 3
    }
    carer_visits = sum(v.carers_required for v in world.visits)
    assert table["events sent"] == str(2 * (carer_visits - ghosts) - dead)
    assert table["carer-visits expected open"] == str(dead)
