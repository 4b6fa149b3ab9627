"""The compose deployment, checked statically (no Docker engine here): the broker configuration
is the generator's, every ecm command is real, every ECM_* variable is a setting."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import pytest

from core.settings import Settings
from ecm.cli import ROLE_COMMANDS, cli
from gateway.broker import BrokerConfig, BrokerTls, render_mosquitto_conf

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / "deploy" / "compose.env.example"
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
ECM_VARIABLE = re.compile(r"\bECM_[A-Z0-9_]+\b")

try:
    import yaml
except ImportError:  # PyYAML arrives with uvicorn[standard]; the text checks below run anyway.
    yaml = None


def render_script() -> ModuleType:
    path = ROOT / "deploy" / "render_mosquitto_conf.py"
    spec = importlib.util.spec_from_file_location("render_mosquitto_conf", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def is_ecm_command(name: str) -> bool:
    # Role commands are only named here: their modules belong to other packages and are not
    # imported (ecm.cli imports them lazily, when invoked).
    if name in ROLE_COMMANDS:
        return True
    with click.Context(cli) as ctx:
        return cli.get_command(ctx, name) is not None


def compose() -> dict[str, Any]:
    if yaml is None:
        pytest.skip("PyYAML is not installed")
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def ecm_services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in document["services"].items() if "build" in s}


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


# --- the broker configuration ---------------------------------------------------------------


def test_mosquitto_conf_is_the_generators_output() -> None:
    expected = render_mosquitto_conf(
        BrokerConfig(
            port=8883,
            bind_address="0.0.0.0",
            persistence_dir=Path("/state/mqtt/data"),
            log_file=None,
            tls=BrokerTls(
                ca_file=Path("/state/pki/ca.pem"),
                cert_file=Path("/state/pki/server.pem"),
                key_file=Path("/state/pki/server.key"),
                crl_file=Path("/state/pki/crl.pem"),
            ),
            dynsec_plugin=Path("/usr/lib/mosquitto_dynamic_security.so"),
            dynsec_file=Path("/state/mqtt/dynamic-security.json"),
        )
    )
    assert MOSQUITTO_CONF.read_text() == expected, (
        "deploy/mosquitto/mosquitto.conf is stale: run .venv/bin/python "
        "deploy/render_mosquitto_conf.py"
    )


def test_render_script_writes_the_same_config() -> None:
    assert render_script().render() == MOSQUITTO_CONF.read_text()


def test_the_compose_broker_requires_client_certificates_and_has_no_plain_listener() -> None:
    conf = MOSQUITTO_CONF.read_text()
    assert re.findall(r"^listener .*$", conf, flags=re.M) == ["listener 8883 0.0.0.0"]
    for line in (
        "allow_anonymous false",
        "require_certificate true",
        "use_identity_as_username true",
        "crlfile /state/pki/crl.pem",
    ):
        assert line in conf.splitlines()


# --- docker-compose.yml ---------------------------------------------------------------------


def test_every_compose_command_line_names_an_ecm_command() -> None:
    # Text-level, so it runs without PyYAML: every `command:` in the file is an ecm service's.
    commands = re.findall(r"^\s*command:\s*(.+)$", COMPOSE.read_text(), flags=re.M)
    assert commands
    for raw in commands:
        parts = json.loads(raw) if raw.startswith("[") else shlex.split(raw)
        assert is_ecm_command(parts[0]), raw


def test_compose_parses_with_the_expected_services() -> None:
    services = compose()["services"]
    assert {"timescaledb", "mosquitto", "migrate", "api"} <= set(services)
    assert [name for name in services if name.startswith("ingest")]
    assert services["timescaledb"]["image"] == "timescale/timescaledb:latest-pg16"
    assert services["mosquitto"]["image"] == "eclipse-mosquitto:2"


def test_ecm_services_run_real_ecm_commands() -> None:
    services = ecm_services(compose())
    roles = {name: command_of(s) for name, s in services.items() if "command" in s}
    assert roles["migrate"] == ["migrate"]
    assert roles["api"][:1] == ["api"] and "0.0.0.0" in roles["api"]
    assert any(name.startswith("ingest") and cmd[:1] == ["ingest"] for name, cmd in roles.items())
    for name, command in roles.items():
        assert is_ecm_command(command[0]), f"{name}: ecm {command[0]} is not a command"


def test_start_up_order() -> None:
    services = compose()["services"]
    healthy, done = "service_healthy", "service_completed_successfully"
    assert services["migrate"]["depends_on"]["timescaledb"]["condition"] == healthy
    assert services["api"]["depends_on"]["migrate"]["condition"] == done
    for name, service in services.items():
        if name.startswith("ingest"):
            assert service["depends_on"]["migrate"]["condition"] == done
            assert "mosquitto" in service["depends_on"]
    assert "pg_isready" in services["timescaledb"]["healthcheck"]["test"]
    assert services["migrate"]["restart"] == "no"


def test_ingest_workers_scale_with_stable_distinct_hostnames() -> None:
    services = compose()["services"]
    assert all("container_name" not in s for s in services.values())
    workers = [s for name, s in services.items() if name.startswith("ingest")]
    hostnames = [s["hostname"] for s in workers]
    assert len(workers) >= 2 and len(set(hostnames)) == len(hostnames)


def test_mosquitto_uses_the_generated_config() -> None:
    volumes = compose()["services"]["mosquitto"]["volumes"]
    assert "./deploy/mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in volumes


def test_the_pki_is_created_before_the_broker_and_shared_with_every_role() -> None:
    services = compose()["services"]
    assert command_of(services["pki-init"]) == ["pki", "init"]
    done = "service_completed_successfully"
    assert services["mosquitto"]["depends_on"]["pki-init"]["condition"] == done
    assert "ecm-state:/state" in services["mosquitto"]["volumes"]
    for name, service in ecm_services(compose()).items():
        assert "ecm-state:/var/lib/ecm" in service["volumes"], name
    assert services["mosquitto"]["ports"] == ["${MQTT_BIND:-0.0.0.0}:8883:8883"]


def test_master_key_comes_from_the_environment() -> None:
    for name, service in ecm_services(compose()).items():
        environment = service["environment"]
        assert environment["ECM_ENV"] == "prod", name
        assert re.fullmatch(r"\$\{ECM_MASTER_KEY(:\?[^}]*)?\}", environment["ECM_MASTER_KEY"]), name
    assert re.search(r"^ECM_MASTER_KEY=$", ENV_EXAMPLE.read_text(), flags=re.M)


@pytest.mark.parametrize(
    "path",
    [COMPOSE, DOCKERFILE, ENV_EXAMPLE, ROOT / "docs" / "deployment.md"],
    ids=lambda p: p.name,
)
def test_every_ecm_variable_is_a_setting(path: Path) -> None:
    used = set(ECM_VARIABLE.findall(path.read_text()))
    assert used
    fields = {f"ECM_{name.upper()}" for name in Settings.model_fields}
    assert used <= fields, f"not settings: {sorted(used - fields)}"


# --- the image ------------------------------------------------------------------------------


def test_dockerfile_runs_ecm_as_a_non_root_user() -> None:
    text = DOCKERFILE.read_text()
    assert re.findall(r"^FROM (\S+)", text, flags=re.M)[-1] == "python:3.11-slim"
    users = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert users and users[-1] not in {"root", "0"}
    assert re.search(r'^ENTRYPOINT \["ecm"\]$', text, flags=re.M)


def test_dockerignore_keeps_the_package_sources() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".state", ".git"} <= ignored
    needed = {"pyproject.toml", "README.md", "ecm", "gateway", "ingest", "api", "firmware-sim"}
    assert not needed & ignored


# --- the cluster profile (docs/scaling.md, "Across hosts") -----------------------------------


def cluster_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose()["services"].items() if "cluster" in s.get("profiles", [])}


def test_the_cluster_profile_has_three_nats_nodes_each_routed_to_the_other_two() -> None:
    services = cluster_services()
    nodes = {name: command_of(s) for name, s in services.items() if name.startswith("nats-")}
    assert sorted(nodes) == ["nats-1", "nats-2", "nats-3"]
    for name, command in nodes.items():
        assert command[:2] == ["cluster", "node"] and is_ecm_command(command[0])
        assert command[command.index("--name") + 1] == name
        routes = {command[i + 1] for i, part in enumerate(command) if part == "--route"}
        assert routes == {f"{peer}:6222" for peer in nodes if peer != name}
        assert services[name]["depends_on"]["pki-init"]["condition"] == (
            "service_completed_successfully"
        )
    published = [port for name in nodes for port in services[name]["ports"]]
    assert len(set(published)) == 3 and all(p.endswith(":8883") for p in published)


def test_the_cluster_profile_has_a_primary_and_a_synchronous_standby() -> None:
    services = cluster_services()
    primary, standby = services["pg-primary"], services["pg-standby"]
    assert primary["image"] == standby["image"] == "timescale/timescaledb:latest-pg16"
    assert "wal_level=replica" in primary["entrypoint"]
    init = (ROOT / "deploy" / "postgres" / "primary-init.sh").read_text()
    assert "synchronous_standby_names = 'ecm_standby'" in init
    assert "pg_create_physical_replication_slot('ecm_standby_slot'" in init
    script = (ROOT / "deploy" / "postgres" / "standby.sh").read_text()
    assert "pg_basebackup -h pg-primary" in script and "-S ecm_standby_slot" in script
    assert "application_name=ecm_standby" in script
    # Promoted, it must not wait for a standby of its own.
    assert "-c synchronous_standby_names=" in script.replace("\\\n", "")
    assert standby["depends_on"]["pg-primary"]["condition"] == "service_healthy"


def test_cluster_roles_find_the_writable_database_and_pull_from_jetstream() -> None:
    services = cluster_services()
    workers = [s for name, s in services.items() if name.startswith("cluster-ingest")]
    assert len(workers) >= 2
    for service in [*workers, services["cluster-migrate"], services["cluster-streams"]]:
        environment = service["environment"]
        url = environment["ECM_DATABASE_URL"]
        assert "@pg-primary:5432,pg-standby:5432/" in url
        assert url.endswith("target_session_attrs=read-write")
        assert environment["ECM_BROKER"] == "nats"
        assert environment["ECM_INGEST_TRANSPORT"] == "jetstream"
        assert environment["ECM_NATS_URLS"].count("tls://nats-") == 3
    assert command_of(services["cluster-streams"]) == ["cluster", "streams"]
    for worker in workers:
        assert worker["depends_on"]["cluster-streams"]["condition"] == (
            "service_completed_successfully"
        )
    # The single-box services are not in the profile: `up` without it starts what it did.
    assert not {"timescaledb", "mosquitto", "ingest-1"} & set(services)


def test_mosquitto_may_hold_many_connections() -> None:
    """One socket per handset: the default soft limit of 1,024 files would cap the fleet."""
    nofile = compose()["services"]["mosquitto"]["ulimits"]["nofile"]
    assert nofile["soft"] >= 65536 and nofile["hard"] >= nofile["soft"]
