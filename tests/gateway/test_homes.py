"""`ecm homes ...` provisions tags and fobs; `ecm tag verify` checks a tap by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text

from core.settings import Settings
from ecm.cli import cli
from gateway.evidence import sun
from gateway.evidence.keys import KeyRing
from gateway.homes import (
    HomeDeviceError,
    HomeDevicesDocument,
    import_devices,
    new_fob,
    new_tag,
    repository,
    rotate_master_key,
    store_tag,
    tag_record,
)
from tests.support.devices import TestDevice
from tests.support.paths import ROOT

ZERO = "00" * 16
AN12196 = ["--picc", "EF963FF7828658A599F3041510671E88", "--mac", "94EED9EE65337086"]


def test_tag_verify_prints_uid_and_counter() -> None:
    result = CliRunner().invoke(cli, ["tag", "verify", "--key", ZERO, *AN12196])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"uid": "04DE5F1EACC040", "counter": 61}


def test_tag_verify_with_separate_keys() -> None:
    meta, file = bytes(range(16)), bytes(range(16, 32))
    message = sun.emulate(meta, file, bytes.fromhex("04112233445566"), 1234)
    args = ["--meta-key", meta.hex(), "--file-key", file.hex()]
    args += ["--picc", message.picc_hex, "--mac", message.mac_hex]
    result = CliRunner().invoke(cli, ["tag", "verify", *args])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"uid": "04112233445566", "counter": 1234}


@pytest.mark.parametrize(
    "args, why",
    [
        (["--key", ZERO, "--picc", AN12196[1], "--mac", "94EED9EE65337087"], "bad_mac"),
        (["--key", "01" * 16, *AN12196], "bad_"),
        (["--key", ZERO, "--picc", "EF96", "--mac", AN12196[3]], "bad_length"),
        (["--key", "not hex", *AN12196], "bad_hex"),
        (AN12196, "give --key"),
    ],
)
def test_tag_verify_says_why_and_exits_non_zero(args: list[str], why: str) -> None:
    result = CliRunner().invoke(cli, ["tag", "verify", *args])
    assert result.exit_code == 1
    assert why in json.loads(result.output)["error"]


def run_ecm(role_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecm", *args],
        env=role_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_provision_tag_prints_the_keys_once_and_stores_them_sealed(
    make_device: Callable[[], TestDevice], role_env: dict[str, str], engine: Engine
) -> None:
    device = make_device()
    result = run_ecm(role_env, "homes", "provision-tag", "--service-user", device.service_user_id)
    assert result.returncode == 0, result.stderr
    sheet = json.loads(result.stdout)
    assert sheet["service_user_id"] == device.service_user_id
    with engine.connect() as conn:
        row = conn.execute(
            text("select * from home_tag where service_user_id = :s"),
            {"s": device.service_user_id},
        ).one()
        home_tag_uid = conn.execute(
            text("select home_tag_uid from service_user where id = :s"),
            {"s": device.service_user_id},
        ).scalar()
    assert row.uid == sheet["uid"] == home_tag_uid
    stored = bytes(row.keys_ciphertext) + bytes(row.keys_wrapped_key)
    for key in (sheet["meta_read_key"], sheet["file_read_key"]):
        assert bytes.fromhex(key) not in stored
    # What was printed is what the tag is programmed with: its taps verify with those keys.
    tap = sun.emulate(
        bytes.fromhex(sheet["meta_read_key"]),
        bytes.fromhex(sheet["file_read_key"]),
        bytes.fromhex(sheet["uid"]),
        1,
    )
    checked = run_ecm(
        role_env,
        *["tag", "verify", "--meta-key", sheet["meta_read_key"]],
        *["--file-key", sheet["file_read_key"], "--picc", tap.picc_hex, "--mac", tap.mac_hex],
    )
    assert json.loads(checked.stdout) == {"uid": sheet["uid"], "counter": 1}


def test_provision_code_prints_an_otpauth_uri(
    make_device: Callable[[], TestDevice], role_env: dict[str, str]
) -> None:
    device = make_device()
    result = run_ecm(role_env, "homes", "provision-code", "--service-user", device.service_user_id)
    assert result.returncode == 0, result.stderr
    sheet = json.loads(result.stdout)
    assert sheet["digits"] == 8 and sheet["step_s"] == 30
    assert sheet["otpauth_uri"].startswith(f"otpauth://totp/ECM:{device.service_user_id}?")


def test_provisioning_an_unknown_service_user_fails(role_env: dict[str, str]) -> None:
    result = run_ecm(role_env, "homes", "provision-tag", "--service-user", "nobody-here")
    assert result.returncode != 0
    assert "not registered" in result.stderr


def test_import_a_programming_sheet(
    make_device: Callable[[], TestDevice],
    role_env: dict[str, str],
    tmp_path: Path,
    engine: Engine,
    settings: Settings,
) -> None:
    tag_home, fob_home = make_device(), make_device()
    sheet = HomeDevicesDocument(
        tags=[new_tag(tag_home.service_user_id)], fobs=[new_fob(fob_home.service_user_id)]
    )
    path = tmp_path / "sheet.json"
    path.write_text(sheet.model_dump_json())
    result = run_ecm(role_env, "homes", "import", str(path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"tags": 1, "fobs": 1}
    with engine.connect() as conn:
        [stored] = [
            t for t in repository.all_tags(conn) if t.service_user_id == tag_home.service_user_id
        ]
    keys = KeyRing(settings.master_key).open(stored.sealed, tag_record(stored.uid))
    assert keys.hex().upper() == sheet.tags[0].meta_read_key + sheet.tags[0].file_read_key


def test_rotating_the_master_key_rewraps_and_keeps_the_secrets(
    make_device: Callable[[], TestDevice], engine: Engine, settings: Settings
) -> None:
    device = make_device()
    old, new = KeyRing(settings.master_key), KeyRing("the next master key")
    tag = new_tag(device.service_user_id)
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            store_tag(conn, old, tag)
            before = {t.uid: t.sealed for t in repository.all_tags(conn)}
            counts = rotate_master_key(conn, old, new)
            after = {t.uid: t.sealed for t in repository.all_tags(conn)}
            again = rotate_master_key(conn, old, new)
        finally:
            # The suite's other tests share these rows under the test master key.
            transaction.rollback()
    assert counts.tags == len(before) >= 1
    assert again.tags == 0  # an interrupted rotation can be rerun
    assert after[tag.uid].ciphertext == before[tag.uid].ciphertext
    assert after[tag.uid].kek_id == new.kek_id
    keys = new.open(after[tag.uid], tag_record(tag.uid))
    assert keys.hex().upper() == tag.meta_read_key + tag.file_read_key


def test_import_refuses_an_unknown_service_user(engine: Engine, settings: Settings) -> None:
    sheet = HomeDevicesDocument(tags=[new_tag("nobody-at-all")])
    with pytest.raises(HomeDeviceError), engine.begin() as conn:
        import_devices(conn, KeyRing(settings.master_key), sheet)
