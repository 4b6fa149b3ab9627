"""deploy/registry.example.json is a valid registry document, shown verbatim in docs/registry.md."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import click
import psycopg
import pytest

from api.auth.roles import Role
from core.migrate import upgrade
from core.process import free_port
from core.settings import Settings
from ecm.cli import cli
from gateway.protocol.example import TEST_PRIVATE_KEY_D, worked_example
from gateway.registry import RegistryDocument
from gateway.registry.schemas import Carer, Device, Lot, Provider, ServiceUser
from tests.api.api_support import add_user
from tests.support.ids import unique
from tests.support.polling import wait_until
from tests.support.servers import starts_servers

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "registry.example.json"
DOC = ROOT / "docs" / "registry.md"


def load_example() -> RegistryDocument:
    return RegistryDocument.model_validate(json.loads(EXAMPLE.read_text()))


def test_example_validates() -> None:
    document = load_example()
    assert document.providers and document.carers and document.devices and document.service_users


def test_example_references_resolve_within_the_file() -> None:
    document = load_example()
    providers = {p.id for p in document.providers}
    owners = [(c.id, c.provider_id) for c in document.carers]
    owners += [(d.id, d.provider_id) for d in document.devices]
    for record_id, provider_id in owners:
        assert provider_id in providers, record_id
    tags = [s.home_tag_uid for s in document.service_users if s.home_tag_uid]
    assert len(tags) == len(set(tags))


def test_example_never_registers_the_public_test_key() -> None:
    test_x = worked_example()["private_key_jwk"]["x"]
    assert TEST_PRIVATE_KEY_D not in EXAMPLE.read_text()
    assert all(device.public_key != test_x for device in load_example().devices)


def test_doc_shows_the_example_file() -> None:
    blocks = re.findall(r"^```json\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)
    assert blocks[0] == EXAMPLE.read_text()


def test_doc_documents_every_record_field() -> None:
    doc = DOC.read_text()
    for model in (Provider, Carer, Device, ServiceUser, Lot):
        for field in model.model_fields:
            assert f"| `{field}` |" in doc, f"{model.__name__}.{field}"
    for key in RegistryDocument.model_fields:
        assert f"| `{key}` |" in doc, key


# The examples, run as written --------------------------------------------------------------------

API_ADDRESS = "http://127.0.0.1:8000"


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def documented_counts() -> dict[str, int]:
    [answer] = [b for b in blocks("text") if b.startswith('{"councils"')]
    return dict(json.loads(answer))


@pytest.fixture
def scratch(settings: Settings) -> Iterator[Settings]:
    """A database of its own: the example's ids are fixed, so they must not meet other tests'."""
    name = unique("ecm_registry_doc_")
    admin_url = settings.database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    scratch = settings.model_copy(update={"database_url": admin_url.rsplit("/", 1)[0] + "/" + name})
    upgrade(scratch)
    yield scratch
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'drop database "{name}" with (force)')


def bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_line_example_runs_as_written(
    scratch: Settings, role_env: dict[str, str]
) -> None:
    [command] = [b for b in blocks("sh") if b.startswith(".venv/bin/ecm registry seed")]
    env = {**role_env, "ECM_DATABASE_URL": scratch.database_url}
    done = bash(command, env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == documented_counts()
    # Seeding is idempotent: the same counts again.
    assert json.loads(bash(command, env).stdout) == documented_counts()


@pytest.fixture
@starts_servers
def api_process(scratch: Settings, role_env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ecm", "api", "--host", "127.0.0.1", "--port", str(port)],
        env={**role_env, "ECM_DATABASE_URL": scratch.database_url, "ECM_API_METRICS_PORT": "0"},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    try:
        wait_until(healthy, timeout_s=60, interval_s=0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_api_example_runs_as_written(
    scratch: Settings, role_env: dict[str, str], api_process: str
) -> None:
    [script] = [b for b in blocks("sh") if "/registry/seed" in b and "curl" in b]
    assert API_ADDRESS in script
    # Only the address changes: the test's API listens on a free port.
    script = script.replace(API_ADDRESS, api_process)
    admin = add_user(scratch, Role.ADMINISTRATOR, password="an administrator's password")
    env = {**role_env, "ECM_ADMIN": admin, "ECM_ADMIN_PASSWORD": "an administrator's password"}
    done = bash(script, env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == documented_counts()
    # What the document says about the others: 401 without a token, 403 for other roles.
    without = bash(
        script.split("\n", 3)[-1].replace('-H "Authorization: Bearer $TOKEN" \\\n', ""), env
    )
    assert '"not_authenticated"' in without.stdout


def test_the_compose_example_names_a_real_command() -> None:
    [line] = [b for b in blocks("sh") if b.startswith("docker compose")]
    arguments = shlex.split(line)
    assert arguments[:6] == ["docker", "compose", "--env-file", "deploy/compose.env", "run", "--rm"]
    service, *command = arguments[6:]
    assert service == "ecm"
    assert command[:2] == ["registry", "seed"]
    assert "- ./deploy:/deploy:ro" in (ROOT / "docker-compose.yml").read_text()
    assert (ROOT / command[2].replace("/deploy/", "deploy/")).exists()
    with click.Context(cli) as ctx:
        group = cli.get_command(ctx, "registry")
        assert isinstance(group, click.Group) and group.get_command(ctx, "seed") is not None


def test_the_key_pair_example_makes_a_key_the_registry_takes() -> None:
    [snippet] = blocks("python")
    done = subprocess.run(
        [sys.executable, "-c", snippet], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip().removeprefix("public_key: ")
    assert len(key) == 43
    Device(id="D0099", provider_id="P0001", public_key=key)
